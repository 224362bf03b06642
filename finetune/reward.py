"""The GRPO reward: each completion judged by the harness, in its isolated runner.

This module owns the reward scale. A completion is extracted as the pipeline
does, built and run through `harness.judge.verify` (every candidate in its own
sandboxed process), and scored from the verdict:

- no code, or it does not compile: 0;
- compiles but is wrong, crashes or times out: `compile_reward` (partial credit);
- verified: 1 + log(speedup vs eager), floored at `min_verified` so any verified
  kernel beats any wrong one (1 when timing is off);
- verified but only calling library ops (flag `library_call`): `compile_reward`,
  since it is no kernel;
- flagged as a hack (implausible speed, timing escape, static caches, side
  streams, deferred work) or rejected by the harness: `hack_penalty` (strongly
  negative), so the policy never learns that gaming the judge pays.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

from harness.judge.options import DEFAULT as VERIFY
from harness.task import TaskError, parse_task_source
from finetune.evaluate import candidate_format
from harness.types import Candidate, TaskRef, Verdict
from pipeline.extract import ExtractError, extract_code

HACK_FLAGS = frozenset({"implausible", "timing_escape", "static_cache", "extra_stream", "deferred_work"})


@dataclass(frozen=True)
class RewardConfig:
    backend: str = "auto"
    size: str = "default"
    seeds: int = 2
    timing: bool = True
    compile_baseline: bool = False
    timeout_s: float = VERIFY.timeout_s
    compile_reward: float = 0.2
    min_verified: float = 0.5
    hack_penalty: float = -1.0
    workers: int = 2


def score(verdict: Verdict, cfg: RewardConfig = RewardConfig()) -> float:
    """The reward of one judged candidate (see the module docstring)."""
    flags = set(verdict.flags)
    if flags & HACK_FLAGS:
        return cfg.hack_penalty
    compiled = any(c.name == "compile" and c.outcome == "pass" for c in verdict.checks)
    if verdict.status == "rejected":
        only_extract = all(c.name == "extract" for c in verdict.failed_checks)
        return 0.0 if only_extract else cfg.hack_penalty
    if verdict.status == "compile_error" or not compiled:
        return 0.0
    if verdict.status != "verified":
        return cfg.compile_reward
    if "library_call" in flags or verdict.library_calls:
        return cfg.compile_reward
    s = verdict.timing.speedup_eager if verdict.timing is not None else None
    if s is None or not math.isfinite(s) or s <= 0:
        return 1.0
    return max(cfg.min_verified, 1.0 + math.log(s))


def completion_text(completion: Any) -> str:
    """The assistant's text of a TRL completion (conversational message list or plain string)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Sequence) and completion:
        last = completion[-1]
        return last.get("content", "") if isinstance(last, dict) else str(last)
    return ""


class HarnessReward:
    """A TRL reward function: `(prompts, completions, task_id, task_source, **kw) -> list[float]`."""

    __name__ = "harness_reward"   # TRL names the logged reward after the function

    def __init__(self, config: RewardConfig = RewardConfig(), executor: Any = None):
        from harness.executors.factory import make_executor
        from harness.judge.reference import resolve_backend

        self.config = config
        self.backend = resolve_backend(config.backend)
        self.executor = executor or make_executor("local", backend=self.backend, workers=config.workers)
        self.verdicts: list[Verdict | None] = []     # the last batch's verdicts (None: nothing to judge)
        self._tasks: dict[tuple[str, str], TaskRef] = {}

    def task(self, task_id: str, source: str) -> TaskRef:
        key = (task_id, source)
        if key not in self._tasks:
            self._tasks[key] = parse_task_source(source, task_id=task_id)
        return self._tasks[key]

    def __call__(self, prompts: list, completions: list, task_id: list[str], task_source: list[str],
                 **kw: Any) -> list[float]:
        c = self.config
        verify_kw = dict(backend=self.backend, seeds=c.seeds, size=c.size, timing=c.timing,
                         compile_baseline=c.compile_baseline, timeout_s=c.timeout_s)
        futures: list[Any] = []
        for comp, tid, src in zip(completions, task_id, task_source):
            try:
                code = extract_code(completion_text(comp), "cpp")
                cand = Candidate(task=self.task(tid, src), source=code, format=candidate_format(code), name="grpo")
                futures.append(self.executor.submit(cand, **verify_kw))
            except (ExtractError, TaskError):
                futures.append(None)
        self.verdicts = [f.result() if f is not None else None for f in futures]
        return [score(v, c) if v is not None else 0.0 for v in self.verdicts]
