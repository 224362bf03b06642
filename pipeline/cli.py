"""The `kernel-evolve` command line: one Typer app that gathers each package's commands.

This module owns only the wiring, `--version` and the two harness commands
(`verify`, `tasks`); every other command lives beside the code it drives and is
registered here. Every command exits by one convention (`hub.exit_codes`):
0 ok, 1 `verify`'s "not verified", 2 bad input or usage, 3 archive or Hub
error, 4 internal error (a bug: `main` prints the traceback), 130 interrupted.
"""
from __future__ import annotations

import sys
import traceback
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from harness.judge.options import DEFAULT as VERIFY, VerifyOptions

from hub.exit_codes import ExitCode

DISTRIBUTION = "kernel-evolve"
app = typer.Typer(help="Turn PyTorch code into verified, fast CUDA kernels.", no_args_is_help=True,
                  add_completion=False)
console = Console()


def version_line() -> str:
    """`kernel-evolve X.Y.Z (from WHERE, Python A.B.C)`: the installed distribution and where its code lives."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        v = version(DISTRIBUTION)
    except PackageNotFoundError:
        v = "unknown (not installed: running from a source tree)"
    where = Path(__file__).resolve().parent.parent
    return f"{DISTRIBUTION} {v} (from {where}, Python {sys.version.split()[0]})"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(version_line())
        raise typer.Exit(ExitCode.OK)


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                       help="Print the version and where it is installed, then exit.")) -> None:
    """Turn PyTorch code into verified, fast CUDA kernels."""


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
    kernel: Path = typer.Argument(..., help="Candidate: a format-K or format-A .cu/.cpp file, or a format-B ModelNew "
                                  ".py file."),
    backend: str = typer.Option(VERIFY.backend, help="auto | cpu | cuda"),
    seeds: int = typer.Option(VERIFY.seeds, min=1, help="Random input seeds to check."),
    size: str = typer.Option(VERIFY.size, help="auto (full on CUDA, SMALL on CPU) | default | small."),
    timing: bool = typer.Option(VERIFY.timing, help="Time the kernel against eager and torch.compile."),
    compile_baseline: bool = typer.Option(VERIFY.compile_baseline, help="Also time torch.compile (slow to start on CPU)."),
    timeout: float = typer.Option(VERIFY.timeout_s, help="Wall-clock limit for the candidate's process, in seconds."),
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
        opts = VerifyOptions(backend=backend, seeds=seeds, size=size, timing=timing,
                             compile_baseline=compile_baseline, timeout_s=timeout)
        v = run_verify(c, **opts.kwargs())
    except (TaskError, CandidateError, ValueError) as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(ExitCode.USAGE)
    if as_json:
        sys.stdout.write(v.to_json(indent=2) + "\n")
    else:
        from pipeline.report import print_verdict
        print_verdict(v, console)
    raise typer.Exit(ExitCode.OK if v.status == "verified" else ExitCode.NOT_VERIFIED)


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


def main() -> None:
    """The console entry point: `app`, with an unexpected exception exiting 4 (never 1, which means "not verified")."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(ExitCode.INTERRUPTED)
    except Exception:  # noqa: BLE001 - a bug: show it whole, under its own exit code
        traceback.print_exc()
        sys.stderr.write(f"kernel-evolve: internal error (exit {int(ExitCode.INTERNAL)}); please report the traceback "
                         "above with the output of `kernel-evolve --version`\n")
        sys.exit(ExitCode.INTERNAL)


if __name__ == "__main__":  # pragma: no cover
    main()

