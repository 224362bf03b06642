"""`kernel-evolve bench harness`: the throughput benchmark's command line (Typer + rich).

Only the `kernel-evolve` CLI imports this module; the harness itself stays
torch + standard library (`harness.executors.bench` does the work).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Benchmarks.", no_args_is_help=True, add_completion=False)
console = Console()


@app.callback()
def _bench() -> None:
    """Benchmarks of kernel-evolve's parts."""


def _fmt(x: float | None, unit: str = "s") -> str:
    return "-" if x is None else f"{x:.2f} {unit}"


@app.command()
def harness(
    candidates: int = typer.Option(30, "--candidates", "-n", min=1, help="How many candidates to judge."),
    backend: str = typer.Option("auto", help="auto | cpu | cuda"),
    workers: Optional[int] = typer.Option(None, min=1, help="Local executor: parallel verifications (CPU) or build "
                                          "threads (GPU); default: sized to the host."),
    executor: str = typer.Option("local", help="local | ray"),
    ray_address: str = typer.Option(None, help="ray: cluster address ('auto', 'ray://host:10001'); default local."),
    mix: str = typer.Option("known_good,failing,adversarial",
                            help="Corpora to take in turn, comma-separated: known_good, failing, adversarial, format_k."),
    size: str = typer.Option("auto", help="auto (full on CUDA, SMALL on CPU) | default | small."),
    seeds: int = typer.Option(3, min=1),
    timing: bool = typer.Option(True, help="Time each candidate (as the pipeline does)."),
    compile_baseline: bool = typer.Option(True, help="Also time torch.compile in the reference (slow on CPU)."),
    timeout: float = typer.Option(60.0, help="Per-candidate wall-clock limit, in seconds."),
    corpus_root: Path = typer.Option(None, "--corpus", help="kernel-evolve checkout holding pipeline/tasks and tests/."),
    out: Path = typer.Option(Path("bench-harness.json"), help="Where to write the JSON report."),
    fresh: bool = typer.Option(False, help="Make every candidate a new source, so every build is cold."),
    in_flight: Optional[int] = typer.Option(None, min=1, help="At most this many candidates submitted and not yet "
                                            "judged (default: all at once); 1 measures one candidate's latency."),
    warm: Optional[int] = typer.Option(None, min=0, help="Local executor: pre-started sandboxes kept ready, per GPU on "
                                       "CUDA (default: sized to the host; 0 = cold starts)."),
    per_device: Optional[int] = typer.Option(None, min=1, help="Local executor on CUDA: verifications sharing each GPU "
                                             "(timed phases never overlap); default: sized to the host."),
    max_wall_s: Optional[float] = typer.Option(None, min=1, help="Stop after this many seconds and report the verdicts "
                                               "that arrived by then (the rest are counted as unfinished)."),
) -> None:
    """Judge a mix of known-good, failing and adversarial candidates; report throughput and stage latencies."""
    from harness.executors import bench
    from harness.executors.factory import host_sizes, make_executor
    from harness.judge.reference import resolve_backend

    try:
        cats = [c.strip() for c in mix.split(",") if c.strip()]
        bad = [c for c in cats if c not in bench.CATEGORIES]
        if bad:
            raise ValueError(f"unknown corpus {', '.join(bad)}: use {', '.join(bench.CATEGORIES)}")
        if executor == "ray":  # the cluster's workers, not this machine, decide what "auto" means
            ex = make_executor("ray", address=ray_address)
            be = backend if backend != "auto" else ("cuda" if ex.cluster_gpus() > 0 else "cpu")
        else:
            be = resolve_backend(backend)
            ex = make_executor(executor, backend=be, workers=workers, warm=warm, per_device=per_device)
        items = bench.pick(bench.corpus(be, corpus_root or bench.REPO_ROOT), candidates, cats)
    except (ValueError, RuntimeError) as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2)
    verify_kw = dict(backend=be, size=size, seeds=seeds, timing=timing, compile_baseline=compile_baseline,
                     timeout_s=timeout)
    sizes = host_sizes(be)
    config = dict(candidates=candidates, backend=be, executor=executor, workers=workers or sizes.workers,
                  warm=sizes.warm if warm is None else warm, mix=cats,
                  per_device=(per_device or sizes.per_device) if be == "cuda" else None,
                  verify=verify_kw, machine=bench.machine(), executor_class=type(ex).__name__)
    console.print(f"judging {candidates} candidates on {be} with {type(ex).__name__} ...")
    try:  # the report is written before the executor shuts down (which waits for runs still going)
        report = bench.run_bench(items, ex, verify_kw=verify_kw, config=dict(config, fresh=fresh, in_flight=in_flight),
                                 fresh=fresh, in_flight=in_flight, max_wall_s=max_wall_s)
        report.write(out)
        _print(report)
        console.print(f"JSON report: {out}")
    finally:
        ex.shutdown()


def _print(r) -> None:
    busy = "n/a" if r.gpu_busy is None else f"{r.gpu_busy:.0%} ({r.gpu_source})"
    console.print(f"[bold]{r.candidates}[/bold] candidates in {r.wall_s:.1f} s: [bold]{r.per_hour:,.0f}/h[/bold] "
                  f"({r.verified_per_hour:,.0f} verified/h); GPU busy: {busy}; builds: "
                  + ", ".join(f"{k} {v}" for k, v in r.builds.items()))
    if r.config.get("max_wall_s"):
        console.print(f"stopped at --max-wall-s {r.config['max_wall_s']:.0f}: {r.config['unfinished']} unfinished and "
                      f"{r.config['not_submitted']} not submitted, not counted")
    if r.config.get("host_cpu_s_per_candidate") is not None:
        console.print(f"host CPU: {r.config['host_cpu_s_per_candidate']:.2f} s per candidate "
                      f"({r.config['host_cpu_s']:.0f} s in all: this process and every process it waited for)")
    t = Table("stage", "n", "p50", "p95", title="latency per stage (Verdict.seconds; run = correctness + timing)")
    for s, d in r.stages.items():
        t.add_row(s, str(d["n"]), _fmt(d["p50_s"]), _fmt(d["p95_s"]))
    console.print(t)
    statuses = sorted({s for c in r.by_category.values() for s in c})
    t = Table("corpus", *statuses, "total", title="verdicts by status")
    for cat, counts in r.by_category.items():
        t.add_row(cat, *(str(counts.get(s, 0)) for s in statuses), str(sum(counts.values())))
    t.add_row("all", *(str(r.by_status.get(s, 0)) for s in statuses), str(r.candidates))
    console.print(t)
    if r.mismatches:
        t = Table("candidate", "got", "expected", "error", title="[red]verdicts that differ from their expectation[/red]")
        for m in r.mismatches:
            t.add_row(m["candidate"], m["status"], m["expected"], m["error"][:120])
        console.print(t)
    else:
        console.print("every verdict matched its corpus's expectation")


def main() -> None:  # pragma: no cover - `python -m pipeline.bench_cli`
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
