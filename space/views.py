"""How results look in the Space: verdict tables, the speedup chart, lineage and progress text.

Pure functions from harness/pipeline data (a `Verdict`, run `Member`s, a
`Snapshot`) to what Gradio components take: lists of rows, Markdown strings
and matplotlib figures. Nothing here touches the network, the archive or user
code.
"""
from __future__ import annotations

from typing import Sequence

from matplotlib.figure import Figure

from harness.types import Stats, Verdict
from pipeline.population import Member

CHECK_HEADERS = ["check", "outcome", "reason"]
CANDIDATE_HEADERS = ["id", "generation", "stage", "mode", "parent", "status", "speedup vs eager", "runtime ms"]
_ICON = {"pass": "✓ pass", "fail": "✗ fail", "flag": "⚠ flag", "skip": "– skip"}
_STATUS_ICON = {"verified": "✓", "incorrect": "✗", "compile_error": "✗", "runtime_error": "✗",
                "timeout": "✗", "rejected": "✗", "no_code": "∅"}


def _fmt(x: float | None, suffix: str = "", digits: int = 3) -> str:
    return f"{x:.{digits}g}{suffix}" if x is not None else "–"


def check_rows(verdict: Verdict | None) -> list[list[str]]:
    """Every check of a verdict as (check, outcome, reason) rows."""
    if verdict is None:
        return []
    return [[c.name, _ICON.get(c.outcome, c.outcome), c.reason] for c in verdict.checks]


def verdict_markdown(verdict: Verdict | None) -> str:
    """The verdict's headline: status, errors, flags, timings and environment."""
    if verdict is None:
        return ""
    lines = [f"**{_STATUS_ICON.get(verdict.status, '')} {verdict.status}** · task `{verdict.task_id}` · "
             f"format {verdict.format} · kernel sha256 `{verdict.kernel_sha256[:12]}`"]
    if verdict.error:
        lines.append(f"error: `{verdict.error[:400]}`")
    if verdict.flags:
        lines.append("flags: " + ", ".join(f"`{f}`" for f in verdict.flags))
    if verdict.library_calls:
        lines.append("library calls: " + ", ".join(f"`{c}`" for c in verdict.library_calls))
    if verdict.rel_error is not None:
        lines.append(f"relative error {verdict.rel_error:.3g} · max abs diff {_fmt(verdict.max_abs_diff)}")
    t = verdict.timing
    if t:
        lines.append(f"speedup vs eager **{_fmt(t.speedup_eager, 'x')}** · vs torch.compile "
                     f"**{_fmt(t.speedup_compile, 'x')}** · timing method `{t.method}`")
    if verdict.isolation_gaps:
        lines.append("⚠️ **sandbox gaps** (see harness/THREAT_MODEL.md): " + "; ".join(verdict.isolation_gaps))
    e = verdict.env
    lines.append(f"device {e.device} · backend {e.backend} · torch {e.torch_version} · "
                 f"CUDA {e.cuda_version or '–'} · harness {e.harness_version}")
    return "\n\n".join(lines)


