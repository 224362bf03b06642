"""Benchmark (not a test): the racy reduction through `verify` many times in a row; how many were refused.

    python3 scripts/race_repeat.py [--runs 50] [--candidate tests/adversarial/candidates/race_rows.cpp]
                                   [--task level1/sum_dim] [--backend cpu]

Each run is a full verification with the adversarial corpus's settings (small size, 2 seeds, static
filter off, so the dynamic checks alone must refuse it); the task's reference is computed once and
shared, as in any run of many candidates. It prints one line per run (status, the first failed check,
what the race check compared) and a summary; the exit status is 0 only if every run was refused.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.candidate import load_candidate  # noqa: E402
from harness.judge.verify import verify  # noqa: E402
from harness.task import load_task  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--candidate", default=str(ROOT / "tests/adversarial/candidates/race_rows.cpp"))
    ap.add_argument("--task", default="level1/sum_dim")
    ap.add_argument("--backend", default="cpu")
    args = ap.parse_args()
    task = load_task(args.task)
    cand = load_candidate(args.candidate, task)
    print(f"{Path(args.candidate).name} on {args.task} ({args.backend}, {os.cpu_count()} cores), {args.runs} runs; "
          f"harness at {ROOT}", flush=True)
    statuses: Counter = Counter()
    caught_by: Counter = Counter()
    t_all = time.monotonic()
    for i in range(args.runs):
        t0 = time.monotonic()
        v = verify(cand, backend=args.backend, size="small", seeds=2, compile_baseline=False, timeout_s=60.0,
                   repeats=10, warmup=2, static_checks=False)
        failed = [c for c in v.checks if c.outcome == "fail"]
        first = failed[0].name if failed else "-"
        race = next((c for c in v.checks if c.name == "race"), None)
        statuses[v.status] += 1
        caught_by[first] += 1
        print(f"run {i + 1:3d}: {v.status:10s} first failed check: {first:14s} {time.monotonic() - t0:5.1f} s  "
              f"race: {race.outcome + ': ' + race.reason[:110] if race else 'no race check'}", flush=True)
    refused = args.runs - statuses.get("verified", 0)
    print(f"\nrefused {refused}/{args.runs} ({dict(statuses)}); first failed check: {dict(caught_by)}; "
          f"{time.monotonic() - t_all:.0f} s in all")
    return 0 if refused == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
