"""Summarise `kernel-evolve evolve` run directories for BENCHMARKS.md.

    python3 scripts/tune_summary.py RUN_DIR [RUN_DIR ...]

Per task (a row per run and task): candidates judged and verified; the seed's (generation 0) and the best
verified kernel's speedup vs eager and vs torch.compile, each measured in the same run as the kernel, with its
spread; the best kernel's runtimes; its roofline fraction (bandwidth, and FLOP/s where the task has
matmul/conv FLOPs, of the device's measured peaks, when the harness reported them); candidates judged per hour
of that task's own wall time; and why its search ended (converged, exhausted, generations done, no verified
kernel). Under the table: geomeans over tasks and the runs' overall throughput. A task without a verified
kernel stays in the table with its reason.

Spread: the speedup's range when the kernel's and the baseline's medians each move by half their IQR,
[(base - iqr/2) / (kernel + iqr/2), (base + iqr/2) / (kernel - iqr/2)].

Reads only what the runs wrote (`members.jsonl`, `events.jsonl`); standard library only.
"""
from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def _lines(p: Path) -> list[dict[str, Any]]:
    out = []
    if p.is_file():
        for ln in p.read_text().splitlines():
            try:
                out.append(json.loads(ln))
            except json.JSONDecodeError:      # a line cut by kill -9, or one a live run is writing
                continue
    return out


def _timing(m: dict[str, Any] | None) -> dict[str, Any]:
    if not m or not m.get("verdict_json"):
        return {}
    try:
        return json.loads(m["verdict_json"]).get("timing") or {}
    except (ValueError, AttributeError):
        return {}


def _geomean(xs: list[float | None]) -> float | None:
    ys = [x for x in xs if x and x > 0]
    return math.exp(sum(map(math.log, ys)) / len(ys)) if ys else None


def _f(x: float | None, fmt: str = "{:.3f}") -> str:
    return "-" if x is None else fmt.format(x)


@dataclass(frozen=True)
class Ratio:
    """A speedup (baseline median / kernel median) and its spread."""

    value: float
    low: float | None
    high: float | None

    def __str__(self) -> str:
        if self.low is None or self.high is None:
            return f"{self.value:.3f}x"
        return f"{self.value:.3f}x [{self.low:.3f}-{self.high:.3f}]"


def ratio(timing: dict[str, Any], baseline: str) -> Ratio | None:
    """The kernel's speedup over `baseline` ("eager" or "compiled") with its spread, from a verdict's timing."""
    k, b = timing.get("kernel") or {}, timing.get(baseline) or {}
    km, bm = k.get("median_ms"), b.get("median_ms")
    if not km or not bm:
        return None
    ki, bi = (k.get("iqr_ms") or 0.0) / 2, (b.get("iqr_ms") or 0.0) / 2
    low = (bm - bi) / (km + ki)
    high = (bm + bi) / (km - ki) if km > ki else None
    return Ratio(bm / km, low, high)


def roofline(timing: dict[str, Any]) -> str:
    parts = []
    bw, fl = timing.get("bandwidth_fraction"), timing.get("flops_fraction")
    if bw is None and timing.get("achieved_gbps") and timing.get("peak_gbps"):
        bw = timing["achieved_gbps"] / timing["peak_gbps"]
    if fl is None and timing.get("achieved_gflops") and timing.get("peak_gflops"):
        fl = timing["achieved_gflops"] / timing["peak_gflops"]
    if bw is not None:
        parts.append(f"{bw:.0%} BW" + (f" ({timing['achieved_gbps']:.0f} GB/s)" if timing.get("achieved_gbps") else ""))
    if fl is not None:
        parts.append(f"{fl:.0%} FLOP/s" + (f" ({timing['achieved_gflops']:.0f} GFLOP/s)"
                                           if timing.get("achieved_gflops") else ""))
    return ", ".join(parts) or "-"


@dataclass(frozen=True)
class TaskRow:
    label: str
    judged: int
    verified: int
    seed_eager: Ratio | None
    seed_compile: Ratio | None
    best_eager: Ratio | None
    best_compile: Ratio | None
    best_ms: str
    eager_ms: str
    compile_ms: str
    roofline: str
    per_hour: float | None
    stop: str

    def markdown(self) -> str:
        cells = [self.label, str(self.judged), str(self.verified), *(str(r) if r else "-" for r in
                 (self.seed_eager, self.seed_compile)), f"**{self.best_eager}**" if self.best_eager else "-",
                 str(self.best_compile) if self.best_compile else "-", self.best_ms, self.eager_ms, self.compile_ms,
                 self.roofline, _f(self.per_hour, "{:,.0f}"), self.stop]
        return "| " + " | ".join(cells) + " |"


