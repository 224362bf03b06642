"""Summarise `kernel-evolve evolve` run directories for BENCHMARKS.md: per task, the seed's and the best
verified kernel's speedup vs eager and vs torch.compile (both measured in the same run as the kernel), the
geomeans over tasks, and candidates judged and verified per hour of the runs' wall time.

    python3 scripts/tune_summary.py RUN_DIR [RUN_DIR ...]

Reads only what the runs wrote (`members.jsonl`, `events.jsonl`); standard library only.
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path


def _lines(p: Path) -> list[dict]:
    return [json.loads(ln) for ln in p.read_text().splitlines() if ln.strip()] if p.is_file() else []


def _timing(m: dict) -> dict:
    v = json.loads(m["verdict_json"]) if m.get("verdict_json") else {}
    return v.get("timing") or {}


def _geomean(xs: list[float]) -> float | None:
    xs = [x for x in xs if x and x > 0]
    return math.exp(sum(map(math.log, xs)) / len(xs)) if xs else None


def _f(x: float | None, fmt: str = "{:.3f}") -> str:
    return "-" if x is None else fmt.format(x)


def summarise(run_dirs: list[Path]) -> str:
    rows, spans, judged, verified = [], [], 0, 0
    best_e, best_c = [], []
    for d in run_dirs:
        ev = _lines(d / "events.jsonl")
        ts = [e["ts"] for e in ev if "ts" in e]
        if ts:
            spans.append((min(ts), max(ts)))
        members = _lines(d / "members.jsonl")
        judged += len(members)
        verified += sum(m["status"] == "verified" for m in members)
        for task in dict.fromkeys(m["task_id"] for m in members):
            ms = [m for m in members if m["task_id"] == task]
            ok = [m for m in ms if m["status"] == "verified" and m.get("speedup")]
            seed = next((m for m in ms if m.get("generation") == 0 and m["status"] == "verified"), None)
            best = max(ok, key=lambda m: m["speedup"], default=None)
            t, ts0 = (_timing(best) if best else {}), (_timing(seed) if seed else {})
            statuses: dict[str, int] = {}
            for m in ms:
                statuses[m["status"]] = statuses.get(m["status"], 0) + 1
            if best:
                best_e.append(t.get("speedup_eager"))
                best_c.append(t.get("speedup_compile"))
            rows.append(f"| {task} | {len(ms)} | {len(ok)} | {_f(ts0.get('speedup_eager'))} | "
                        f"{_f((t.get('kernel') or {}).get('median_ms'), '{:.4f}')} "
                        f"({_f((t.get('kernel') or {}).get('iqr_ms'), '{:.4f}')}) | "
                        f"{_f((t.get('eager') or {}).get('median_ms'), '{:.4f}')} | "
                        f"{_f((t.get('compiled') or {}).get('median_ms'), '{:.4f}')} | "
                        f"**{_f(t.get('speedup_eager'))}** | {_f(t.get('speedup_compile'))} | "
                        f"{', '.join(f'{k} {n}' for k, n in sorted(statuses.items()))} |")
    wall = (max(b for _, b in spans) - min(a for a, _ in spans)) if spans else 0.0
    out = ["| task | judged | verified | seed vs eager | best kernel ms (IQR) | eager ms | torch.compile ms | "
           "best vs eager | best vs compile | statuses |", "|---|---|---|---|---|---|---|---|---|---|", *rows,
           "", f"geomean of the best speedups over {len(best_e)} tasks: vs eager **{_f(_geomean(best_e))}**, "
           f"vs torch.compile **{_f(_geomean(best_c))}**",
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
