"""Evaluation: the pass@k estimator, metrics from real harness verdicts, and eval results in the model card."""
from __future__ import annotations

import json
from itertools import combinations
from math import comb

import pytest
from typer.testing import CliRunner

from finetune.card import write_model_card
from finetune.cli import app
from finetune.evaluate import Sample, aggregate, evaluate, pass_at_k
from finetune.tiny import save_tiny_model
from harness.task import known_good_kernel, load_task
from pipeline.operators.scripted import ScriptedOperator
from pipeline.prompts import build_messages, system_prompt


def test_pass_at_k_is_the_unbiased_estimator():
    for n in range(1, 7):
        for c in range(n + 1):
            for k in range(1, n + 1):
                # the chance that a random k-subset of n samples (c correct) holds a correct one
                outcomes = [1] * c + [0] * (n - c)
                exact = sum(any(outcomes[i] for i in s) for s in combinations(range(n), k)) / comb(n, k)
                assert pass_at_k(n, c, k) == pytest.approx(exact)
    with pytest.raises(ValueError, match="k <= n"):
        pass_at_k(2, 1, 3)


def test_evaluate_with_real_verdicts_per_level():
    gelu, arm = load_task("level1/gelu"), load_task("level2/add_relu_mul")
    good = {t.task_id: known_good_kernel(t, "cpu").read_text() for t in (gelu, arm)}

    def answer(p):
        if p.task.task_id == gelu.task_id and p.variant == 1:
            return "Sorry, no kernel today."
        return f"```cpp\n{good[p.task.task_id]}```"

    op = ScriptedOperator(answer)
    # timing off: on a shared CPU the harness's timing checks are noisy (eager vs kernel), and these
    # metrics are about correctness; fast_p is covered on constructed samples below
    rep = evaluate("scripted", [gelu.task_id, arm.task_id], n=2, ks=(1, 2), ps=(0.0,), backend="cpu",
                   size="small", seeds=2, operator=op, timing=False)
    assert [r.messages for r in op.requests[:1]] == [tuple(build_messages("translate", gelu, backend="cpu"))]
    l1, l2 = rep.levels
    assert all(s.correct for s in rep.samples if s.task_id == arm.task_id), rep.samples
    assert (l1.name, l1.tasks, l1.samples) == ("level_1", 1, 2)
    assert l1.compile_rate == l1.correct_rate == 0.5
    assert l1.pass_at == {1: 0.5, 2: 1.0}
    assert l2.correct_rate == 1.0 and l2.pass_at[1] == 1.0
    assert l2.fast_p[0.0] == 0.0          # no speedup was measured, so nothing counts as fast
    assert rep.overall.samples == 4 and rep.overall.correct_rate == 0.75 and rep.overall.pass_at[1] == 0.75
    assert [s.status for s in rep.samples] == ["verified", "rejected", "verified", "verified"]


def test_fast_p_counts_correct_samples_faster_than_p_per_task():
    mk = lambda tid, i, ok, sp: Sample(tid, 1, i, "verified" if ok else "incorrect", True, ok, sp)  # noqa: E731
    samples = [mk("a", 0, True, 1.5), mk("a", 1, True, 0.8), mk("b", 0, False, None), mk("b", 1, True, 3.0),
               mk("c", 0, True, None), mk("c", 1, True, 1.2)]
    m = aggregate("level_1", samples, ks=(1, 2), ps=(0.0, 1.0, 2.0))
    assert m.fast_p == {0.0: pytest.approx((1 + 0.5 + 0.5) / 3), 1.0: pytest.approx((0.5 + 0.5 + 0.5) / 3),
                        2.0: pytest.approx(0.5 / 3)}
    assert m.pass_at == {1: pytest.approx((1 + 0.5 + 1) / 3), 2: 1.0} and m.correct_rate == pytest.approx(5 / 6)


def test_eval_cli_writes_model_index_into_the_card(tmp_path):
    from huggingface_hub import ModelCard

    task = load_task("level1/tanh")   # a held-out task: `finetune eval` refuses train-split tasks by default
    model = save_tiny_model(tmp_path / "model", [task.source, system_prompt("cpu")])
    r = CliRunner().invoke(app, ["eval", str(model), "--tasks", "level1/tanh", "-n", "2", "-k", "1", "-k", "2",
                                 "--backend", "cpu", "--size", "small", "--max-new-tokens", "4",
                                 "--json", str(tmp_path / "r.json")])
    assert r.exit_code == 0, r.output
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["model"] == f"local:{model}" and rep["overall"]["samples"] == 2
    assert rep["overall"]["correct_rate"] == 0.0 and rep["overall"]["pass_at"] == {"1": 0.0, "2": 0.0}
    card = ModelCard.load(model / "README.md")
    assert card.data.license == "other" and "licence" not in card.content
    metrics = {(e.dataset_split, e.metric_type): e.metric_value for e in card.data.eval_results}
    assert metrics[("level_1", "pass@2")] == 0.0 and metrics[("all", "compile_rate")] == 0.0
    assert "| level_1 | 1 | 2 | 0.000 | 0.000 | 0.000 | 0.000 |" in card.content
    # the card is rebuilt from the folder: a later write keeps the eval results
    write_model_card(model, license="apache-2.0")
    again = ModelCard.load(model / "README.md")
    assert again.data.license == "apache-2.0" and len(again.data.eval_results) == len(card.data.eval_results)


def test_a_model_that_cannot_load_is_a_clear_error(tmp_path):
    r = CliRunner().invoke(app, ["eval", f"local:{tmp_path / 'missing'}", "--tasks", "level1/tanh",
                                 "--backend", "cpu"])
    assert r.exit_code == 2 and "could not answer" in " ".join(r.output.split())
