"""LoRA SFT throughput benchmark: tokens/s and peak GPU memory for a Qwen2-0.5B-shaped model with random weights.

Run on a GPU box: `python -m finetune.bench_sft [--seq 2048] [--batch 4] [--steps 20] [--json out.json]`.
Nothing is downloaded: the model is built from a config (finetune.tiny.qwen2_config("0.5b"), Qwen2's
151,936-token vocabulary) and fed random token ids of a fixed length, with the loss on the second half
of each sequence (the "completion"), as in completion-only SFT.

Two modes, reported in the output:
- `trl`: `trl.SFTTrainer` + PEFT LoRA (all-linear) on a pre-tokenized `datasets.Dataset`; the time of
  each optimizer step is measured by a callback (CUDA-synchronized). Used when trl and datasets import.
- `plain`: the same model, LoRA config and batch in a hand-written transformers + peft loop
  (forward, backward, AdamW step). Used when trl or datasets is missing (or with `--plain`); it has
  no Trainer overhead, so its figure is an upper bound for what SFTTrainer reaches.
Not a test: it prints one JSON line and a Markdown row for BENCHMARKS.md.
On an offline GPU box that lacks trl/datasets: `bash scripts/gpu_wheels.sh` here, carry `.whl`, and there
`pip install --no-index --no-deps --target /tmp/site .whl/*.whl && PYTHONPATH=/tmp/site python3 -m finetune.bench_sft`.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from typing import Any

QWEN2_VOCAB = 151936


def _sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def build(size: str, device: str, bf16: bool, vocab: int, grad_ckpt: bool):
    import torch
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM

    from finetune.tiny import qwen2_config

    torch.manual_seed(0)
    cfg = qwen2_config(size, vocab)
    model = AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16 if bf16 else torch.float32).to(device)
    if grad_ckpt:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM")
    return model, lora


def batch(seq: int, bsz: int, vocab: int, device: str, seed: int):
    import torch

    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(10, vocab, (bsz, seq), generator=g)
    labels = ids.clone()
    labels[:, : seq // 2] = -100                       # loss on the completion half only
    return ids.to(device), labels.to(device)


def run_plain(a: argparse.Namespace, device: str, bf16: bool) -> dict[str, Any]:
    import torch
    from peft import get_peft_model

    model, lora = build(a.size, device, bf16, a.vocab, a.grad_ckpt)
    model = get_peft_model(model, lora)
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-4)
    times = []
    for step in range(a.warmup + a.steps):
        ids, labels = batch(a.seq, a.batch, a.vocab, device, step)
        _sync(device)
        t0 = time.perf_counter()
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=bf16 and device == "cuda"):
            loss = model(input_ids=ids, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        _sync(device)
        if step >= a.warmup:
            times.append(time.perf_counter() - t0)
    return {"step_times_s": times, "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "total_params": sum(p.numel() for p in model.parameters())}


def run_trl(a: argparse.Namespace, device: str, bf16: bool) -> dict[str, Any]:
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from finetune.tiny import build_tokenizer

    model, lora = build(a.size, device, bf16, a.vocab, a.grad_ckpt)
    tok = build_tokenizer(["pad"], vocab_size=300)      # only its pad/eos ids are used: the data is pre-tokenized
    n = a.batch * (a.warmup + a.steps)
    rows = [batch(a.seq, 1, a.vocab, "cpu", i)[0][0].tolist() for i in range(n)]
    half = a.seq // 2
    data = Dataset.from_dict({"input_ids": rows, "completion_mask": [[0] * half + [1] * (a.seq - half)] * n})
    times: list[float] = []

    class Timer(TrainerCallback):
        def on_step_begin(self, args, state, control, **kw):
            _sync(device)
            self.t0 = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            _sync(device)
            if state.global_step > a.warmup:
                times.append(time.perf_counter() - self.t0)

    cfg = SFTConfig(output_dir=a.out_dir, max_steps=a.warmup + a.steps, per_device_train_batch_size=a.batch,
                    learning_rate=2e-4, bf16=bf16 and device == "cuda", logging_steps=1000, save_strategy="no",
                    report_to="none", max_length=a.seq, packing=False, completion_only_loss=True,
                    dataloader_num_workers=0, use_cpu=device == "cpu", gradient_checkpointing=a.grad_ckpt)
    trainer = SFTTrainer(model=model, args=cfg, train_dataset=data, processing_class=tok, peft_config=lora,
                         callbacks=[Timer()])
    trainer.train()
    m = trainer.model
    return {"step_times_s": times, "trainable_params": sum(p.numel() for p in m.parameters() if p.requires_grad),
            "total_params": sum(p.numel() for p in m.parameters())}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")      # nothing is fetched: never wait on the Hub (offline GPU boxes)
    import torch

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="0.5b", choices=["0.5b", "tiny"])
    p.add_argument("--seq", type=int, default=2048)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--vocab", type=int, default=QWEN2_VOCAB)
    p.add_argument("--grad-ckpt", action="store_true", help="gradient checkpointing")
    p.add_argument("--plain", action="store_true", help="force the plain transformers+peft loop")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cuda", "cpu"])
    p.add_argument("--out-dir", default="/tmp/ke-bench-sft")
    p.add_argument("--json", default=None, help="also write the result here")
    a = p.parse_args(argv)
    bf16 = a.device == "cuda" and torch.cuda.is_bf16_supported()
    mode, why = "plain", "forced with --plain"
    if not a.plain:
        import importlib.util

        missing = [m for m in ("trl", "datasets") if importlib.util.find_spec(m) is None]
        if missing:
            why = f"{', '.join(missing)} not installed: plain transformers+peft loop (no Trainer overhead)"
        else:
            try:
                import datasets  # noqa: F401
                from trl import SFTConfig, SFTTrainer  # noqa: F401
                mode, why = "trl", "trl.SFTTrainer"
            except Exception as e:                     # e.g. a trl too new for this transformers: say so, still measure
                why = f"trl/datasets failed to import ({type(e).__name__}: {e}): plain transformers+peft loop"
    if a.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    res = (run_trl if mode == "trl" else run_plain)(a, a.device, bf16)
    t = res.pop("step_times_s")
    if not t:
        raise SystemExit("no timed steps: raise --steps")
    med = statistics.median(t)
    import peft
    import transformers

    out = {
        "mode": mode, "mode_reason": why, "size": a.size, "seq": a.seq, "batch": a.batch, "timed_steps": len(t),
        "grad_ckpt": a.grad_ckpt, "dtype": "bf16" if bf16 else "fp32", "lora": "r16 all-linear",
        "median_step_s": med, "tokens_per_s": a.seq * a.batch / med,
        "peak_mem_gib": torch.cuda.max_memory_allocated() / 2**30 if a.device == "cuda" else None,
        "device": torch.cuda.get_device_name() if a.device == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__, **res,
    }
    if mode == "trl":
        import datasets
        import trl

        out.update(trl=trl.__version__, datasets=datasets.__version__)
    print(json.dumps(out))
    mem = f"{out['peak_mem_gib']:.1f} GiB" if out["peak_mem_gib"] is not None else "n/a"
    print(f"| LoRA SFT ({mode}) | {a.size} Qwen2 config, random init | seq {a.seq} x batch {a.batch}, {out['dtype']}"
          f"{', grad ckpt' if a.grad_ckpt else ''} | {out['tokens_per_s']:.0f} tok/s | {mem} | {out['device']} |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=2)
    return out


if __name__ == "__main__":
    main()
