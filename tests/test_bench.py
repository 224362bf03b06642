"""The harness throughput benchmark: its candidate mix, its arithmetic, and one real run of its command on the CPU."""
from __future__ import annotations

import json
import time
from pathlib import Path

from typer.testing import CliRunner

from harness.executors import bench
from pipeline.bench_cli import app
from harness.types import Check, Env, Timing, Stats, Verdict


def _verdict(status: str, seconds: dict[str, float], flags: tuple[str, ...] = (), compile_reason: str = "cached",
             wall_ms: float | None = None) -> Verdict:
    timing = None
    if wall_ms is not None:
        s = Stats(1.0, 0.1, 0.9, 1.2, 10)
        timing = Timing(kernel=s, eager=s, compiled=None, speedup_eager=1.0, speedup_compile=None,
                        method="perf_counter_ns", wall_ms=wall_ms)
    return Verdict(status=status, task_id="level1/relu", task_sha256="t", kernel_sha256="k", format="A",
                   checks=(Check("compile", "pass", compile_reason),), flags=flags,
                   env=Env(device="cpu", backend="cpu", torch_version="", cuda_version=""), timing=timing,
                   seconds=seconds)


def test_corpus_has_three_kinds_for_cpu() -> None:
    c = bench.corpus("cpu")
    assert all(c[k] for k in bench.CATEGORIES), {k: len(v) for k, v in c.items()}
    assert all(i.expect_status == ("verified",) and i.path.endswith(".cpp") for i in c["known_good"])
    assert all("verified" not in i.expect_status for i in c["failing"])
    assert all(not i.path.endswith(".cu") for i in c["adversarial"])
    assert all(Path(i.path).is_file() for k in bench.CATEGORIES for i in c[k])


def test_pick_takes_categories_in_turn_and_cycles() -> None:
    c = bench.corpus("cpu")
    items = bench.pick(c, 3 * len(c["failing"]) + 3)
    assert [i.category for i in items[:6]] == list(bench.DEFAULT_MIX) * 2
    failing = [i for i in items if i.category == "failing"]
    assert len(failing) == len(c["failing"]) + 1 and failing[-1] == c["failing"][0]
    only = bench.pick(c, 4, ["adversarial"])
    assert [i.category for i in only] == ["adversarial"] * 4


def test_percentile_interpolates() -> None:
    assert bench.percentile([], 50) is None
    assert bench.percentile([3.0], 95) == 3.0
    assert bench.percentile([4.0, 1.0, 2.0, 3.0], 50) == 2.5
    assert abs(bench.percentile([float(i) for i in range(1, 101)], 95) - 95.05) < 1e-9


def test_summary_counts_every_outcome() -> None:
    good = bench.BenchItem("known_good", "g.cpp", "level1/relu", "g.cpp", ("verified",))
    bad = bench.BenchItem("failing", "b.cpp", "level1/relu", "b.cpp", ("incorrect", "rejected"))
    adv = bench.BenchItem("adversarial", "a.cpp", "level1/relu", "a.cpp", ("incorrect", "verified"),
                          ("output_aliases_input",))
    results = [
        bench.Result(good, 0.0, 2.0, _verdict("verified", {"static": 0.1, "build": 1.0, "run": 0.5, "run.case": 0.3,
                                                           "run.queued": 0.2}, wall_ms=300)),
        bench.Result(bad, 0.0, 3.0, _verdict("incorrect", {"static": 0.1, "build": 2.0, "run": 0.7},
                                             compile_reason="built in 2.0 s")),
        bench.Result(adv, 0.0, 4.0, _verdict("verified", {"static": 0.3, "build": 0.0, "run": 0.9})),  # flag missing
        bench.Result(good, 1.0, 5.0, None, error="RayTaskError: worker died"),
    ]
    r = bench.summarise(results, wall_s=10.0, gpu_busy=None, gpu_source="", config={})
    assert r.candidates == 4 and r.per_hour == 4 / 10 * 3600 and r.verified_per_hour == 2 / 10 * 3600
    assert r.by_status == {"verified": 2, "incorrect": 1, "harness_error": 1}
    assert r.by_category["known_good"] == {"verified": 1, "harness_error": 1}
    assert r.builds == {"cold": 1, "cached": 2, "failed": 0}
    assert r.stages["build"] == {"n": 3, "p50_s": 1.0, "p95_s": bench.percentile([0.0, 1.0, 2.0], 95)}
    assert r.stages["reference"]["n"] == 0 and r.stages["timed_loop"]["p50_s"] == 0.3
    assert r.stages["latency"]["n"] == 4
    assert r.stages["run.queued"] == {"n": 1, "p50_s": 0.2, "p95_s": 0.2}
    # the total adds up the top-level stages only ("run.case" and "run.queued" are parts of "run")
    assert r.stages["total"]["n"] == 3 and r.stages["total"]["p50_s"] == 1.6
    assert sorted(m["candidate"] for m in r.mismatches) == ["a.cpp", "g.cpp"]


