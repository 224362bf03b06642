"""`kernel-evolve finetune ...`: sft, eval, grpo and push (a Typer app the top-level CLI mounts).

Heavy libraries (transformers, trl, peft, datasets) are imported inside the
commands, so the rest of the CLI works on a machine without them. Errors print
one actionable line and exit by `hub.exit_codes`: 2 for bad input or options,
3 for an archive or Hub error (reading the archive, pushing the model).
"""
from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Callable, List, Optional

import typer
from rich.console import Console
from rich.table import Table

from hub.exit_codes import ExitCode

app = typer.Typer(help="Fine-tune an open model on verified kernels (TRL + PEFT), evaluate it, push it.",
                  no_args_is_help=True, add_completion=False)
out = Console()
err = Console(stderr=True)


def _friendly(fn: Callable) -> Callable:
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from finetune.examples import ExampleError
        from finetune.push import HubPushError, PushError
        from finetune.sft import FinetuneError
        from harness.task import TaskError
        from hub.schema import ArchiveError

        try:
            return fn(*args, **kwargs)
        except (ArchiveError, HubPushError) as e:
            err.print(f"[red]error:[/red] {e}")
            raise typer.Exit(ExitCode.ARCHIVE) from None
        except (ExampleError, FinetuneError, PushError, TaskError, ValueError) as e:
            err.print(f"[red]error:[/red] {e}")
            raise typer.Exit(ExitCode.USAGE) from None
    return wrapper


def open_archive(spec: str | None, revision: str | None):
    """A store plus the provenance string `name@commit` for the card."""
    from hub.archive import open_store

    if spec and not spec.startswith("hf://") and not Path(spec).expanduser().exists() and spec.count("/") == 1 \
            and not spec.startswith((".", "~")):
        spec = "hf://" + spec                      # OWNER/NAME: a Hub dataset repo
    store = open_store(spec)
    if hasattr(store, "resolve"):                  # LocalStore
        commit, name = store.resolve(revision), str(store.path)
    else:                                          # HubStore
        commit, name = store.head(revision), store.repo_id
    err.print(f"archive: {name} @ {commit[:12]}")
    return store, f"{name}@{commit}", commit


def resolve_tasks(tasks: List[str]) -> list[str]:
    """Task ids from `--tasks`: ids, files, `levelN` (every built-in task of that level) or `all`; comma lists too."""
    from harness.task import TaskError, builtin_tasks

    names = [t.strip() for spec in (tasks or ["all"]) for t in spec.split(",") if t.strip()]
    out_: list[str] = []
    for n in names:
        if n == "all":
            out_ += builtin_tasks()
        elif n.startswith("level") and n[5:].isdigit():
            found = [t for t in builtin_tasks() if t.startswith(n + "/")]
            if not found:
                raise TaskError(f"no built-in tasks in {n}")
            out_ += found
        else:
            out_.append(n)
    return list(dict.fromkeys(out_))


def operator_spec(model: str, base: Optional[str]) -> tuple[str, Path | None]:
    """`local:...` for a folder (an adapter folder uses its base model), else the spec or Hub id as given."""
    if model.startswith(("local:", "hf:")):
        return model, None
    p = Path(model).expanduser()
    if p.is_dir() and (p / "adapter_config.json").is_file():
        b = base or json.loads((p / "adapter_config.json").read_text()).get("base_model_name_or_path")
        return f"local:{b}+{p}", p
    if p.is_dir():
        return f"local:{p}", p
    return f"local:{model}", None


