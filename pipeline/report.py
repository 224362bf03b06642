"""Readable terminal reports of verdicts (the JSON form is `Verdict.to_json`)."""
from __future__ import annotations

from rich.console import Console
from rich.table import Table

from harness.types import Verdict

_STYLE = {"pass": "green", "fail": "red", "flag": "yellow", "skip": "dim"}


def _ms(s) -> str:
    return f"{s.median_ms:.4g} ms ± {s.iqr_ms:.2g} (IQR, n={s.n})" if s else "-"


def print_verdict(v: Verdict, console: Console | None = None) -> None:
    console = console or Console()
    color = "green" if v.status == "verified" else "red"
    console.print(f"[bold]{v.task_id}[/bold]  format {v.format}  [{color}]{v.status.upper()}[/{color}]")
    if v.error:
        console.print(f"[red]{v.error}[/red]")
    table = Table("check", "outcome", "reason", show_lines=False)
    for c in v.checks:
        table.add_row(c.name, f"[{_STYLE.get(c.outcome, '')}]{c.outcome}[/]", c.reason)
    console.print(table)
    for gap in v.isolation_gaps:
        console.print(f"[yellow]sandbox gap: {gap}[/yellow] (harness/THREAT_MODEL.md)")
    if v.flags:
        console.print("flags: " + ", ".join(v.flags))
    if v.library_calls:
        console.print("library calls: " + ", ".join(v.library_calls))
    if v.rel_error is not None:
        console.print(f"relative error {v.rel_error:.3g}, max abs diff {v.max_abs_diff:.3g}")
    t = v.timing
    if t:
        console.print(f"kernel   {_ms(t.kernel)}")
        console.print(f"eager    {_ms(t.eager)}" + (f"   speedup {t.speedup_eager:.2f}x" if t.speedup_eager else ""))
        console.print(f"compile  {_ms(t.compiled)}" + (f"   speedup {t.speedup_compile:.2f}x" if t.speedup_compile else ""))
        if t.custom_kernel_fraction is not None:
            console.print(f"share of device time in own kernels: {t.custom_kernel_fraction:.0%}")
    e = v.env
    console.print(f"[dim]{e.device} · {e.backend} · torch {e.torch_version} · CUDA {e.cuda_version or '-'} · "
                  f"harness {e.harness_version}[/dim]")
