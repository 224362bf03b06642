"""Supervised fine-tuning on archive examples: `trl.SFTTrainer` with a PEFT LoRA adapter (or full weights).

This module owns the training run: `SFTSettings` (what to train and how),
`train_sft` (load the base model and its own chat template, train, resume from
the last checkpoint in the output folder, save the adapter or model plus the
tokenizer, and record what was done in `training_config.json` for the model
card). The datasets are TRL conversational prompt/completion datasets from
`finetune.examples`; TRL computes the loss on the completion only for such
datasets (`completion_only_loss=None` resolves to True), which we make explicit.

Examples longer than `max_length` tokens (prompt plus completion, under the base
model's chat template) are *dropped and counted* before training, never
truncated: a truncated kernel teaches the model to stop mid-function. TRL's own
`max_length` would truncate, so it is given None and our filter is the limit.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

TRAINING_CONFIG = "training_config.json"
log = logging.getLogger(__name__)


class FinetuneError(RuntimeError):
    """A fine-tuning run that cannot start; the message says what to change."""


@dataclass(frozen=True)
class SFTSettings:
    """One SFT run. `base` is a Hub model id or a local folder; `output_dir` receives checkpoints and the result."""

    base: str
    output_dir: str
    lora: bool = True                        # False: full fine-tuning
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: str | tuple[str, ...] = "all-linear"
    max_steps: int = -1                      # > 0 overrides epochs
    epochs: float = 1.0
    learning_rate: float | None = None       # None: 2e-4 for LoRA, 2e-5 for full
    batch_size: int = 1
    grad_accum: int = 8
    max_length: int | None = 4096
    warmup_ratio: float = 0.03
    seed: int = 0
    logging_steps: int = 10
    save_steps: int = 200
    save_total_limit: int = 2
    gradient_checkpointing: bool = False
    bf16: bool | None = None                 # None: on when the GPU supports it
    resume: bool = True                      # continue from the newest checkpoint-* in output_dir
    eval: bool = True                        # evaluate the eval split at the end (when it is not empty)
    datasets: tuple[str, ...] = ()           # provenance for the card: "owner/name@revision" or "path@commit"
    eval_fraction: float = 0.1               # how the examples were split by task (recorded for `finetune eval`)
    split_salt: str = "kernel-evolve"
    extra: dict[str, Any] = field(default_factory=dict)   # more SFTConfig arguments, passed through

    def lr(self) -> float:
        return self.learning_rate if self.learning_rate is not None else (2e-4 if self.lora else 2e-5)

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["learning_rate"] = self.lr()
        d["target_modules"] = list(self.target_modules) if isinstance(self.target_modules, tuple) else self.target_modules
        d["datasets"] = list(self.datasets)
        return d


@dataclass(frozen=True)
class SFTResult:
    output_dir: str
    adapter: bool                        # True: output_dir holds a PEFT adapter for `base`
    global_step: int
    train_loss: float | None
    eval_loss: float | None
    losses: tuple[float, ...]            # the logged training losses, in order
    resumed_from: str | None
    train_examples: int
    eval_examples: int
    operator_spec: str                   # how the pipeline loads it: local:BASE+ADAPTER or local:MODEL
    dropped_train: int = 0               # examples over max_length, dropped before training (never truncated)
    dropped_eval: int = 0


def load_tokenizer(base: str):
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(base)
    except (OSError, ValueError) as e:
        raise FinetuneError(f"cannot load a tokenizer from {base!r}: give a Hub model id or a local folder "
                            f"with tokenizer files ({e})") from None
    if not getattr(tok, "chat_template", None):
        raise FinetuneError(f"{base!r} has no chat template; use a chat/instruct model, so the fine-tuned model is "
                            "prompted the way the pipeline's `local:` operator prompts it")
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_model(base: str, *, bf16: bool):
    import torch
    from transformers import AutoModelForCausalLM

    try:
        return AutoModelForCausalLM.from_pretrained(base, dtype=torch.bfloat16 if bf16 else torch.float32)
    except (OSError, ValueError) as e:
        raise FinetuneError(f"cannot load a causal LM from {base!r}: {e}") from None


def lora_config(s: SFTSettings):
    from peft import LoraConfig

    tm = s.target_modules if isinstance(s.target_modules, str) else list(s.target_modules)
    return LoraConfig(r=s.lora_r, lora_alpha=s.lora_alpha, lora_dropout=s.lora_dropout, target_modules=tm,
                      bias="none", task_type="CAUSAL_LM")


def sft_config(s: SFTSettings, *, bf16: bool, has_eval: bool):
    from trl import SFTConfig

    kw: dict[str, Any] = dict(
        output_dir=s.output_dir, max_steps=s.max_steps, num_train_epochs=s.epochs, learning_rate=s.lr(),
        per_device_train_batch_size=s.batch_size, per_device_eval_batch_size=s.batch_size,
        gradient_accumulation_steps=s.grad_accum, max_length=None, **_warmup(SFTConfig, s.warmup_ratio),
        seed=s.seed, logging_steps=s.logging_steps, save_steps=s.save_steps, save_strategy="steps",
        save_total_limit=s.save_total_limit, bf16=bf16,
        completion_only_loss=True, packing=False, report_to="none", eval_strategy="no",
        do_eval=has_eval, dataloader_num_workers=0,
    )
    if s.gradient_checkpointing:
        kw["gradient_checkpointing"] = True
    kw.update(s.extra)
    return SFTConfig(**kw)


def _warmup(config_class: Any, ratio: float) -> dict[str, float]:
    """A warmup ratio as the installed transformers spells it: `warmup_ratio` (4.x) or a float `warmup_steps` (5.x)."""
    names = {f.name for f in dataclasses.fields(config_class)}
    return {"warmup_ratio": ratio} if "warmup_ratio" in names else {"warmup_steps": ratio}


def _bf16(s: SFTSettings) -> bool:
    import torch

    if s.bf16 is not None:
        return s.bf16
    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())


def last_checkpoint(output_dir: str) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(output_dir) if Path(output_dir).is_dir() else None


def token_count(tok: Any, messages: list[dict[str, str]]) -> int:
    """Tokens of a conversation under the tokenizer's chat template (as TRL tokenizes prompt + completion)."""
    out = tok.apply_chat_template(list(messages), tokenize=True, return_dict=True)
    return len(out["input_ids"] if isinstance(out, Mapping) else out)