@app.command()
@_friendly
def sft(
    base: str = typer.Option(..., "--base", help="Base model: a Hub id or a local folder (with a chat template)."),
    output: Path = typer.Option(..., "--output", "-o", help="Folder for checkpoints and the adapter/model."),
    archive: Optional[str] = typer.Option(None, "--archive", "-a", help="Archive path, hf://owner/name or owner/name."),
    revision: Optional[str] = typer.Option(None, help="Archive revision (commit or tag)."),
    lora: bool = typer.Option(True, "--lora/--full", help="Train a LoRA adapter (all linear layers) or all weights."),
    max_steps: int = typer.Option(-1, help="Stop after N optimizer steps (overrides --epochs)."),
    epochs: float = typer.Option(1.0, help="Epochs over the training split."),
    lr: Optional[float] = typer.Option(None, help="Learning rate (default 2e-4 LoRA, 2e-5 full)."),
    batch_size: int = typer.Option(1, help="Per-device batch size."),
    grad_accum: int = typer.Option(8, help="Gradient accumulation steps."),
    max_length: int = typer.Option(4096, help="Max tokens per example, prompt + kernel (longer examples are "
                                   "dropped and counted, never truncated)."),
    lora_r: int = typer.Option(16, help="LoRA rank."),
    min_speedup: float = typer.Option(0.0, help="Keep verified kernels at least this much faster than eager."),
    allow_library_calls: bool = typer.Option(False, help="Also train on kernels that call ATen/cuBLAS compute ops."),
    top_k: int = typer.Option(1, help="Kernels per task: 1 = the best only."),
    eval_fraction: float = typer.Option(0.1, help="Share of tasks held out for eval (split by task)."),
    repairs: bool = typer.Option(True, help="Also train on repairs (failed kernel + feedback -> fix)."),
    resume: bool = typer.Option(True, help="Continue from the newest checkpoint in --output."),
    push: Optional[str] = typer.Option(None, "--push", help="Push the adapter and card to this Hub model repo."),
    private: bool = typer.Option(False, help="Create the pushed repo as private."),
    license: Optional[str] = typer.Option(None, help="License for the card (default: the base model's)."),
) -> None:
    """Supervised fine-tuning on the archive's verified kernels (completion-only loss, base chat template)."""
    from finetune.card import write_model_card
    from finetune.examples import ExampleOptions, examples_from_store, summary
    from finetune.sft import SFTSettings, train_sft

    store, prov, commit = open_archive(archive, revision)
    opts = ExampleOptions(min_speedup=min_speedup, allow_library_calls=allow_library_calls, top_k=top_k,
                          eval_fraction=eval_fraction, repairs=repairs)
    dd = examples_from_store(store, revision=commit, options=opts)
    err.print(f"examples: {json.dumps(summary(dd))}")
    settings = SFTSettings(base=base, output_dir=str(output), lora=lora, max_steps=max_steps, epochs=epochs,
                           learning_rate=lr, batch_size=batch_size, grad_accum=grad_accum, max_length=max_length,
                           lora_r=lora_r, lora_alpha=2 * lora_r, resume=resume, datasets=(prov,),
                           eval_fraction=eval_fraction, split_salt=opts.split_salt)
    res = train_sft(settings, dd)
    if res.dropped_train or res.dropped_eval:
        err.print(f"dropped {res.dropped_train} training and {res.dropped_eval} eval example(s) longer than "
                  f"--max-length {max_length} tokens (never truncated)")
    write_model_card(output, license=license, repo_id=push)
    out.print(f"trained {res.global_step} steps (train loss {res.train_loss}, eval loss {res.eval_loss}); "
              f"saved to {output}\nuse it with --operator {res.operator_spec}")
    if push:
        _push(output, push, private=private, license=license)


@app.command("eval")
@_friendly
def eval_(
    model: str = typer.Argument(..., help="Adapter or model folder, Hub model id, or an operator spec local:/hf:."),
    tasks: List[str] = typer.Option(None, "--tasks", "-t", help="Task ids, files, levelN or all (repeatable; "
                                    "default: the built-in tasks of the archive's held-out split)."),
    include_train_tasks: bool = typer.Option(False, "--include-train-tasks", help="Allow tasks of the train "
                                             "split (the model may have seen them; the report and card say so)."),
    base: Optional[str] = typer.Option(None, help="Base model for an adapter folder (default: its adapter_config)."),
    n: int = typer.Option(1, "-n", help="Samples per task."),
    k: List[int] = typer.Option([1], "-k", help="pass@k values (each <= n)."),
    p: List[float] = typer.Option([0.0, 1.0], "-p", help="fast_p thresholds (speedup over eager)."),
    backend: str = typer.Option("auto", help="auto | cpu | cuda"),
    size: str = typer.Option("default", help="default | small"),
    seeds: int = typer.Option(3, help="Input seeds per verification."),
    temperature: float = typer.Option(0.7, help="Sampling temperature (0 = greedy; greedy when n = 1)."),
    max_new_tokens: int = typer.Option(2048, help="Max tokens per generated kernel."),
    card: bool = typer.Option(True, help="Write the results into the folder's model card (model-index)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the full report as JSON here."),
) -> None:
    """Generate kernels with the model through the pipeline's prompts and verify them with the harness."""
    import dataclasses

    from finetune.card import save_eval, write_model_card
    from finetune.evaluate import evaluate
    from finetune.heldout import choose_tasks, split_for

    spec, folder = operator_spec(model, base)
    split = split_for(folder)
    ids, trained = choose_tasks(resolve_tasks(tasks) if tasks else [], split, include_train=include_train_tasks)
    err.print(f"evaluating {spec} on {len(ids)} task(s), {n} sample(s) each"
              + (f"; {len(trained)} of them in the train split" if trained else
                 f" (held-out split, eval_fraction={split.eval_fraction})"))
    rep = evaluate(spec, ids, n=n, ks=tuple(k), ps=tuple(p), backend=backend, size=size, seeds=seeds,
                   temperature=temperature, max_new_tokens=max_new_tokens,
                   progress=lambda s: err.print(f"  {s.task_id} #{s.index}: {s.status}"))
    rep = dataclasses.replace(rep, train_tasks=tuple(trained))
    table = Table("split", "tasks", "samples", "compile", "correct", *[f"pass@{x}" for x in rep.ks],
                  *[f"fast_{x:g}" for x in rep.ps])
    for m in (*rep.levels, rep.overall):
        table.add_row(m.name, str(m.tasks), str(m.samples), f"{m.compile_rate:.3f}", f"{m.correct_rate:.3f}",
                      *[f"{m.pass_at[x]:.3f}" if x in m.pass_at else "n/a" for x in rep.ks],
                      *[f"{m.fast_p[x]:.3f}" for x in rep.ps])
    out.print(table)
    if json_out:
        json_out.write_text(rep.to_json())
    if card and folder is not None:
        save_eval(folder, rep)
        out.print(f"model card updated: {write_model_card(folder, report=rep)}")


