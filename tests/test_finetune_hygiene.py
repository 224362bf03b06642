"""Fine-tuning hygiene: over-long examples are dropped and counted (never truncated), and `finetune eval` scores the
held-out tasks unless told otherwise, saying so in the report and the model card."""
from __future__ import annotations

import dataclasses
import json

import pytest
from typer.testing import CliRunner

from finetune.cli import app
from finetune.evaluate import Metrics, report_of
from finetune.examples import ExampleOptions, examples_from_store, split_of
from finetune.heldout import HeldOutError, TaskSplit, choose_tasks, held_out_builtin, split_for
from finetune.sft import SFTSettings, make_trainer, token_count, train_sft
from finetune.tiny import save_tiny_model
from harness.task import builtin_tasks, load_task
from pipeline.prompts import system_prompt
from test_finetune_pipeline import archive, archive_rows, tiny_base  # noqa: F401  (module fixtures)


def test_examples_over_max_length_are_dropped_and_counted_not_truncated(tmp_path, tiny_base, archive):  # noqa: F811
    from transformers import AutoTokenizer

    dd = examples_from_store(archive, options=ExampleOptions(eval_fraction=0.0))
    tok = AutoTokenizer.from_pretrained(tiny_base)
    lengths = sorted(token_count(tok, ex["prompt"] + ex["completion"]) for ex in dd["train"])
    assert lengths[0] < lengths[-1]
    limit = lengths[len(lengths) // 2]                     # about half the examples are longer
    over = sum(n > limit for n in lengths)
    assert 0 < over < len(lengths)
    trainer = make_trainer(SFTSettings(base=str(tiny_base), output_dir=str(tmp_path / "o"), max_length=limit,
                                       eval=False), dd)
    assert trainer.dropped == {"train": over, "eval": 0}
    assert len(trainer.train_dataset) == len(lengths) - over
    kept = sorted(len(ex["input_ids"]) for ex in trainer.train_dataset)
    assert kept == [n for n in lengths if n <= limit]      # each kept example whole: nothing was cut
    # the count reaches the training record (and so the card)
    res = train_sft(SFTSettings(base=str(tiny_base), output_dir=str(tmp_path / "run"), max_length=limit,
                                max_steps=1, batch_size=1, grad_accum=1, eval=False, save_steps=1000), dd)
    assert (res.dropped_train, res.train_examples) == (over, len(lengths) - over)
    cfg = json.loads((tmp_path / "run" / "training_config.json").read_text())
    assert cfg["examples"]["train"]["dropped_over_max_length"] == over
    assert cfg["settings"]["eval_fraction"] == 0.1 and cfg["examples"]["train"]["task_ids"]


def test_all_examples_too_long_is_a_clear_error(tmp_path, tiny_base, archive):  # noqa: F811
    from finetune.sft import FinetuneError

    dd = examples_from_store(archive, options=ExampleOptions(eval_fraction=0.0))
    with pytest.raises(FinetuneError, match="longer than max_length=8 tokens .* raise --max-length"):
        make_trainer(SFTSettings(base=str(tiny_base), output_dir=str(tmp_path / "o"), max_length=8), dd)


def test_held_out_split_follows_the_training_record(tmp_path):
    default = split_for(None)
    held = held_out_builtin(default)
    assert held and set(held) < set(builtin_tasks())
    assert all(split_of(t, 0.1) == "eval" for t in held)
    # a model folder records its split: a task listed as trained on is refused even if its hash says eval
    folder = tmp_path / "adapter"
    folder.mkdir()
    (folder / "training_config.json").write_text(json.dumps({
        "settings": {"eval_fraction": 0.3, "split_salt": "kernel-evolve"},
        "examples": {"train": {"task_ids": [held[0]]}, "eval": {"task_ids": []}}}))
    split = split_for(folder)
    assert split == TaskSplit(0.3, "kernel-evolve", frozenset({held[0]}), recorded=True)
    assert held[0] not in held_out_builtin(split)
    with pytest.raises(HeldOutError, match="train split recorded with this model"):
        choose_tasks([held[0]], split)
    train_task = next(t for t in builtin_tasks() if split_of(t, 0.3) == "train")
    with pytest.raises(HeldOutError, match="--include-train-tasks"):
        choose_tasks([held[1], train_task], split)
    assert choose_tasks([held[1], train_task], split, include_train=True) == ([held[1], train_task], [train_task])
    assert choose_tasks([], split) == (held_out_builtin(split), [])
    with pytest.raises(HeldOutError, match="no built-in task falls in the held-out split"):
        choose_tasks([], TaskSplit(0.0, "kernel-evolve"))


def test_eval_cli_defaults_to_held_out_tasks_and_refuses_train_tasks(tmp_path):
    model = save_tiny_model(tmp_path / "model", [load_task("level1/tanh").source, system_prompt("cpu")])
    train_task = next(t for t in builtin_tasks() if split_of(t, 0.1) == "train")
    r = CliRunner().invoke(app, ["eval", str(model), "--tasks", train_task, "--backend", "cpu"])
    assert r.exit_code == 2 and "--include-train-tasks" in r.output and "Traceback" not in r.output, r.output
    r = CliRunner().invoke(app, ["eval", str(model), "--backend", "cpu", "--size", "small", "--max-new-tokens", "2",
                                 "--no-card", "--json", str(tmp_path / "held.json")])
    assert r.exit_code == 0, r.output
    rep = json.loads((tmp_path / "held.json").read_text())
    assert sorted({s["task_id"] for s in rep["samples"]}) == sorted(held_out_builtin(split_for(None)))
    assert rep["train_tasks"] == []


def test_card_says_when_train_tasks_were_scored(tmp_path):
    from finetune.card import render_model_card

    m = Metrics("level_1", 1, 1, 0.0, 0.0, {1: 0.0}, {0.0: 0.0})
    clean = dataclasses.replace(report_of("local:x", "cpu", 1, [], (1,), (0.0,)), levels=(m,), overall=m)
    mixed = dataclasses.replace(clean, train_tasks=("level1/gelu",))
    kw = dict(model_name="m", base_model="unknown", adapter=True, license="apache-2.0")
    assert "Every task evaluated is in the held-out split" in render_model_card(**kw, report=clean)
    text = render_model_card(**kw, report=mixed)
    assert "include 1 task(s) of the training split" in text and "level1/gelu" in text