def drop_overlong(dataset: Any, tok: Any, max_length: int | None) -> tuple[Any, int]:
    """The examples of at most `max_length` tokens (prompt + completion), and how many were dropped."""
    if dataset is None or max_length is None or len(dataset) == 0:
        return dataset, 0
    keep = [i for i, ex in enumerate(dataset) if token_count(tok, ex["prompt"] + ex["completion"]) <= max_length]
    return (dataset if len(keep) == len(dataset) else dataset.select(keep)), len(dataset) - len(keep)


def make_trainer(settings: SFTSettings, dataset: Any, *, callbacks: list | None = None):
    """The configured `trl.SFTTrainer` (base model, its chat template, LoRA, completion-only loss), not yet trained.

    Over-long examples are dropped first; the trainer's `dropped` attribute says how many per split.
    """
    from trl import SFTTrainer

    train = dataset["train"]
    evald = dataset["eval"] if "eval" in dataset else None
    if len(train) == 0:
        raise FinetuneError("the training split is empty: the archive has no verified kernels that pass the filters "
                            "(lower --min-speedup, allow library calls, or verify more kernels)")
    tok = load_tokenizer(settings.base)
    n_train = len(train)
    train, dropped_train = drop_overlong(train, tok, settings.max_length)
    evald, dropped_eval = drop_overlong(evald, tok, settings.max_length)
    if len(train) == 0:
        raise FinetuneError(f"all {n_train} training examples are longer than max_length={settings.max_length} "
                            "tokens (prompt + kernel) and were dropped; raise --max-length")
    if dropped_train or dropped_eval:
        log.warning("dropped %d training and %d eval examples longer than max_length=%s tokens (not truncated)",
                    dropped_train, dropped_eval, settings.max_length)
    has_eval = settings.eval and evald is not None and len(evald) > 0
    bf16 = _bf16(settings)
    model = load_model(settings.base, bf16=bf16)
    Path(settings.output_dir).mkdir(parents=True, exist_ok=True)
    trainer = SFTTrainer(
        model=model, args=sft_config(settings, bf16=bf16, has_eval=has_eval), train_dataset=train,
        eval_dataset=evald if has_eval else None, processing_class=tok,
        peft_config=lora_config(settings) if settings.lora else None, callbacks=callbacks,
    )
    trainer.dropped = {"train": dropped_train, "eval": dropped_eval}
    return trainer


