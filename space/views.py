"""How results look in the Space: the result in context, verdict tables, the speedup chart and lineage.

Pure functions from harness/pipeline data (a `Verdict`, run `Member`s) to what
Gradio components take: lists of rows, Markdown strings and matplotlib
figures. Operator-facing notes (what the sandbox lacked on this host) are not
shown here: they stay in the verdict JSON (and the app logs them). Nothing here
touches the network, the archive or user code.
"""
from __future__ import annotations

from typing import Sequence

from matplotlib.figure import Figure

from harness.types import Stats, Verdict
from pipeline.population import Member

CHECK_HEADERS = ["check", "outcome", "reason"]
CANDIDATE_HEADERS = ["id", "gen", "how", "status", "x eager", "ms"]
EXPLAIN = ("*Eager* is PyTorch running your `Model` as written, one operator at a time; *torch.compile* is the same "
           "Model compiled by PyTorch's own compiler. Both were timed in this run, on this machine, on the same inputs "
           "as the kernel; a speedup is their median time divided by the kernel's (above 1: the kernel is faster).")

_ICON = {"pass": "✓ pass", "fail": "✗ fail", "flag": "⚠ flag", "skip": "– skip"}
_STATUS_ICON = {"verified": "✓", "incorrect": "✗", "compile_error": "✗", "runtime_error": "✗",
                "timeout": "✗", "rejected": "✗", "no_code": "∅"}


def _fmt(x: float | None, suffix: str = "", digits: int = 3) -> str:
    return f"{x:.{digits}g}{suffix}" if x is not None else "–"


#: what harness/judge/verify.py appends to the compile check when the build's sandbox kept the harness's uid: a note for
#: the Space's operator (the verdict JSON keeps it), not for the user's page
_BUILD_SANDBOX_NOTE = "; the compiler ran without a uid drop"


def check_rows(verdict: Verdict | None) -> list[list[str]]:
    """Every check of a verdict as (check, outcome, reason) rows, less operator notes on the host's sandbox."""
    if verdict is None:
        return []
    return [[c.name, _ICON.get(c.outcome, c.outcome), c.reason.split(_BUILD_SANDBOX_NOTE)[0]]
            for c in verdict.checks]


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
    e = verdict.env
    lines.append(f"device {e.device} · backend {e.backend} · torch {e.torch_version} · "
                 f"CUDA {e.cuda_version or '–'} · harness {e.harness_version}")
    return "\n\n".join(lines)


def speedup_spread(eager: Stats, kernel: Stats) -> tuple[float, float]:
    """The speedup's range from both timings' interquartile ranges (median -/+ IQR/2, within min..max)."""
    def low(s: Stats) -> float:    # a quartile is never below the fastest run (skewed timings)
        return max(s.median_ms - s.iqr_ms / 2, s.min_ms, 1e-12)

    def high(s: Stats) -> float:
        return min(s.median_ms + s.iqr_ms / 2, max(s.max_ms, s.median_ms))

    return low(eager) / high(kernel), high(eager) / low(kernel)


def result_markdown(verdict: Verdict | None) -> str:
    """The best kernel's speed in context: vs eager with its spread, vs torch.compile, what those are, what next."""
    t = verdict.timing if verdict is not None and verdict.status == "verified" else None
    if t is None or t.speedup_eager is None or t.eager is None:
        return ""
    lo, hi = speedup_spread(t.eager, t.kernel)
    parts = [f"**{t.speedup_eager:.3g}x** vs eager PyTorch (from {lo:.3g}x to {hi:.3g}x over the timings' "
             f"interquartile ranges)"]
    if t.speedup_compile is not None and t.compiled is not None:
        clo, chi = speedup_spread(t.compiled, t.kernel)
        parts.append(f"**{t.speedup_compile:.3g}x** vs torch.compile ({clo:.3g}x to {chi:.3g}x)")
    out = ["### Result", " · ".join(parts), EXPLAIN]
    if t.speedup_eager < 1.0:
        out.append(f"**This kernel is slower than eager PyTorch** ({t.speedup_eager:.3g}x): it is verified correct, "
                   "but PyTorch's own code is faster here, so keep using PyTorch for this operation for now. Next: "
                   "more generations, an `hf:` LLM operator (it rewrites the kernel, where `tune` only changes its "
                   "constants), or the `default` problem size (small inputs are dominated by call overhead).")
    elif t.speedup_compile is not None and t.speedup_compile < 1.0:
        out.append(f"It beats eager PyTorch but not torch.compile ({t.speedup_compile:.3g}x): if you can use "
                   "torch.compile, that is faster for now. More generations or an `hf:` operator may close the gap.")
    return "\n\n".join(out)


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
    """Every judged kernel of a run, in order: id, generation, stage/mode, status, speedup vs eager, runtime."""
    return [[m.id[:8], m.generation, m.stage if m.stage == m.mode else f"{m.stage}/{m.mode}",
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
