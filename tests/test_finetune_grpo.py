"""GRPO with the harness as the reward, on the CPU backend: the reward scale and one real GRPOTrainer step.

The known-good GELU kernel is compiled once into KERNEL_EVOLVE_CACHE (shared with
the harness tests); garbage completions get 0 without any compile.
"""
from __future__ import annotations

import json
import math

import pytest

from _pipeline_fakes import ENV
from finetune.grpo import GRPOSettings, prompt_dataset, train_grpo
from finetune.reward import HarnessReward, RewardConfig, score
from finetune.sft import FinetuneError
from finetune.tiny import save_tiny_model
from harness.task import known_good_kernel, load_task
from harness.types import Check, Stats, Timing, Verdict
from pipeline.prompts import build_messages, system_prompt

GELU = load_task("level1/gelu")
KNOWN_GOOD = known_good_kernel(GELU, "cpu").read_text()


def verdict(status="verified", speedup=None, flags=(), checks=(Check("compile", "pass"),), library_calls=()):
    timing = None
    if speedup is not None:
        timing = Timing(kernel=Stats(1 / speedup, 0.01, 1 / speedup, 1 / speedup, 9), eager=Stats(1, 0.01, 1, 1, 9),
                        compiled=None, speedup_eager=speedup, speedup_compile=None, method="perf_counter_ns")
    return Verdict(status=status, task_id="t", task_sha256="x", kernel_sha256="y", format="A", checks=checks,
                   flags=flags, env=ENV, timing=timing, library_calls=library_calls)


def test_reward_scale():
    cfg = RewardConfig()
    assert score(verdict(speedup=2.0)) == pytest.approx(1 + math.log(2.0))
    assert score(verdict(speedup=0.05)) == cfg.min_verified            # any verified kernel beats any wrong one
    assert score(verdict()) == 1.0                                      # verified, timing off
    assert score(verdict("incorrect", checks=(Check("compile", "pass"), Check("outputs", "fail")))) \
        == cfg.compile_reward
    assert score(verdict("compile_error", checks=(Check("compile", "fail", "error: x"),))) == 0.0
    assert score(verdict(speedup=50.0, flags=("library_call",), library_calls=("torch::matmul",))) \
        == cfg.compile_reward                                           # no kernel of its own
    assert score(verdict("rejected", speedup=400.0, flags=("implausible",),
                         checks=(Check("compile", "pass"), Check("plausibility", "fail")))) == cfg.hack_penalty
    assert score(verdict(speedup=3.0, flags=("static_cache",))) == cfg.hack_penalty
    assert score(verdict("rejected", checks=(Check("extract", "fail", "no code"),))) == 0.0


def test_harness_reward_judges_completions_in_the_isolated_runner():
    # timing off: a shared CPU makes the harness's eager-vs-kernel timing noisy; score() covers speedups
    rw = HarnessReward(RewardConfig(backend="cpu", size="small", timing=False))
    # a process-control call prepended, whatever the known-good kernel's format (A, or the K seed it now is)
    evil = "#include <cstdlib>\nstatic int once = std::system(\"true\");\n" + KNOWN_GOOD
    comps = [[{"role": "assistant", "content": f"Here it is:\n```cpp\n{KNOWN_GOOD}```"}],
             [{"role": "assistant", "content": "I cannot write kernels."}],
             [{"role": "assistant", "content": f"```cpp\n{evil}```"}]]
    rewards = rw([None] * 3, comps, [GELU.task_id] * 3, [GELU.source] * 3)
    assert rw.verdicts[0].status == "verified" and rewards[0] == 1.0
    assert rw.verdicts[1] is None and rewards[1] == 0.0                 # nothing to judge, nothing compiled
    assert rw.verdicts[2].status == "rejected" and rewards[2] == -1.0
    assert not any(c.name == "compile" for c in rw.verdicts[2].checks)  # refused before any build


class RecordingReward(HarnessReward):
    """The real harness reward, remembering what TRL passed it."""

    def __init__(self, config: RewardConfig):
        super().__init__(config)
        self.calls: list = []

    def __call__(self, prompts, completions, **kw):
        self.calls.append((prompts, completions, kw["task_id"]))
        return super().__call__(prompts, completions, **kw)


def test_one_grpo_step_with_the_harness_reward(tmp_path):
    base = save_tiny_model(tmp_path / "tiny", [GELU.source, KNOWN_GOOD, system_prompt("cpu")])
    spy = RecordingReward(RewardConfig(backend="cpu", size="small"))
    out = tmp_path / "grpo"
    res = train_grpo(GRPOSettings(base=str(base), output_dir=str(out), num_generations=2, batch_size=2,
                                  max_completion_length=8, max_steps=1, save_steps=100), ["level1/gelu"], reward=spy)
    assert res.global_step == 1 and res.rewards == (0.0,)
    (prompts, completions, task_ids), = spy.calls
    assert len(completions) == 2 and task_ids == ["level1/gelu"] * 2
    assert prompts[0] == build_messages("translate", GELU, backend="cpu")   # the pipeline's prompt
    assert spy.verdicts == [None, None]                                      # garbage: reward 0, no compile
    assert (out / "adapter_config.json").is_file()
    assert json.loads((out / "training_config.json").read_text())["method"] == "grpo-lora"


def test_grpo_input_errors():
    with pytest.raises(FinetuneError, match="multiple of --num-generations"):
        train_grpo(GRPOSettings(base="x", output_dir="y", num_generations=4, batch_size=6), ["level1/gelu"])
    with pytest.raises(FinetuneError, match="no tasks"):
        prompt_dataset([], "cpu")