def train_sft(settings: SFTSettings, dataset: Any, *, callbacks: list | None = None) -> SFTResult:
    """Train on `dataset["train"]` (evaluate on `dataset["eval"]`), save the result in `settings.output_dir`."""
    trainer = make_trainer(settings, dataset, callbacks=callbacks)
    tok = trainer.processing_class
    has_eval = trainer.eval_dataset is not None
    kept = len(trainer.train_dataset)
    resume = last_checkpoint(settings.output_dir) if settings.resume else None
    out = trainer.train(resume_from_checkpoint=resume)
    eval_loss = None
    if has_eval:
        eval_loss = trainer.evaluate().get("eval_loss")
    trainer.save_model(settings.output_dir)       # adapter_config + adapter weights (LoRA) or the full model
    tok.save_pretrained(settings.output_dir)
    losses = tuple(float(h["loss"]) for h in trainer.state.log_history if "loss" in h)
    spec = f"local:{settings.base}+{settings.output_dir}" if settings.lora else f"local:{settings.output_dir}"
    result = SFTResult(
        output_dir=settings.output_dir, adapter=settings.lora, global_step=int(trainer.state.global_step),
        train_loss=float(out.training_loss) if out.training_loss is not None and math.isfinite(out.training_loss)
        else None,
        eval_loss=float(eval_loss) if eval_loss is not None else None, losses=losses, resumed_from=resume,
        train_examples=kept, eval_examples=len(trainer.eval_dataset) if has_eval else 0, operator_spec=spec,
        dropped_train=trainer.dropped["train"], dropped_eval=trainer.dropped["eval"],
    )
    examples = _summary(dataset)
    for split in ("train", "eval"):
        if split in examples:
            examples[split]["dropped_over_max_length"] = trainer.dropped[split]
    write_training_config(settings, result, examples=examples)
    return result


def _summary(dataset: Any) -> dict[str, Any]:
    from finetune.examples import summary

    try:
        return summary(dataset)
    except (KeyError, ValueError):   # a dataset not built by finetune.examples
        return {}


def write_training_config(settings: Any, result: Any, *, examples: dict[str, Any] | None = None,
                          method: str | None = None) -> Path:
    """What the card needs: the settings and the outcome, next to the adapter."""
    import peft
    import transformers
    import trl

    p = Path(settings.output_dir) / TRAINING_CONFIG
    p.write_text(json.dumps({
        "method": method or ("sft-lora" if settings.lora else "sft-full"),
        "settings": settings.to_json(),
        "result": dataclasses.asdict(result),
        "examples": examples or {},
        "versions": {"trl": trl.__version__, "transformers": transformers.__version__, "peft": peft.__version__},
    }, indent=2, default=str))
    return p


def read_training_config(folder: str | Path) -> dict[str, Any]:
    p = Path(folder) / TRAINING_CONFIG
    return json.loads(p.read_text()) if p.is_file() else {}