def test_bench_command_runs_a_real_mix_on_cpu(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    res = CliRunner().invoke(app, ["harness", "--candidates", "2", "--backend", "cpu", "--mix",
                                   "known_good,adversarial", "--no-compile-baseline", "--seeds", "2",
                                   "--timeout", "60", "--out", str(out)])
    assert res.exit_code == 0, res.output
    d = json.loads(out.read_text())
    assert d["candidates"] == 2 and sum(d["by_status"].values()) == 2
    assert d["by_category"]["known_good"] == {"verified": 1}
    assert "verified" not in d["by_category"]["adversarial"]
    assert d["mismatches"] == [] and d["gpu_busy"] is None
    assert d["stages"]["run"]["n"] == 2 and d["per_hour"] > 0
    assert "candidates in" in res.output and "n/a" in res.output


def test_bench_command_refuses_bad_input() -> None:
    res = CliRunner().invoke(app, ["harness", "--candidates", "2", "--backend", "cpu", "--mix", "bogus"])
    assert res.exit_code == 2 and "unknown corpus bogus" in res.output
    res = CliRunner().invoke(app, ["harness", "--backend", "tpu"])
    assert res.exit_code == 2 and "unknown backend" in res.output


def test_fresh_makes_every_candidate_a_new_source() -> None:
    from concurrent.futures import Future

    seen = []

    class Recorder:
        def submit(self, cand, **kw):
            seen.append(cand)
            f: Future = Future()
            f.set_result(_verdict("verified", {"build": 1.0}))
            return f

    items = bench.pick(bench.corpus("cpu"), 4, ["format_k"])
    bench.run_bench(items, Recorder(), verify_kw={}, sample_gpu=False, fresh=True)
    assert len({c.sha256 for c in seen}) == 4 and all(c.format == "K" for c in seen)
    seen.clear()
    bench.run_bench(items, Recorder(), verify_kw={}, sample_gpu=False)
    assert len({c.sha256 for c in seen}) == 2


def test_in_flight_bounds_the_candidates_submitted_and_unfinished() -> None:
    import threading
    from concurrent.futures import ThreadPoolExecutor

    busy, peak, lock = [0], [0], threading.Lock()
    pool = ThreadPoolExecutor(max_workers=8)

    def judge(cand):
        with lock:
            busy[0] += 1
            peak[0] = max(peak[0], busy[0])
        time.sleep(0.05)
        with lock:
            busy[0] -= 1
        return _verdict("verified", {"build": 0.0})

    class Pool:
        def submit(self, cand, **kw):
            return pool.submit(judge, cand)

    items = bench.pick(bench.corpus("cpu"), 8, ["format_k"])
    rep = bench.run_bench(items, Pool(), verify_kw={}, sample_gpu=False, in_flight=2)
    assert peak[0] == 2 and rep.candidates == 8
    peak[0] = 0
    bench.run_bench(items, Pool(), verify_kw={}, sample_gpu=False)
    assert peak[0] > 2  # without the bound the executor takes them all at once
    pool.shutdown()


def test_max_wall_counts_only_the_verdicts_that_arrived_in_time() -> None:
    from concurrent.futures import Future

    class HalfDone:  # every other candidate's verdict never arrives
        def __init__(self):
            self.futures: list[Future] = []

        def submit(self, cand, **kw):
            f: Future = Future()
            if len(self.futures) % 2 == 0:
                f.set_result(_verdict("verified", {"build": 0.0}))
            self.futures.append(f)
            return f

    ex = HalfDone()
    items = bench.pick(bench.corpus("cpu"), 6, ["format_k"])
    t0 = time.monotonic()
    rep = bench.run_bench(items, ex, verify_kw={}, sample_gpu=False, max_wall_s=1.0)
    assert time.monotonic() - t0 < 30
    assert rep.candidates == 3 and rep.by_status == {"verified": 3}
    assert rep.config["unfinished"] == 3 and rep.config["not_submitted"] == 0 and rep.config["max_wall_s"] == 1.0
    assert rep.wall_s >= 1.0 and abs(rep.per_hour - 3 / rep.wall_s * 3600) < 1e-6
    assert all(f.cancelled() for f in ex.futures[1::2])  # the late ones are cancelled, not left to run
