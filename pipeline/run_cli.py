"""The `evolve` and `resume` commands; `register(app)` adds them to the lead's Typer app."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer


def _fail(msg: str) -> None:
    typer.secho(f"error: {msg}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def _execute(run_factory) -> None:
    from rich.console import Console

    from harness.task import TaskError
    from pipeline.operators import OperatorSpecError
    try:
        run = run_factory(Console(stderr=True))
        summary = run.execute()
    except (TaskError, OperatorSpecError, ValueError, FileNotFoundError) as e:
        _fail(str(e))
        return
    typer.echo(f"run directory: {summary.run_dir}")
    where = getattr(run.store, "path", None) or getattr(run.store, "repo_id", None)
    if where:
        typer.echo(f"archive: {where}")
    typer.echo(f"stopped: {summary.stop_reason}")
    for tid, (mid, speed) in summary.best.items():
        typer.echo(f"{tid}: " + (f"best {speed:.3f}x (member {mid})" if mid and speed else
                                 f"verified member {mid}" if mid else "no verified kernel"))
    if summary.commits:
        typer.echo(f"archive commits: {', '.join(c[:12] for c in summary.commits)}")


def evolve(
    tasks: list[str] = typer.Argument(..., help="built-in task ids (see `kernel-evolve tasks`) or task .py files"),
    operator: str = typer.Option("tune", help="tune | hf:MODEL | local:PATH_OR_ID[+ADAPTER]"),
    generations: int = typer.Option(5, min=0, help="optimize-stage generations per task"),
    population: int = typer.Option(4, min=1, help="candidates proposed per generation per task"),
    islands: int = typer.Option(2, min=1),
    strategy: str = typer.Option("islands", help="islands | best_of_n"),
    backend: str = typer.Option("auto", help="auto | cpu | cuda"),
    kernel_format: str = typer.Option("K", "--format", help="K (C-ABI, ~1 s builds) | A (torch extension): what "
                                      "the prompts ask LLM operators for"),
    archive: Optional[str] = typer.Option(None, help="archive path or hf://owner/name (default: the local archive)"),
    run_dir: Optional[Path] = typer.Option(None, help="run directory (default: ./runs/<time>-<id>)"),
    base_url: Optional[str] = typer.Option(None, help="OpenAI-compatible server for hf: operators (TGI, vLLM, Ollama)"),
    repairs: int = typer.Option(3, min=0, help="repairs per stage-1/2 failure"),
    size: str = typer.Option("auto", help="auto (full on CUDA, the task's SMALL on CPU) | default | small"),
    seeds: int = typer.Option(3, min=1),
    executor: str = typer.Option("local", help="local | ray: where candidates are judged"),
    workers: Optional[int] = typer.Option(None, min=1, help="parallel verifications (default: sized to the host)"),
    warm: Optional[int] = typer.Option(None, min=0, help="pre-started sandboxes kept ready per device "
                                       "(default: sized to the host; 0 = cold starts)"),
    max_llm_calls: Optional[int] = typer.Option(None, min=0),
    max_tokens: Optional[int] = typer.Option(None, min=0),
    max_wall_s: Optional[float] = typer.Option(None, min=0),
    archive_failed: bool = typer.Option(False, help="also archive failed kernels with their errors (repair data)"),
    compile_baseline: bool = typer.Option(True, help="time torch.compile as a baseline too"),
) -> None:
    """Evolve verified, faster kernels for TASKS; every verdict streams into the archive."""
    from harness.task import TaskError, load_task
    from pipeline.run import Run, RunConfig
    for t in tasks:
        try:
            load_task(t)
        except TaskError as e:
            _fail(str(e))
    config = RunConfig(tasks=tuple(str(Path(t).resolve()) if Path(t).suffix == ".py" else t for t in tasks),
                       operator=operator, base_url=base_url, strategy=strategy, generations=generations,
                       population=population, islands=islands, backend=backend, archive=archive,
                       kernel_format=kernel_format,
                       archive_failed=archive_failed, repairs=repairs, seeds=seeds, size=size,
                       compile_baseline=compile_baseline, executor=executor, workers=workers, warm=warm, max_llm_calls=max_llm_calls,
                       max_tokens=max_tokens, max_wall_s=max_wall_s)
    if kernel_format not in ("A", "K"):
        _fail(f"unknown kernel format {kernel_format!r}: use A or K")
    if strategy not in ("islands", "best_of_n"):
        _fail(f"unknown strategy {strategy!r}: use islands or best_of_n")
    rd = run_dir or Path("runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-{config.run_id}"
    if (Path(rd) / "config.yaml").exists():
        _fail(f"{rd} already holds a run; use `kernel-evolve resume {rd}`")
    _execute(lambda console: Run(config, rd, console=console))


def resume(run_dir: Path = typer.Argument(..., help="a run directory made by `kernel-evolve evolve`")) -> None:
    """Continue a run after a kill or with a larger budget (edit its config.yaml); loses no verified kernel."""
    from pipeline.run import Run, RunConfig
    try:
        config = RunConfig.load(run_dir)
    except (FileNotFoundError, ValueError, TypeError) as e:
        _fail(str(e))
        return
    _execute(lambda console: Run(config, run_dir, console=console))


def register(app: typer.Typer) -> None:
    """Add `evolve` and `resume` to the kernel-evolve CLI."""
    app.command("evolve")(evolve)
    app.command("resume")(resume)