HEADER = ("| task | judged | verified | seed vs eager | seed vs compile | best vs eager | best vs compile | "
          "best ms (IQR) | eager ms | torch.compile ms | roofline | judged/h | stop |")


def task_rows(run_dir: Path, prefix: str = "") -> list[TaskRow]:
    events = _lines(run_dir / "events.jsonl")
    members = _lines(run_dir / "members.jsonl")
    tasks = list(dict.fromkeys([m["task_id"] for m in members] + [e["task"] for e in events if e.get("task")]))
    rows = []
    for task in tasks:
        ms = [m for m in members if m["task_id"] == task and m.get("stage") != "functionalize"]
        ok = [m for m in ms if m["status"] == "verified" and m.get("speedup")]
        seed = next((m for m in ms if m.get("generation") == 0 and m["status"] == "verified"), None)
        best = max(ok, key=lambda m: m["speedup"], default=None)
        t, t0 = _timing(best), _timing(seed)
        ts = [e["ts"] for e in events if e.get("task") == task and "ts" in e]
        span = max(ts) - min(ts) if len(ts) > 1 else 0.0
        done = [e for e in events if e.get("event") == "task_done" and e.get("task") == task]
        stop = done[-1].get("result", "") if done else "not finished"
        k = t.get("kernel") or {}
        rows.append(TaskRow(
            label=prefix + task, judged=len(ms), verified=sum(m["status"] == "verified" for m in ms),
            seed_eager=ratio(t0, "eager"), seed_compile=ratio(t0, "compiled"),
            best_eager=ratio(t, "eager"), best_compile=ratio(t, "compiled"),
            best_ms=f"{_f(k.get('median_ms'), '{:.4f}')} ({_f(k.get('iqr_ms'), '{:.4f}')})" if k else "-",
            eager_ms=_f((t.get("eager") or {}).get("median_ms"), "{:.4f}"),
            compile_ms=_f((t.get("compiled") or {}).get("median_ms"), "{:.4f}"),
            roofline=roofline(t) if t else "-", per_hour=3600 * len(ms) / span if span > 0 else None, stop=stop))
    return rows


def summarise(run_dirs: list[Path]) -> str:
    rows: list[TaskRow] = []
    spans, judged, verified = [], 0, 0
    for d in run_dirs:
        rows += task_rows(d, f"{d.name}: " if len(run_dirs) > 1 else "")
        ts = [e["ts"] for e in _lines(d / "events.jsonl") if "ts" in e]
        if ts:
            spans.append((min(ts), max(ts)))
    judged, verified = sum(r.judged for r in rows), sum(r.verified for r in rows)
    wall = sum(b - a for a, b in spans)
    done = [r for r in rows if r.best_eager]

    def gm(rs: list[Ratio | None]) -> str:
        return _f(_geomean([r.value if r else None for r in rs]))
    out = [HEADER, "|" + "---|" * HEADER.count(" | ") + "---|", *(r.markdown() for r in rows), "",
           f"geomean over the {len(done)} of {len(rows)} tasks with a verified kernel: best vs eager "
           f"**{gm([r.best_eager for r in done])}** (seed {gm([r.seed_eager for r in done])}), best vs torch.compile "
           f"**{gm([r.best_compile for r in done])}** (seed {gm([r.seed_compile for r in done])}); "
           f"{sum(r.best_eager.value >= 1.0 for r in done if r.best_eager)} tasks at >= 1.0x eager",
           f"{judged} candidates judged, {verified} verified in {wall:.0f} s of wall time: "
           + (f"**{3600 * judged / wall:,.0f} judged/h, {3600 * verified / wall:,.0f} verified/h**" if wall else "-")]
    return "\n".join(out)


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    dirs = [Path(a) for a in sys.argv[1:]]
    missing = [str(d) for d in dirs if not (d / "members.jsonl").is_file()]
    if missing:
        sys.exit(f"not a run directory (no members.jsonl): {', '.join(missing)}")
    print(summarise(dirs))


if __name__ == "__main__":
    main()
