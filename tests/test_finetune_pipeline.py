"""The fine-tuning loop on CPU with no downloads: archive -> examples -> LoRA SFT -> `local:` operator -> Hub.

The base model is a random-initialised 2-layer Qwen2 (hidden 32) with a tokenizer
trained here (finetune.tiny). The archive is a real LocalStore holding the
built-in tasks' known-good CPU kernels plus a failed->fixed lineage pair. The push
goes to the stand-in Hub of the archive tests (tests/hub_standin.py) in a fresh
interpreter, as those tests do, because huggingface_hub reads HF_ENDPOINT at import.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from _finetune_fakes import known_good_rows, row, synthetic_kernel, synthetic_task
from finetune.cli import app
from finetune.examples import ExampleOptions, examples_from_store
from finetune.sft import SFTSettings, train_sft
from finetune.tiny import save_tiny_model
from harness.task import load_task
from hub.local_store import LocalStore
from hub_standin import StandinHub
from pipeline.operators import make_operator
from pipeline.prompts import build_messages, system_prompt
from pipeline.proposal import Proposal

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def archive_rows():
    t = synthetic_task(7)
    failed = row(t, synthetic_kernel(7).replace("empty_like", "undefined_fn"), "compile_error",
                 error="kernel.cpp:4:12: error: 'undefined_fn' is not a member of 'torch'")
    return known_good_rows() + [failed, row(t, synthetic_kernel(7), parent=failed)]


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory, archive_rows):
    corpus = [r.kernel_code for r in archive_rows] + [r.task_code for r in archive_rows] + [system_prompt("cpu")]
    return save_tiny_model(tmp_path_factory.mktemp("tiny-qwen2"), corpus)


@pytest.fixture(scope="module")
def archive(tmp_path_factory, archive_rows):
    store = LocalStore(tmp_path_factory.mktemp("ft") / "archive")
    store.append(archive_rows, "kernels for fine-tuning")
    return store


def test_loss_decreases_on_a_repeated_batch(tmp_path, tiny_base, archive):
    dd = examples_from_store(archive, options=ExampleOptions(eval_fraction=0.0))
    from datasets import DatasetDict

    same = DatasetDict(train=dd["train"].select([0] * 4), eval=dd["eval"])
    res = train_sft(SFTSettings(base=str(tiny_base), output_dir=str(tmp_path / "out"), max_steps=8, batch_size=2,
                                grad_accum=1, logging_steps=1, save_steps=1000, learning_rate=1e-2,
                                max_length=None, lora_r=8, lora_alpha=16, lora_dropout=0.0, warmup_ratio=0.0,
                                eval=False), same)
    assert res.global_step == 8 and len(res.losses) == 8
    assert res.losses[-1] < res.losses[0] - 0.05, res.losses
    assert min(res.losses) == pytest.approx(res.losses[-1], abs=0.01), res.losses
    # merging the adapter into the base (push --merge) gives the same model as base + adapter
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from finetune.push import merge_adapter

    merged_dir = merge_adapter(tmp_path / "out", tmp_path / "merged")
    assert not (merged_dir / "adapter_config.json").exists() and (merged_dir / "training_config.json").is_file()
    ids = torch.tensor([[5, 17, 42, 99, 7]])
    with torch.no_grad():
        peft_logits = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_base),
                                                str(tmp_path / "out"))(ids).logits
        merged_logits = AutoModelForCausalLM.from_pretrained(merged_dir)(ids).logits
        base_logits = AutoModelForCausalLM.from_pretrained(tiny_base)(ids).logits
    assert torch.allclose(peft_logits, merged_logits, atol=1e-4)
    assert not torch.allclose(base_logits, merged_logits, atol=1e-4)      # training changed the model


def test_archive_to_adapter_to_local_operator_to_stand_in_hub(tmp_path, tiny_base, archive):
    out = tmp_path / "adapter"
    # 1. dataset from the archive, split by task
    dd = examples_from_store(archive, options=ExampleOptions(eval_fraction=0.3))
    assert len(dd["train"]) and len(dd["eval"]) and not set(dd["train"]["task_id"]) & set(dd["eval"]["task_id"])
    assert "repair" in set(dd["train"]["kind"]) | set(dd["eval"]["kind"])
    # 2. LoRA SFT through the CLI, with a checkpoint to resume from
    r = CliRunner().invoke(app, ["sft", "--archive", str(archive.path), "--base", str(tiny_base), "--output",
                                 str(out), "--max-steps", "2", "--batch-size", "1", "--grad-accum", "1",
                                 "--eval-fraction", "0.3", "--license", "apache-2.0"])
    assert r.exit_code == 0, r.output
    assert (out / "adapter_config.json").is_file() and (out / "adapter_model.safetensors").is_file()
    assert (out / "checkpoint-2").is_dir()
    cfg = json.loads((out / "training_config.json").read_text())
    assert cfg["method"] == "sft-lora" and cfg["settings"]["target_modules"] == "all-linear"
    assert cfg["settings"]["datasets"] == [f"{archive.path}@{archive.head()}"]
    assert cfg["result"]["global_step"] == 2 and cfg["examples"]["train"]["examples"] == len(dd["train"])
    card = (out / "README.md").read_text()
    assert "\nlicense: apache-2.0\n" in card and "licence" not in card and f"base_model: {tiny_base}" in card
    # resuming continues from checkpoint-2 instead of starting over
    r = CliRunner().invoke(app, ["sft", "--archive", str(archive.path), "--base", str(tiny_base), "--output",
                                 str(out), "--max-steps", "3", "--batch-size", "1", "--grad-accum", "1",
                                 "--eval-fraction", "0.3"])
    assert r.exit_code == 0, r.output
    cfg = json.loads((out / "training_config.json").read_text())
    assert cfg["result"]["resumed_from"].endswith("checkpoint-2") and cfg["result"]["global_step"] == 3
    # 3. the adapter as the pipeline's operator
    from peft import PeftModel

    op = make_operator(f"local:{tiny_base}+{out}", temperature=0.0, max_tokens=6)
    task = load_task("level1/gelu")
    c = op.propose(Proposal(task=task, mode="translate", messages=tuple(build_messages("translate", task))))
    assert not c.error and c.completion_tokens > 0 and c.prompt_tokens > 100
    assert isinstance(op._model, PeftModel)          # the adapter was loaded on top of the base
    # 4. push adapter + card to the stand-in Hub
    hub = StandinHub(tmp_path / "hub", tokens={"hf_alice": "alice"}).start()
    try:
        env = {**os.environ, "HF_ENDPOINT": hub.endpoint, "HF_HUB_DISABLE_XET": "1", "HF_HUB_OFFLINE": "0",
               "HF_TOKEN": "hf_alice", "HF_HOME": str(tmp_path / "hf-home"), "HF_HUB_DISABLE_PROGRESS_BARS": "1",
               "HF_HUB_DISABLE_TELEMETRY": "1", "PYTHONPATH": str(ROOT)}
        p = subprocess.run([sys.executable, "-m", "finetune.cli", "push", str(out), "--repo", "alice/tiny-kernels",
                            "--license", "apache-2.0"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stdout + p.stderr[-4000:]
        calls = set(hub.requests)
        assert ("POST", "/api/models/alice/tiny-kernels/commit/main") in calls
        assert ("POST", "/alice/tiny-kernels.git/info/lfs/objects/batch") in calls   # weights went through LFS
        d = hub.repo_dir("models", "alice/tiny-kernels")
        head = hub.resolve(d, "main")
        files = {e["path"]: e for e in hub.entries(d, head) if e["type"] == "file"}
        assert {"README.md", "adapter_config.json", "adapter_model.safetensors", "tokenizer.json",
                "training_config.json"} <= set(files)
        assert not any(f.startswith("checkpoint-") for f in files) and "training_args.bin" not in files
        assert "lfs" in files["adapter_model.safetensors"]
        remote_card = hub.content(d, head, "README.md")[0].decode()
        assert "license: apache-2.0" in remote_card and "licence" not in remote_card
        assert f"local:{tiny_base}+alice/tiny-kernels" in remote_card
        local = (out / "adapter_model.safetensors").read_bytes()
        assert hub.content(d, head, "adapter_model.safetensors")[0] == local
    finally:
        hub.stop()


def test_cli_errors_are_one_clear_line(tmp_path, tiny_base, archive):
    r = CliRunner().invoke(app, ["sft", "--archive", str(archive.path), "--base", str(tiny_base), "--output",
                                 str(tmp_path / "o"), "--min-speedup", "100", "--no-repairs"])
    assert r.exit_code == 2 and "training split is empty" in " ".join(r.output.split())
    r = CliRunner().invoke(app, ["push", str(tmp_path), "--repo", "alice/x"])
    assert r.exit_code == 2 and "holds no adapter" in " ".join(r.output.split())


HUB_ARCHIVE_SCRIPT = """
import sys
sys.path.insert(0, sys.argv[1]); sys.path.insert(0, sys.argv[1] + "/tests")
from _finetune_fakes import known_good_rows
from finetune.cli import open_archive
from finetune.examples import ExampleOptions, examples_from_store
from hub.hub_store import HubStore

