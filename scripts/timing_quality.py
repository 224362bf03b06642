"""Timing quality on the GPU (issue 8): the harness's timer against `triton.testing.do_bench`, per shipped kernel.

Usage (on a CUDA machine with triton, from the repo root):
    python3 scripts/timing_quality.py [--tasks level1/gelu,level1/softmax] [--rounds 5] [--size default]
                                      [--seeds 3] [--out DIR]
For every built-in task with a shipped CUDA known-good kernel (`harness.task.known_good_kernel`),
on the same inputs and the same model (weights) at the task's size, it times the kernel call and
the eager reference in two ways:
- ours: `harness.worker.measure.time_calls`, the harness's own timed loop (an L2 flush of 256 MiB
  before each call, a device-wide sync before the end event, CUDA events, inputs rotated over
  the seeds), with the parameters `harness.judge.reference.timing_job("cuda", compile_=False)` gives
  (warm-up 10, 100 repeats); the median of the samples (`harness.judge.timing.stats`);
- do_bench: `triton.testing.do_bench(fn, return_mode="median")` on the same rotation of inputs
  (it zeroes its own 256 MiB buffer before each call to flush L2), with its warm-up and
  repetition windows scaled to the same number of calls as ours (at least triton's defaults).
Each of R rounds (--rounds, default 5) runs all four measurements, in the opposite order in odd
rounds, so neither method always runs first. Per task it reports our median, do_bench's median
(each the median over the rounds), their relative difference (ours - do_bench) / do_bench, the
speedup over eager by each method, and the run-to-run spread of our speedup over the rounds,
(max - min) / median. Issue 8's targets: |difference| <= 3 %, spread < 2 %.

The build comes from the content-addressed cache (KERNEL_EVOLVE_CACHE; built there if missing).
Trust: this script loads the built-in tasks and our own shipped kernels *in this process* (through
`harness.worker.main`'s own functions, so the model, weights and inputs are built exactly as the runner
builds them). That is acceptable only because both are ours: it measures the timer, it judges
nothing, and no candidate's code is ever loaded this way (`verify` runs every kernel sandboxed).

Prints one line per task as it goes, a markdown table last, and writes the figures and every
round's raw medians as JSON to --out (a directory: timing_quality.json in it, or a .json path;
default $OUT, else the current directory). Exits 2 without a CUDA device or without triton.
Needs torch, ninja, nvcc for a cold build, and triton (which ships with CUDA torch wheels).
"""
from __future__ import annotations

import argparse
import dataclasses
import gc
import itertools
import json
import math
import os
import platform
import statistics
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DIFF_TARGET_PCT = 3.0     # |our median - do_bench median| / do_bench median
SPREAD_TARGET_PCT = 2.0   # (max - min) / median of our speedup over the rounds
METHODS = ("ours", "do_bench")
WHATS = ("kernel", "eager")


# ---------------------------------------------------------------- the arithmetic (pure, no GPU)

def rel_diff_pct(ours: float, ref: float) -> float:
    """(ours - ref) / ref in percent; positive when our timer reads slower."""
    if not (math.isfinite(ours) and math.isfinite(ref)) or ref <= 0:
        return float("nan")
    return (ours - ref) / ref * 100.0


def spread_pct(xs: list[float]) -> float:
    """Run-to-run spread: (max - min) / median of the values, in percent (0 for a single value)."""
    xs = [float(x) for x in xs if math.isfinite(float(x))]
    if not xs:
        return float("nan")
    med = statistics.median(xs)
    return (max(xs) - min(xs)) / med * 100.0 if med > 0 else float("nan")


