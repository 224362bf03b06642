"""The seed table: every built-in task's format-K seed verified RUNS times, speedup vs eager with its spread.

    python3 scripts/seed_table.py --backend cpu --runs 3 [--size auto] [--tasks level1/gelu,...] [--out seeds.md]

Each run is `harness.judge.verify.verify` on the seed (as `kernel-evolve verify TASK SEED` runs it), one after
another on the same machine; the table gives the median of the runs' speedups vs eager and their min-max, the
medians of the kernel and eager times, the roofline fraction, and how many runs verified. Prints Markdown.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.candidate import load_candidate  # noqa: E402
from harness.judge.verify import verify  # noqa: E402
from harness.task import builtin_tasks, known_good_kernel, load_task  # noqa: E402


def row(tid: str, backend: str, runs: int, size: str, compile_baseline: bool) -> str:
    task = load_task(tid)
    path = known_good_kernel(task, backend, format="K")
    if path is None:
        return f"| {tid} | no seed | | | | | |"
    verdicts = [verify(load_candidate(path, task), backend=backend, size=size, compile_baseline=compile_baseline)
                for _ in range(runs)]
    ok = [v for v in verdicts if v.status == "verified" and v.timing and v.timing.speedup_eager]
    if not ok:
        why = next((v.error for v in verdicts if v.error), verdicts[0].status)[:80]
        return f"| {tid} | 0/{runs} ({why}) | | | | | |"
    sp = sorted(v.timing.speedup_eager for v in ok)
    ms = statistics.median(v.timing.kernel.median_ms for v in ok)
    eager = statistics.median(v.timing.eager.median_ms for v in ok if v.timing.eager)
    comp = [v.timing.speedup_compile for v in ok if v.timing.speedup_compile]
    frac = [f for v in ok for f in (v.timing.flops_fraction or v.timing.bandwidth_fraction,) if f]
    vs_compile = f"{statistics.median(comp):.2f}x" if comp else "-"
    roof = f"{statistics.median(frac):.1%}" if frac else "-"
    return (f"| {tid} | {len(ok)}/{runs} | {ms:.4f} | {eager:.4f} | **{statistics.median(sp):.2f}x** "
            f"({sp[0]:.2f}-{sp[-1]:.2f}) | {vs_compile} | {roof} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backend", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--size", default="auto")
    ap.add_argument("--tasks", default="")
    ap.add_argument("--compile-baseline", action="store_true")
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    tasks = a.tasks.split(",") if a.tasks else builtin_tasks()
    lines = ["| task | verified | kernel ms | eager ms | speedup vs eager: median (min-max) | vs torch.compile | "
             "roofline |", "|---|---|---|---|---|---|---|"]
    t0 = time.monotonic()
    for tid in tasks:
        lines.append(row(tid, a.backend, a.runs, a.size, a.compile_baseline))
        print(lines[-1], flush=True)
    text = "\n".join(lines) + f"\n\n({len(tasks)} tasks, {a.runs} runs each, {time.monotonic() - t0:.0f} s)\n"
    if a.out:
        Path(a.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
