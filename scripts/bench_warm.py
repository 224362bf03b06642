"""Cold vs warm runners: wall time per candidate verify of one cached known-good kernel (issue 8).

Usage (from the repo root; the first verify builds the kernel and the reference, and is not counted):
    python3 scripts/bench_warm.py [--task level1/gelu] [--backend cpu] [-n 10] [--pool 2] [--json OUT]
Judges the same candidate n times in each of three ways:
- cold: every candidate starts a fresh sandboxed interpreter (harness.sandbox.runner, no pool);
- warm, settled: a `harness.sandbox.warm.WarmPool` of --pool sandboxes, full and ready before each
  candidate (candidates that arrive slower than the pool refills, as when an LLM writes them);
  cold and settled candidates alternate, so load from other jobs on a shared machine hits both;
- warm, back to back: then n candidates one right after another, so the pool refills (imports
  torch) while the next candidate runs.
Prints the median and interquartile range of `verify`'s wall time, of its run stage, and of the
run's start-up (process start or job assignment to the worker's hello: import, load, build model).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from harness.executors.bench import percentile  # noqa: E402
from harness.candidate import load_candidate  # noqa: E402
from harness.task import known_good_kernel, load_task  # noqa: E402
from harness.judge.verify import verify  # noqa: E402
from harness.sandbox.warm import WarmPool  # noqa: E402


def _summary(xs: list[float]) -> dict[str, float]:
    q1, med, q3 = (percentile(xs, q) for q in (25, 50, 75))
    return {"n": len(xs), "median_s": med, "q1_s": q1, "q3_s": q3, "iqr_s": q3 - q1}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="level1/gelu")
    ap.add_argument("--backend", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("-n", type=int, default=10)
    ap.add_argument("--pool", type=int, default=2, help="warm pool size")
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()
    task = load_task(a.task)
    path = known_good_kernel(task, a.backend)
    if path is None:
        print(f"no known-good {a.backend} kernel for {a.task}", file=sys.stderr)
        return 2
    cand = load_candidate(path, task)
    kw = dict(backend=a.backend, seeds=3, compile_baseline=False, timeout_s=60.0)
    if a.backend == "cpu":
        kw.update(size="small", repeats=10, warmup=2)
    first = verify(cand, **kw)  # builds the kernel and computes the reference: cached from here on
    if first.status != "verified":
        print(f"the known-good kernel did not verify: {first.status}: {first.error}", file=sys.stderr)
        return 1

    def one(pool: WarmPool | None) -> tuple[float, float, float, str]:
        t0 = time.monotonic()
        v = verify(cand, pool=pool, **kw)
        wall = time.monotonic() - t0
        iso = next(c.reason for c in v.checks if c.name == "isolation")
        assert v.status == "verified", (v.status, v.error)
        assert ("pre-started" in iso) == (pool is not None), iso
        return wall, float(v.seconds["run"]), float(v.seconds.get("run.hello", float("nan"))), iso

    modes: dict[str, list[tuple[float, float, float, str]]] = {"cold": [], "warm, settled": [],
                                                                "warm, back to back": []}
    with WarmPool(a.pool, backend=a.backend) as pool:
        for _ in range(a.n):
            pool.wait_ready(300)
            modes["cold"].append(one(None))
            pool.wait_ready(300)
            modes["warm, settled"].append(one(pool))
        pool.wait_ready(300)
        modes["warm, back to back"] = [one(pool) for _ in range(a.n)]
        stats = pool.stats()
    out = {"task": a.task, "backend": a.backend, "pool": a.pool, "cpus": os.cpu_count(), "torch": torch.__version__,
           "pool_stats": stats.__dict__,
           "modes": {m: {"verify": _summary([x[0] for x in r]), "run": _summary([x[1] for x in r]),
                         "startup": _summary([x[2] for x in r]), "isolation": r[-1][3]} for m, r in modes.items()}}
    print(f"{a.task} on {a.backend}, {a.n} candidates per mode, pool of {a.pool}; torch {torch.__version__}, "
          f"{os.cpu_count()} CPUs")
    print(f"{'mode':<20}" + "".join(f"{h + ' median':>16}{'IQR':>13}" for h in ("verify", "run", "start-up")))
    for m, d in out["modes"].items():
        print(f"{m:<20}" + "".join(f"{d[k]['median_s']:>14.2f} s{d[k]['q1_s']:>7.2f}-{d[k]['q3_s']:.2f} s"
                                   for k in ("verify", "run", "startup")))
    if a.json:
        a.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