def summarize(rounds: list[dict[str, float]]) -> dict[str, float]:
    """One task's figures from its rounds; each round holds the medians (ms) `ours_kernel`, `ours_eager`,
    `do_bench_kernel`, `do_bench_eager`."""
    med = {k: statistics.median(r[k] for r in rounds) for k in (f"{m}_{w}" for m in METHODS for w in WHATS)}
    out: dict[str, float] = {f"{k}_ms": v for k, v in med.items()}
    out["kernel_diff_pct"] = rel_diff_pct(med["ours_kernel"], med["do_bench_kernel"])
    out["eager_diff_pct"] = rel_diff_pct(med["ours_eager"], med["do_bench_eager"])
    out["kernel_diff_us"] = (med["ours_kernel"] - med["do_bench_kernel"]) * 1000.0
    out["kernel_diff_worst_round_pct"] = max(
        (abs(rel_diff_pct(r["ours_kernel"], r["do_bench_kernel"])) for r in rounds), default=float("nan"))
    for m in METHODS:
        per_round = [r[f"{m}_eager"] / r[f"{m}_kernel"] for r in rounds if r[f"{m}_kernel"] > 0]
        out[f"speedup_{m}"] = statistics.median(per_round) if per_round else float("nan")
        out[f"speedup_spread_{m}_pct"] = spread_pct(per_round)
        out[f"kernel_spread_{m}_pct"] = spread_pct([r[f"{m}_kernel"] for r in rounds])
    out["speedup_diff_pct"] = rel_diff_pct(out["speedup_ours"], out["speedup_do_bench"])
    out["diff_ok"] = abs(out["kernel_diff_pct"]) <= DIFF_TARGET_PCT
    out["spread_ok"] = out["speedup_spread_ours_pct"] < SPREAD_TARGET_PCT
    return out


def round_order(r: int) -> list[tuple[str, str]]:
    """The four measurements of round r: ours first in even rounds, do_bench first in odd ones."""
    order = [(m, w) for m in METHODS for w in WHATS]
    return order if r % 2 == 0 else order[::-1]


def _f(x: object, spec: str = ".4f") -> str:
    return format(x, spec) if isinstance(x, (int, float)) and math.isfinite(float(x)) else "-"


