"""The `kernel-evolve` command line: one Typer app that gathers each package's commands.

This module owns only the wiring and the two harness commands (`verify`,
`tasks`); every other command lives beside the code it drives and is
registered here.
"""
from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Turn PyTorch code into verified, fast CUDA kernels.", no_args_is_help=True,
                  add_completion=False)
console = Console()


@app.command()
def tasks() -> None:
    """List the built-in task suite."""
    from harness.task import builtin_tasks, known_good_kernel, load_task

    table = Table("task", "op", "level", "functional", "known-good kernels")
    for tid in builtin_tasks():
        t = load_task(tid)
        kernels = [b for b in ("cuda", "cpu") if known_good_kernel(t, b)]
        table.add_row(tid, t.op_name, str(t.level), "yes" if t.functional else "no", ", ".join(kernels) or "-")
    console.print(table)


@app.command()
def verify(
    task: str = typer.Argument(..., help="Built-in task id (see `kernel-evolve tasks`) or a task .py file."),
    kernel: Path = typer.Argument(..., help="Candidate: a format-A .cu/.cpp file or a format-B ModelNew .py file."),
    backend: str = typer.Option("auto", help="auto | cpu | cuda"),
    seeds: int = typer.Option(3, min=1, help="Random input seeds to check."),
    size: str = typer.Option("auto", help="auto (full on CUDA, SMALL on CPU) | default | small."),
    timing: bool = typer.Option(True, help="Time the kernel against eager and torch.compile."),
    compile_baseline: bool = typer.Option(True, help="Also time torch.compile (slow to start on CPU)."),
    timeout: float = typer.Option(120.0, help="Wall-clock limit for the candidate's process, in seconds."),
    as_json: bool = typer.Option(False, "--json", help="Print the verdict JSON only."),
) -> None:
    """Verify one kernel for one task. Exit 0 only for status `verified`, 1 for any other verdict, 2 for bad input."""
    from harness.candidate import CandidateError, load_candidate
    from harness.task import TaskError, load_task
    from harness.judge.verify import verify as run_verify

    try:
        t = load_task(task)
        if not kernel.is_file():
            raise CandidateError(f"no such kernel file: {kernel}")
        c = load_candidate(kernel, t)
        v = run_verify(c, backend=backend, seeds=seeds, size=size, timing=timing,
                       compile_baseline=compile_baseline, timeout_s=timeout)
    except (TaskError, CandidateError, ValueError) as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2)
    if as_json:
        sys.stdout.write(v.to_json(indent=2) + "\n")
    else:
        from pipeline.report import print_verdict
        print_verdict(v, console)
    raise typer.Exit(0 if v.status == "verified" else 1)


def _register() -> None:
    """Attach the other packages' commands; a package whose optional dependencies are missing is skipped."""
    import importlib

    for mod, attr, name in (("hub.cli", "app", "archive"), ("finetune.cli", "app", "finetune"),
                            ("pipeline.bench_cli", "app", "bench")):
        try:
            sub = getattr(importlib.import_module(mod), attr)
        except ImportError as e:
            if e.name and (e.name == mod or e.name.startswith(mod.split(".")[0] + ".")):
                continue
            raise
        app.add_typer(sub, name=name)
    for mod in ("pipeline.run_cli", "space.cli"):
        try:
            importlib.import_module(mod).register(app)
        except ImportError as e:
            if e.name == mod:
                continue
            raise


_register()


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    main()