rows = known_good_rows()
commit = HubStore("alice/kernels").append(rows, "known-good kernels")
store, prov, rev = open_archive("alice/kernels", None)          # OWNER/NAME means the Hub
assert prov == f"alice/kernels@{commit}" and rev == commit, (prov, commit)
dd = examples_from_store(store, revision=rev, options=ExampleOptions(eval_fraction=0.0))
assert sorted(dd["train"]["task_id"]) == sorted(r.task_id for r in rows)
print("hub archive ok")
"""


def test_examples_from_a_hub_archive_with_its_revision(tmp_path):
    hub = StandinHub(tmp_path / "hub", tokens={"hf_alice": "alice"}).start()
    try:
        env = {**os.environ, "HF_ENDPOINT": hub.endpoint, "HF_HUB_DISABLE_XET": "1", "HF_HUB_OFFLINE": "0",
               "HF_DATASETS_OFFLINE": "0", "HF_TOKEN": "hf_alice", "HF_HOME": str(tmp_path / "hf-home"),
               "HF_DATASETS_CACHE": str(tmp_path / "ds-cache"), "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
        p = subprocess.run([sys.executable, "-c", HUB_ARCHIVE_SCRIPT, str(ROOT)], env=env, cwd=tmp_path,
                           capture_output=True, text=True, timeout=300)
        assert p.returncode == 0 and "hub archive ok" in p.stdout, p.stdout + p.stderr[-4000:]
    finally:
        hub.stop()


def test_the_loss_covers_the_completion_only_under_the_base_chat_template(tmp_path, tiny_base, archive):
    from transformers import AutoTokenizer

    from finetune.sft import make_trainer

    dd = examples_from_store(archive, options=ExampleOptions(eval_fraction=0.0))
    trainer = make_trainer(SFTSettings(base=str(tiny_base), output_dir=str(tmp_path / "o"), max_length=None,
                                       eval=False), dd)
    ex = dd["train"][0]
    tok = AutoTokenizer.from_pretrained(tiny_base)
    prompt = tok.apply_chat_template(ex["prompt"], add_generation_prompt=True, tokenize=True,
                                     return_dict=True)["input_ids"]
    full = tok.apply_chat_template(ex["prompt"] + ex["completion"], tokenize=True, return_dict=True)["input_ids"]
    batch = trainer.data_collator([trainer.train_dataset[0]])
    ids, labels = batch["input_ids"][0].tolist(), batch["labels"][0].tolist()
    assert ids == full                                          # tokenized with the base model's own template
    assert all(x == -100 for x in labels[:len(prompt)])        # no loss on the prompt
    assert labels[len(prompt):] == full[len(prompt):]          # loss on every completion token, EOS included
    assert full[-1] == tok.eos_token_id