def table(rows: list[dict]) -> str:
    lines = ["| task | kernel ms: ours | do_bench | diff | eager ms: ours | do_bench | diff "
             "| speedup: ours | do_bench | our speedup spread | targets (diff <=3 %, spread <2 %) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r.get("error"):
            lines.append(f"| {r['task']} | ERROR: {r['error'][:160]} |" + " |" * 9)
            continue
        ok = ("ok" if r["diff_ok"] else "DIFF") + " / " + ("ok" if r["spread_ok"] else "SPREAD")
        lines.append(
            f"| {r['task']} | {_f(r['ours_kernel_ms'])} | {_f(r['do_bench_kernel_ms'])} | "
            f"{_f(r['kernel_diff_pct'], '+.2f')} % | {_f(r['ours_eager_ms'])} | {_f(r['do_bench_eager_ms'])} | "
            f"{_f(r['eager_diff_pct'], '+.2f')} % | {_f(r['speedup_ours'], '.3f')} | "
            f"{_f(r['speedup_do_bench'], '.3f')} | {_f(r['speedup_spread_ours_pct'], '.2f')} % | {ok} |")
    good = [r for r in rows if not r.get("error")]
    if good:
        worst_diff = max(abs(r["kernel_diff_pct"]) for r in good)
        worst_spread = max(r["speedup_spread_ours_pct"] for r in good)
        lines.append("")
        lines.append(f"{len(good)} of {len(rows)} tasks measured; worst |kernel diff| {_f(worst_diff, '.2f')} % "
                     f"(target <= {DIFF_TARGET_PCT:g} %), worst speedup spread {_f(worst_spread, '.2f')} % "
                     f"(target < {SPREAD_TARGET_PCT:g} %); within both targets: "
                     f"{sum(1 for r in good if r['diff_ok'] and r['spread_ok'])} of {len(good)}")
    return "\n".join(lines)


def out_path(out: str) -> Path:
    p = Path(out)
    if p.suffix == ".json":
        p.parent.mkdir(parents=True, exist_ok=True)
        return p
    p.mkdir(parents=True, exist_ok=True)
    return p / "timing_quality.json"


# ---------------------------------------------------------------- the measurement (CUDA)

def _build_all(paths: dict[str, Path]) -> dict:
    """Every kernel through harness.build.cache (cached: instant; cold: in parallel, as the pipeline builds)."""
    from concurrent.futures import ThreadPoolExecutor

    from harness.build.cache import build

    with ThreadPoolExecutor(max_workers=min(8, max(1, len(paths)))) as pool:
        futs = {t: pool.submit(build, p.read_text(), backend="cuda") for t, p in paths.items()}
        return {t: f.result() for t, f in futs.items()}


def _setup(task_id: str, index: int, b, *, size: str, seeds: list[int], init_seed: int):
    """The task's model, inputs and kernel call, built by the worker's own functions (as a runner would)."""
    from harness.worker import main as W
    from harness.task import load_task

    task = load_task(task_id)
    mod = W.load_module(task.path, f"ke_tq_task{index}")
    W.apply_size(mod, size)
    from harness.worker import protocol as P

    job = P.Job(role="candidate", task_path=task.path, seeds=tuple(seeds), init_seed=init_seed, size=size,
                device="cuda", kernel=P.KernelSpec(format="A", module_name=b.module_name, so_path=b.so_path))
    model, call = W.load_candidate(job, mod, "cuda")  # the model (weights from init_seed) and model(*s, fn=ext.forward)
    sets = [W.to_device(inputs, "cuda") for cid, inputs in W.cases(mod, job) if cid.startswith("seed")]
    return model, call, (lambda s: model(*s)), sets


def _rel_error(a, b) -> float:
    from harness.worker.measure import flat

    num = den = 0.0
    for x, y in zip(flat(a), flat(b)):
        num += float((x.double() - y.double()).norm()) ** 2
        den += float(y.double().norm()) ** 2
    return math.sqrt(num / den) if den > 0 else math.sqrt(num)


def _estimate_ms(fn, sets) -> float:
    import torch

    fn(sets[0])
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for i in range(3):
        fn(sets[i % len(sets)])
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / 3


def _ours(fn, sets, job) -> float:
    from harness.worker.measure import time_calls
    from harness.judge.timing import stats

    samples, _ = time_calls(fn, sets, job, "cuda")
    return stats(samples).median_ms


def _do_bench(fn, sets, est_ms: float, warmup: int, repeats: int) -> float:
    from triton.testing import do_bench

    it = itertools.cycle(sets)
    # windows sized for as many calls as our loop makes (do_bench derives its counts from them)
    return float(do_bench(lambda: fn(next(it)), warmup=max(25.0, warmup * est_ms), rep=max(100.0, repeats * est_ms),
                          return_mode="median"))


def measure_task(task_id: str, index: int, b, args: argparse.Namespace) -> dict:
    import torch

    from harness.judge.reference import timing_job

    row: dict = {"task": task_id, "build": {"cached": b.cached, "path": b.path, "seconds": b.seconds,
                                            "so": b.so_path}}
    if not b.ok:
        raise RuntimeError(f"build failed: {b.error[:600]}")
    t0 = time.monotonic()
    seeds = list(range(1, args.seeds + 1))
    model, call, eager, sets = _setup(task_id, index, b, size=args.size, seeds=seeds, init_seed=1234)
    fns = {"kernel": call, "eager": eager}
    job = timing_job("cuda", compile_=False)
    warmup, repeats = job.warmup, job.repeats
    try:
        with torch.no_grad():
            row["rel_error_vs_eager"] = _rel_error(call(sets[0]), eager(sets[0]))  # a sanity check, not a verdict
            est = {w: _estimate_ms(fn, sets) for w, fn in fns.items()}
            row["setup_s"] = time.monotonic() - t0
            rounds = []
            for r in range(args.rounds):
                got = {}
                for m, w in round_order(r):
                    got[f"{m}_{w}"] = _ours(fns[w], sets, job) if m == "ours" else \
                        _do_bench(fns[w], sets, est[w], warmup, repeats)
                rounds.append(got)
        row.update(summarize(rounds))
        row["rounds"] = rounds
        row["estimate_ms"] = est
        row["inputs"] = [[list(x.shape), str(x.dtype).replace("torch.", "")] for x in sets[0]
                         if isinstance(x, torch.Tensor)]
        row["seconds"] = time.monotonic() - t0
        return row
    finally:
        del model, call, eager, sets, fns
        for k in [k for k in sys.modules if k == f"ke_tq_task{index}"]:
            del sys.modules[k]
        gc.collect()
        torch.cuda.empty_cache()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", default="", help="comma-separated built-in task ids (default: every task with a "
                                                "shipped CUDA kernel)")
    ap.add_argument("--rounds", type=int, default=5, help="rounds of all four measurements (default 5)")
    ap.add_argument("--size", default="default", choices=["default", "small"], help="task size (default: full)")
    ap.add_argument("--seeds", type=int, default=3, help="input sets rotated over the calls (verify's default: 3)")
    ap.add_argument("--out", default=os.environ.get("OUT", "."), help="directory (or .json path) for the JSON")
    args = ap.parse_args(argv)
    if args.rounds < 1 or args.seeds < 1:
        ap.error("--rounds and --seeds must be at least 1")

    import torch

    if not torch.cuda.is_available():
        print("timing_quality: needs a CUDA device (torch.cuda.is_available() is False here); "
              "run it on the GPU machine", file=sys.stderr)
        return 2
    try:
        import triton
        import triton.testing  # noqa: F401
    except ImportError as e:
        print(f"timing_quality: needs triton for triton.testing.do_bench ({e})", file=sys.stderr)
        return 2

    from harness.judge.reference import timing_job
    from harness.task import builtin_tasks, known_good_kernel, load_task

    torch.backends.cuda.matmul.allow_tf32 = False  # as the runner sets them (harness/worker/main.py main)
    torch.backends.cudnn.allow_tf32 = False
    names = [t.strip() for t in args.tasks.split(",") if t.strip()] or builtin_tasks()
    paths: dict[str, Path] = {}
    rows: list[dict] = []
    for t in names:
        try:
            p = known_good_kernel(load_task(t), "cuda")
        except Exception as e:  # noqa: BLE001 - a bad task id is one error row
            rows.append({"task": t, "error": f"{type(e).__name__}: {e}"})
            continue
        if p is not None:
            paths[t] = p
        elif args.tasks:
            rows.append({"task": t, "error": "no shipped CUDA kernel for this task"})
    t_start = time.monotonic()
    builds = _build_all(paths)
    print(f"builds: {len(builds)} in {time.monotonic() - t_start:.1f} s "
          f"({sum(1 for b in builds.values() if b.cached)} cached)", flush=True)
    print(f"device {torch.cuda.get_device_name()}, torch {torch.__version__}, triton {triton.__version__}, "
          f"{args.rounds} rounds, size {args.size}, {args.seeds} input set(s)", flush=True)
    for i, (t, b) in enumerate(builds.items()):
        try:
            row = measure_task(t, i, b, args)
            print(f"{t:26s} kernel ours {row['ours_kernel_ms']:.4f} ms, do_bench {row['do_bench_kernel_ms']:.4f} ms "
                  f"({row['kernel_diff_pct']:+.2f} %); eager ({row['eager_diff_pct']:+.2f} %); speedup "
                  f"{row['speedup_ours']:.3f} vs {row['speedup_do_bench']:.3f}, spread "
                  f"{row['speedup_spread_ours_pct']:.2f} %; rel err {row['rel_error_vs_eager']:.1e}; "
                  f"{row['seconds']:.1f} s", flush=True)
        except Exception as e:  # noqa: BLE001 - one task's failure is its row; the others still run
            row = {"task": t, "error": f"{type(e).__name__}: {e}"[:2000], "traceback": traceback.format_exc()[-3000:]}
            print(f"{t:26s} ERROR {row['error'][:300]}", flush=True)
            try:
                torch.cuda.synchronize()
            except Exception as e2:  # noqa: BLE001 - a sticky CUDA error: every later task would fail too
                print(f"  the CUDA context is broken ({type(e2).__name__}); later tasks will fail", flush=True)
        rows.append(row)
    order = {t: i for i, t in enumerate(names)}
    rows.sort(key=lambda r: order.get(r["task"], len(order)))
    report = {
        "what": "harness timer (harness.worker.measure.time_calls) vs triton.testing.do_bench, median, L2 flushed",
        "device": torch.cuda.get_device_name(), "torch": torch.__version__, "cuda": torch.version.cuda or "",
        "triton": triton.__version__, "python": platform.python_version(),
        "params": {"rounds": args.rounds, "size": args.size, "seeds": args.seeds,
                   "timing": dataclasses.asdict(timing_job("cuda", compile_=False)),
                   "targets": {"kernel_diff_pct": DIFF_TARGET_PCT, "speedup_spread_pct": SPREAD_TARGET_PCT}},
        "seconds": time.monotonic() - t_start, "rows": rows,
    }
    path = out_path(args.out)
    path.write_text(json.dumps(report, indent=1, default=str))
    print(f"\ntotal {report['seconds']:.0f} s; JSON: {path}\n")
    print(table(rows))
    return 0 if rows and all(not r.get("error") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
