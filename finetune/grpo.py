"""GRPO with harness rewards: `trl.GRPOTrainer` on translate prompts, every sample judged by the harness.

This module owns the RL run: the prompt dataset (the pipeline's translate prompt
for each task, with the task's source so the reward can verify against it),
`GRPOSettings`, and `train_grpo`, which starts from the base model (with a fresh
LoRA adapter, or full weights) or continues an SFT adapter, and saves the result
like `finetune.sft` does. The reward is `finetune.reward.HarnessReward`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from finetune.reward import HarnessReward, RewardConfig
from finetune.sft import FinetuneError, last_checkpoint, load_tokenizer, write_training_config


@dataclass(frozen=True)
class GRPOSettings:
    base: str
    output_dir: str
    adapter: str | None = None            # continue training this (SFT) adapter instead of a fresh one
    lora: bool = True
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: str | tuple[str, ...] = "all-linear"
    num_generations: int = 4
    max_completion_length: int = 1024
    max_steps: int = 100
    learning_rate: float | None = None    # None: 1e-5 (LoRA) / 1e-6 (full)
    batch_size: int = 4                   # completions per device step; a multiple of num_generations
    grad_accum: int = 1
    beta: float = 0.0
    temperature: float = 0.8
    seed: int = 0
    logging_steps: int = 1
    save_steps: int = 50
    resume: bool = True
    bf16: bool | None = None
    reward: RewardConfig = RewardConfig()
    datasets: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def lr(self) -> float:
        return self.learning_rate if self.learning_rate is not None else (1e-5 if self.lora else 1e-6)

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["learning_rate"] = self.lr()
        d["reward"] = dataclasses.asdict(self.reward)
        return d


@dataclass(frozen=True)
class GRPOResult:
    output_dir: str
    adapter: bool
    global_step: int
    rewards: tuple[float, ...]            # mean reward per logged step
    resumed_from: str | None
    operator_spec: str


def prompt_dataset(tasks: Sequence[Any], backend: str):
    """One row per task: the translate prompt (conversational), its id and the source the reward verifies against."""
    from datasets import Dataset

    from harness.task import load_task
    from pipeline.prompts import build_messages

    refs = [t if hasattr(t, "task_id") else load_task(t) for t in tasks]
    bad = [t.task_id for t in refs if not t.functional]
    if bad:
        raise FinetuneError(f"tasks without a functional form (module_fn) cannot be rewarded: {', '.join(bad)}")
    if not refs:
        raise FinetuneError("no tasks to train on: give --tasks (built-in ids or files)")
    return Dataset.from_dict({
        "prompt": [build_messages("translate", t, backend=backend) for t in refs],
        "task_id": [t.task_id for t in refs],
        "task_source": [t.source for t in refs],
    })


def _model(s: GRPOSettings, bf16: bool):
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(s.base, dtype=torch.bfloat16 if bf16 else torch.float32)
    if s.adapter:
        from peft import PeftModel
        return PeftModel.from_pretrained(model, s.adapter, is_trainable=True), None
    if not s.lora:
        return model, None
    from peft import LoraConfig

    tm = s.target_modules if isinstance(s.target_modules, str) else list(s.target_modules)
    return model, LoraConfig(r=s.lora_r, lora_alpha=s.lora_alpha, lora_dropout=s.lora_dropout,
                             target_modules=tm, bias="none", task_type="CAUSAL_LM")


def train_grpo(settings: GRPOSettings, tasks: Sequence[Any], *, reward: HarnessReward | None = None,
               callbacks: list | None = None) -> GRPOResult:
    """Run GRPO on the tasks' translate prompts; save the adapter (or model), tokenizer and training record."""
    import torch
    from trl import GRPOConfig, GRPOTrainer

    if settings.batch_size % settings.num_generations:
        raise FinetuneError(f"--batch-size ({settings.batch_size}) must be a multiple of --num-generations "
                            f"({settings.num_generations})")
    reward = reward or HarnessReward(settings.reward)
    data = prompt_dataset(tasks, reward.backend)
    bf16 = settings.bf16 if settings.bf16 is not None else bool(torch.cuda.is_available()
                                                                and torch.cuda.is_bf16_supported())
    tok = load_tokenizer(settings.base)
    model, peft_config = _model(settings, bf16)
    Path(settings.output_dir).mkdir(parents=True, exist_ok=True)
    args = GRPOConfig(
        output_dir=settings.output_dir, max_steps=settings.max_steps, learning_rate=settings.lr(),
        per_device_train_batch_size=settings.batch_size, gradient_accumulation_steps=settings.grad_accum,
        num_generations=settings.num_generations, max_completion_length=settings.max_completion_length,
        beta=settings.beta, temperature=settings.temperature, seed=settings.seed, bf16=bf16,
        logging_steps=settings.logging_steps, save_steps=settings.save_steps, report_to="none",
        dataloader_num_workers=0, **settings.extra,
    )
    trainer = GRPOTrainer(model=model, reward_funcs=[reward], args=args, train_dataset=data, processing_class=tok,
                          peft_config=peft_config, callbacks=callbacks)
    resume = last_checkpoint(settings.output_dir) if settings.resume else None
    trainer.train(resume_from_checkpoint=resume)
    trainer.save_model(settings.output_dir)
    tok.save_pretrained(settings.output_dir)
    adapter = settings.lora or bool(settings.adapter)
    rewards = tuple(float(h["reward"]) for h in trainer.state.log_history if "reward" in h)
    spec = f"local:{settings.base}+{settings.output_dir}" if adapter else f"local:{settings.output_dir}"
    result = GRPOResult(output_dir=settings.output_dir, adapter=adapter, global_step=int(trainer.state.global_step),
                        rewards=rewards, resumed_from=resume, operator_spec=spec)
    write_training_config(settings, result, method="grpo-lora" if adapter else "grpo-full")
    return result