@app.command()
@_friendly
def grpo(
    base: str = typer.Option(..., "--base", help="Base model: a Hub id or a local folder."),
    output: Path = typer.Option(..., "--output", "-o", help="Folder for checkpoints and the result."),
    tasks: List[str] = typer.Option(None, "--tasks", "-t", help="Task ids, files, levelN or all (repeatable)."),
    adapter: Optional[Path] = typer.Option(None, help="Continue training this SFT adapter folder."),
    lora: bool = typer.Option(True, "--lora/--full", help="LoRA adapter or all weights."),
    num_generations: int = typer.Option(4, help="Completions per prompt (the GRPO group)."),
    max_completion_length: int = typer.Option(1024, help="Max tokens per completion."),
    max_steps: int = typer.Option(100, help="Optimizer steps."),
    batch_size: int = typer.Option(4, help="Completions per device step (a multiple of --num-generations)."),
    lr: Optional[float] = typer.Option(None, help="Learning rate (default 1e-5 LoRA, 1e-6 full)."),
    beta: float = typer.Option(0.0, help="KL coefficient."),
    backend: str = typer.Option("auto", help="Harness backend for the reward: auto | cpu | cuda"),
    size: str = typer.Option("default", help="Task size for the reward: default | small"),
    hack_penalty: float = typer.Option(-1.0, help="Reward for flagged hacks, implausible timings, rejections."),
    push: Optional[str] = typer.Option(None, "--push", help="Push the result and card to this Hub model repo."),
    private: bool = typer.Option(False, help="Create the pushed repo as private."),
    license: Optional[str] = typer.Option(None, help="License for the card (default: the base model's)."),
) -> None:
    """GRPO with the harness as the reward (0 no compile, partial compiles, 1+log speedup verified, hacks < 0)."""
    from finetune.card import write_model_card
    from finetune.grpo import GRPOSettings, train_grpo
    from finetune.reward import RewardConfig

    settings = GRPOSettings(base=base, output_dir=str(output), adapter=str(adapter) if adapter else None, lora=lora,
                            num_generations=num_generations, max_completion_length=max_completion_length,
                            max_steps=max_steps, batch_size=batch_size, learning_rate=lr, beta=beta,
                            reward=RewardConfig(backend=backend, size=size, hack_penalty=hack_penalty))
    res = train_grpo(settings, resolve_tasks(tasks))
    write_model_card(output, license=license, repo_id=push)
    out.print(f"{res.global_step} GRPO steps, mean rewards {[round(r, 3) for r in res.rewards]}; saved to {output}\n"
              f"use it with --operator {res.operator_spec}")
    if push:
        _push(output, push, private=private, license=license)


def _push(folder: Path, repo: str, *, private: bool = False, license: str | None = None, merge: bool = False,
          token: str | None = None) -> None:
    from finetune.push import push_model

    res = push_model(folder, repo, private=private, license=license, merge=merge, token=token)
    out.print(f"pushed {len(res.files)} files to {res.url} (commit {res.commit_id[:12]}"
              f"{', merged' if res.merged else ''})")


@app.command("push")
@_friendly
def push_cmd(
    folder: Path = typer.Argument(..., help="The --output folder of `finetune sft` or `finetune grpo`."),
    repo: str = typer.Option(..., "--repo", help="Hub model repo OWNER/NAME."),
    merge: bool = typer.Option(False, help="Merge the LoRA adapter into the base model and push full weights."),
    private: bool = typer.Option(False, help="Create the repo as private."),
    license: Optional[str] = typer.Option(None, help="License for the card (default: the base model's)."),
    token: Optional[str] = typer.Option(None, help="Hub token (default: HF_TOKEN or the saved login)."),
) -> None:
    """Push an adapter (or merged model) and its model card to the Hub."""
    _push(folder, repo, private=private, license=license, merge=merge, token=token)


if __name__ == "__main__":  # pragma: no cover - `python -m finetune.cli`
    app()
