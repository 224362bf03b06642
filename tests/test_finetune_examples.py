"""Archive rows -> TRL prompt/completion examples: filters, best/top-k, repairs from lineage, the task split."""
from __future__ import annotations

import pytest

from _finetune_fakes import known_good_rows, row, synthetic_kernel, synthetic_task
from finetune.examples import (ExampleError, ExampleOptions, build_examples, build_records, examples_from_store,
                               split_of)
from hub.local_store import LocalStore
from pipeline.prompts import build_messages, summarize_verdict


def test_translation_examples_use_the_pipeline_prompt_and_only_honest_fast_kernels():
    t = synthetic_task(1)
    fast, slow = row(t, synthetic_kernel(1, 0), speedup=3.0), row(t, synthetic_kernel(1, 1), speedup=1.2)
    lib = row(synthetic_task(2), synthetic_kernel(2), speedup=9.0, flags=("library_call",),
              library_calls=("torch::matmul",))
    wrong = row(synthetic_task(3), synthetic_kernel(3), "incorrect")
    opts = ExampleOptions(eval_fraction=0.0, repairs=False)
    recs = build_records([slow, fast, lib, wrong], opts)["train"]
    assert [r["kernel_sha256"] for r in recs] == [fast.kernel_sha256]        # best per task, no hacks, no failures
    ex = recs[0]
    assert ex["prompt"] == build_messages("translate", t, backend="cpu")    # what the operator will be asked
    assert ex["completion"] == [{"role": "assistant", "content": f"```cpp\n{fast.kernel_code.rstrip()}\n```"}]
    top2 = build_records([slow, fast, lib], ExampleOptions(eval_fraction=0.0, repairs=False, top_k=2))["train"]
    assert [r["speedup"] for r in top2] == [3.0, 1.2]
    allowed = build_records([lib], ExampleOptions(eval_fraction=0.0, allow_library_calls=True))["train"]
    assert len(allowed) == 1
    assert build_records([slow, fast], ExampleOptions(eval_fraction=0.0, min_speedup=5.0))["train"] == []
    assert len(build_records([slow, fast], ExampleOptions(eval_fraction=0.0, min_speedup=2.0))["train"]) == 1


def test_repair_examples_carry_the_failed_kernel_and_its_verdict_feedback():
    t = synthetic_task(4)
    broken = synthetic_kernel(4).replace("empty_like", "undefined_fn")
    failed = row(t, broken, "compile_error", error="kernel.cpp:4:12: error: 'undefined_fn' is not a member of 'torch'")
    fixed = row(t, synthetic_kernel(4), parent=failed, speedup=1.1)
    orphan = row(synthetic_task(5), synthetic_kernel(5), parent=failed)     # a parent of another task: no pair
    recs = build_records([failed, fixed, orphan], ExampleOptions(eval_fraction=0.0, min_speedup=2.0))["train"]
    repairs = [r for r in recs if r["kind"] == "repair"]
    assert len(repairs) == 1 and repairs[0]["parent_sha256"] == failed.kernel_sha256
    from harness.types import Verdict
    feedback = summarize_verdict(Verdict.from_json(failed.verdict_json))
    assert "undefined_fn" in feedback
    assert repairs[0]["prompt"] == build_messages("translate", t, backend="cpu", previous=broken, feedback=feedback)
    assert repairs[0]["completion"][0]["content"].startswith("```cpp\n#include <torch/extension.h>")
    # min_speedup filters translation targets, not repairs: a slow fix still teaches how to fix
    assert not [r for r in recs if r["kind"] == "translate"]
    no_repairs = build_records([failed, fixed], ExampleOptions(eval_fraction=0.0, repairs=False))["train"]
    assert [r["kind"] for r in no_repairs] == ["translate"]


def test_task_split_never_leaks_and_is_stable():
    rows = []
    for i in range(60):
        t = synthetic_task(i, level=1 + i % 3)
        failed = row(t, synthetic_kernel(i, 9).replace("*", "/"), "incorrect")
        rows += [row(t, synthetic_kernel(i, 0), speedup=1.0 + i / 10), row(t, synthetic_kernel(i, 1), parent=failed),
                 failed]
    opts = ExampleOptions(eval_fraction=0.3, top_k=2)
    dd = build_examples(rows, options=opts)
    train, evald = set(dd["train"]["task_id"]), set(dd["eval"]["task_id"])
    assert train and evald and not train & evald                  # no task in both splits
    assert 8 <= len(evald) <= 30                                  # about 30% of 60 tasks
    assert {"translate", "repair"} <= set(dd["eval"]["kind"])     # repairs follow their task's split
    for s in ("train", "eval"):
        assert all(split_of(tid, 0.3) == s for tid in dd[s]["task_id"])
    # a task's split depends on its id alone: a subset of the archive splits the same way
    sub = build_examples(rows[::7], options=opts)
    assert set(sub["eval"]["task_id"]) <= evald and set(sub["train"]["task_id"]) <= train
    # another salt moves tasks, deterministically
    other = build_examples(rows, options=ExampleOptions(eval_fraction=0.3, split_salt="x"))
    assert set(other["eval"]["task_id"]) != evald
    assert set(build_examples(rows, options=ExampleOptions(eval_fraction=0.3, split_salt="x"))["eval"]["task_id"]) \
        == set(other["eval"]["task_id"])


def test_examples_from_a_local_archive_with_real_known_good_kernels(tmp_path):
    store = LocalStore(tmp_path / "archive")
    rows = known_good_rows()
    store.append(rows, "known-good kernels")
    dd = examples_from_store(store, options=ExampleOptions(eval_fraction=0.0))
    assert len(dd["train"]) == len(rows) >= 6 and len(dd["eval"]) == 0
    assert set(dd["train"]["task_id"]) == {r.task_id for r in rows}
    assert dd["train"].features["prompt"] == dd["eval"].features["prompt"]     # an empty split keeps its columns


def test_bad_options_are_clear_errors():
    with pytest.raises(ExampleError, match="top_k"):
        ExampleOptions(top_k=0)
    with pytest.raises(ExampleError, match="eval_fraction"):
        ExampleOptions(eval_fraction=1.5)
    with pytest.raises(ExampleError, match="split by task"):
        build_examples([], split_by="random")
