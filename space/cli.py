"""`kernel-evolve space` (launch the Gradio app locally) and `kernel-evolve space deploy REPO_ID`.

`register(app)` mounts them on the top-level Typer app. Tokens come from
`--token` or `$HF_TOKEN` and are handed to huggingface_hub only: never
printed, never passed to the app's runner.
"""
from __future__ import annotations

from typing import Optional

import typer

space_app = typer.Typer(help="The Gradio Space: run it locally, or deploy it to the Hugging Face Hub.",
                        invoke_without_command=True, add_completion=False)


def _fail(msg: str) -> None:
    typer.secho(f"error: {msg}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


@space_app.callback()
def launch(
    ctx: typer.Context,
    port: int = typer.Option(7860, min=1, max=65535, help="Port to serve on."),
    host: str = typer.Option("127.0.0.1", help="Interface to bind (0.0.0.0 to serve your network)."),
    archive: Optional[str] = typer.Option(None, help="Archive path or hf://owner/name (default: the local archive)."),
    backend: str = typer.Option("auto", help="auto | cpu | cuda (auto uses CPU where there is no GPU)."),
    max_runs: int = typer.Option(1, min=1, help="Evolution runs at a time across all users (Gradio queue)."),
    llm_base_url: Optional[str] = typer.Option(None, help="An OpenAI-compatible server (TGI, vLLM) for hf: "
                                               "operators instead of HF Inference Providers."),
) -> None:
    """Launch the Space locally (the CPU backend where there is no GPU)."""
    if ctx.invoked_subcommand is not None:
        return
    if backend not in ("auto", "cpu", "cuda"):
        _fail(f"unknown backend {backend!r}: use auto, cpu or cuda")
    try:
        from space.app import cuda_ready, build_app
    except ImportError as e:
        _fail(f"the Space needs its extras ({e.name} is missing): pip install 'kernel-evolve[space]'")
        return
    if backend == "cuda" and not cuda_ready():
        _fail("--backend cuda needs a CUDA device and nvcc; use --backend cpu (C++ kernels) on this machine")
    if backend == "auto":
        backend = "cuda" if cuda_ready() else "cpu"
    typer.echo(f"kernel-evolve Space: backend {backend}, archive {archive or 'the default local archive'}")
    build_app(archive=archive, backend=backend, max_runs=max_runs,
              llm_base_url=llm_base_url).launch(server_name=host, server_port=port)


@space_app.command()
def deploy(
    repo_id: str = typer.Argument(..., help="The Space repo, owner/name (created if missing)."),
    token: Optional[str] = typer.Option(None, envvar="HF_TOKEN", show_default=False, show_envvar=False,
                                        help="Hub write token (default: $HF_TOKEN or your login)."),
    endpoint: Optional[str] = typer.Option(None, envvar="HF_ENDPOINT", show_envvar=False,
                                           help="Hub URL (default: https://huggingface.co)."),
    private: bool = typer.Option(False, help="Create the Space private."),
    docker: bool = typer.Option(False, help="A Docker Space on a CUDA devel image (nvcc for load_inline)."),
    hardware: Optional[str] = typer.Option(None, help="Request hardware, e.g. t4-small or a10g-small (billed)."),
    message: Optional[str] = typer.Option(None, help="Commit message."),
) -> None:
    """Upload the app and the packages it needs to a Space in one commit."""
    from space.deploy import DeployError, deploy as run_deploy
    try:
        url = run_deploy(repo_id, token=token, endpoint=endpoint, private=private, docker=docker,
                         hardware=hardware, message=message)
    except DeployError as e:
        _fail(str(e))
        return
    typer.echo(f"deployed: {url}")


def register(app: typer.Typer) -> None:
    """Add `space` and `space deploy` to the kernel-evolve CLI."""
    app.add_typer(space_app, name="space")