def speedup_figure(verdict: Verdict | None) -> Figure | None:
    """Median runtime of eager, torch.compile and the kernel with IQR bars and min–max whiskers."""
    t = verdict.timing if verdict is not None else None
    if t is None:
        return None
    bars: list[tuple[str, Stats, str]] = []
    if t.eager:
        bars.append(("eager", t.eager, "#8da0cb"))
    if t.compiled:
        bars.append(("torch.compile", t.compiled, "#66c2a5"))
    bars.append(("kernel", t.kernel, "#fc8d62"))
    fig = Figure(figsize=(6.4, 3.6), dpi=100)   # no pyplot: handlers run in threads
    ax = fig.subplots()
    xs = list(range(len(bars)))
    med = [s.median_ms for _, s, _ in bars]
    ax.bar(xs, med, color=[c for *_, c in bars], width=0.6, zorder=2)
    half = [s.iqr_ms / 2 for _, s, _ in bars]
    ax.errorbar(xs, med, yerr=[[min(h, m) for h, m in zip(half, med)], half], fmt="none", ecolor="black",
                elinewidth=2, capsize=8, zorder=3)
    ax.vlines(xs, [s.min_ms for _, s, _ in bars], [s.max_ms for _, s, _ in bars], colors="grey",
              linestyles="dotted", zorder=1)
    ax.set_xticks(xs, [f"{name}\n{s.median_ms:.3g} ms" for name, s, _ in bars])
    parts = [f"{t.speedup_eager:.2f}x vs eager" if t.speedup_eager else "",
             f"{t.speedup_compile:.2f}x vs torch.compile" if t.speedup_compile else ""]
    ax.set_title("Runtime · kernel " + ", ".join(p for p in parts if p) if any(parts) else "Runtime", fontsize=10)
    ax.set_ylabel("runtime, ms (lower is better)")
    ax.set_xlabel(f"bar: median of {t.kernel.n} · black: IQR · dotted: min–max · {verdict.env.device} "
                  f"({verdict.env.backend})", fontsize=8)
    top = max(max(med) * 1.15, max(s.median_ms + s.iqr_ms / 2 for _, s, _ in bars) * 1.1,
              min(max(s.max_ms for _, s, _ in bars), 2 * max(med)))
    ax.set_ylim(0, top)
    ax.grid(axis="y", alpha=0.3, zorder=0)
    fig.tight_layout()
    return fig


def candidate_rows(members: Sequence[Member]) -> list[list[object]]:
    """Every judged kernel of a run, in order."""
    return [[m.id, m.generation, m.stage, m.mode, ",".join(m.parent_ids) or "–",
             f"{_STATUS_ICON.get(m.status, '')} {m.status}", round(m.speedup, 3) if m.speedup else None,
             round(m.runtime_ms, 4) if m.runtime_ms else None]
            for m in members if m.stage != "functionalize"]


def lineage(members: Sequence[Member], leaf: Member | None) -> list[Member]:
    """The chain of first parents from the root to `leaf`."""
    by_id = {m.id: m for m in members}
    chain, seen = [], set()
    while leaf is not None and leaf.id not in seen:
        chain.append(leaf)
        seen.add(leaf.id)
        leaf = by_id.get(leaf.parent_ids[0]) if leaf.parent_ids else None
    return chain[::-1]


def lineage_markdown(members: Sequence[Member], leaf: Member | None) -> str:
    chain = lineage(members, leaf)
    if not chain:
        return "_No verified kernel yet._"
    out = ["**Lineage of the best kernel** (root first):", ""]
    for i, m in enumerate(chain):
        out.append(f"{i + 1}. `{m.id}` · generation {m.generation} · {m.stage}/{m.mode} · "
                   f"{m.model or m.operator or '–'} · {_STATUS_ICON.get(m.status, '')} {m.status} · "
                   f"speedup {_fmt(m.speedup, 'x')}")
    return "\n".join(out)


def progress_markdown(task_id: str, stage: str, generation: int, members: Sequence[Member], done: bool,
                      stop_reason: str = "", error: str = "") -> str:
    """The status line the browser test waits on: stage, generation, verdict counts and the best speedup."""
    kernels = [m for m in members if m.stage != "functionalize"]
    ok = [m for m in kernels if m.verified]
    best = max((m.speedup or 0.0 for m in ok), default=None)
    counts: dict[str, int] = {}
    for m in kernels:
        counts[m.status] = counts.get(m.status, 0) + 1
    tally = ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "none judged yet"
    if error:
        head = f"✗ **run failed**: {error}"
    elif done and ok:
        head = f"✓ **verified** kernel found: best {best:.3f}x vs eager"
    elif done:
        head = "✗ **no verified kernel**"
    else:
        head = f"▶ **running**: stage {stage}, generation {generation}" + (
            f", best so far {best:.3f}x" if best is not None else "")
    tail = f"\n\ntask `{task_id}` · candidates: {tally}"
    if done and stop_reason:
        tail += f" · stop: {stop_reason}"
    return head + tail
