"""Evaluation of a (fine-tuned) model as a kernel writer: generate through the pipeline, judge through the harness.

This module owns the eval loop and its metrics. For each task it asks the
operator (`local:BASE+ADAPTER`, `local:MODEL`, or any `hf:` spec) for `n`
translations with the pipeline's own translate prompt, extracts the code as the
pipeline does, verifies every sample with `harness.judge.verify` (each in the isolated
runner), and reports per level and overall:

- compile rate: samples whose kernel compiled;
- correct rate: samples with status `verified`;
- pass@k: the unbiased estimator 1 - C(n-c, k) / C(n, k) per task, averaged;
- fast_p: the expected share of tasks a single sample solves correctly *and*
  faster than eager by more than p (KernelBench's fast_p, averaged over the n
  samples of each task).
"""
from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

from harness.judge.options import DEFAULT as VERIFY
from harness.task import load_task
from harness.types import Candidate, TaskRef, Verdict
from pipeline.extract import ExtractError, extract_code
from pipeline.prompts import build_messages
from pipeline.proposal import Proposal


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for n samples of which c are correct: 1 - C(n-c, k) / C(n, k)."""
    if n <= 0 or k <= 0 or k > n:
        raise ValueError(f"pass@k needs 0 < k <= n (got n={n}, k={k})")
    if c < 0 or c > n:
        raise ValueError(f"c must be in [0, n] (got c={c}, n={n})")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


@dataclass(frozen=True)
class Sample:
    """One generated kernel and how the harness judged it."""

    task_id: str
    level: int
    index: int
    status: str                  # a harness status, or "rejected" when no code could be extracted
    compiled: bool
    correct: bool
    speedup: float | None
    flags: tuple[str, ...] = ()
    error: str = ""


@dataclass(frozen=True)
class Metrics:
    """Aggregates over a set of tasks (one level, or all)."""

    name: str                    # "level_1", ..., or "all"
    tasks: int
    samples: int
    compile_rate: float
    correct_rate: float
    pass_at: dict[int, float] = field(default_factory=dict)
    fast_p: dict[float, float] = field(default_factory=dict)


@dataclass(frozen=True)
class EvalReport:
    model: str
    backend: str
    n: int
    ks: tuple[int, ...]
    ps: tuple[float, ...]
    levels: tuple[Metrics, ...]
    overall: Metrics
    samples: tuple[Sample, ...]
    train_tasks: tuple[str, ...] = ()    # tasks of the model's train split scored anyway (--include-train-tasks)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, default=str)


def candidate_format(code: str) -> str:
    """The format of a generated kernel (A, or K when it answers with a `ke_launch` launcher); A when unclear,
    which is what the prompt asks for, so the harness judges it and says what is wrong."""
    from harness.candidate import CandidateError, detect_format

    try:
        return detect_format(code)
    except CandidateError:
        return "A"


def compiled_of(v: Verdict) -> bool:
    return any(c.name == "compile" and c.outcome == "pass" for c in v.checks)


def sample_of(task: TaskRef, index: int, v: Verdict) -> Sample:
    s = v.timing.speedup_eager if v.timing is not None else None
    return Sample(task_id=task.task_id, level=task.level, index=index, status=v.status, compiled=compiled_of(v),
                  correct=v.status == "verified", speedup=s, flags=tuple(v.flags), error=v.error[:500])


def aggregate(name: str, samples: Sequence[Sample], ks: Sequence[int], ps: Sequence[float]) -> Metrics:
    by_task: dict[str, list[Sample]] = defaultdict(list)
    for s in samples:
        by_task[s.task_id].append(s)
    total = len(samples)
    pass_at = {}
    for k in ks:
        vals = [pass_at_k(len(ss), sum(s.correct for s in ss), k) for ss in by_task.values() if len(ss) >= k]
        if vals:
            pass_at[k] = sum(vals) / len(vals)
    fast_p = {}
    for p in ps:
        per_task = [sum(s.correct and s.speedup is not None and s.speedup > p for s in ss) / len(ss)
                    for ss in by_task.values()]
        fast_p[p] = sum(per_task) / len(per_task) if per_task else 0.0
    return Metrics(name=name, tasks=len(by_task), samples=total,
                   compile_rate=sum(s.compiled for s in samples) / total if total else 0.0,
                   correct_rate=sum(s.correct for s in samples) / total if total else 0.0,
                   pass_at=pass_at, fast_p=fast_p)


def report_of(model: str, backend: str, n: int, samples: Sequence[Sample], ks: Sequence[int] = (1,),
              ps: Sequence[float] = (0.0, 1.0)) -> EvalReport:
    by_level: dict[int, list[Sample]] = defaultdict(list)
    for s in samples:
        by_level[s.level].append(s)
    levels = tuple(aggregate(f"level_{lv}" if lv > 0 else "level_0", by_level[lv], ks, ps) for lv in sorted(by_level))
    return EvalReport(model=model, backend=backend, n=n, ks=tuple(ks), ps=tuple(ps), levels=levels,
                      overall=aggregate("all", samples, ks, ps), samples=tuple(samples))


def failed_verdict(task: TaskRef, text: str, reason: str, backend: str) -> Verdict:
    from pipeline.stages import failure_verdict

    return failure_verdict(task, text, reason, backend)


def evaluate(model: str, tasks: Sequence[str | TaskRef], *, n: int = 1, ks: Sequence[int] = (1,),
             ps: Sequence[float] = (0.0, 1.0), backend: str = "auto", size: str = "default", seeds: int = VERIFY.seeds,
             temperature: float = 0.7, max_new_tokens: int = 2048, timing: bool = True,
             compile_baseline: bool = False, timeout_s: float = VERIFY.timeout_s, operator: Any = None,
             executor: Any = None, progress: Callable[[Sample], None] | None = None) -> EvalReport:
    """Generate `n` kernels per task with the model and judge them; see the module docstring for the metrics.

    `model` is an operator spec (`local:BASE+ADAPTER`, `local:MODEL`, `hf:...`) unless `operator` is given.
    """
    from harness.executors.factory import make_executor
    from harness.judge.reference import resolve_backend
    from pipeline.operators import make_operator

    if n < 1 or any(k > n for k in ks):
        raise ValueError(f"every k of pass@k must be at most n={n} samples per task (got ks={list(ks)})")
    backend = resolve_backend(backend)
    op = operator or make_operator(model, temperature=temperature if n > 1 else 0.0, max_tokens=max_new_tokens)
    refs = [t if isinstance(t, TaskRef) else load_task(t) for t in tasks]
    own = executor is None
    ex = executor or make_executor("local", backend=backend)
    kw = dict(backend=backend, seeds=seeds, size=size, timing=timing, compile_baseline=compile_baseline,
              timeout_s=timeout_s)
    samples: list[Sample] = []
    answered = False
    try:
        for task in refs:
            if not task.functional:
                raise ValueError(f"task {task.task_id} has no functional form (module_fn); evaluate functional "
                                 "tasks (every built-in task is one) or functionalize it with the pipeline first")
            msgs = build_messages("translate", task, backend=backend)
            pending = []
            for i in range(n):
                c = op.propose(Proposal(task=task, mode="translate", messages=tuple(msgs), stage="translate",
                                        variant=i))
                if c.error and not answered:     # a model that cannot load is an error, not a score of 0
                    raise ValueError(f"the model could not answer: {c.error}")
                answered = True
                try:
                    if c.error:
                        raise ExtractError(f"the operator failed: {c.error}")
                    code = extract_code(c.text, "cpp")
                    pending.append((i, ex.submit(Candidate(task=task, source=code, format=candidate_format(code),
                                                           name=f"eval-{i}"), **kw)))
                except ExtractError as e:
                    pending.append((i, failed_verdict(task, c.text, str(e), backend)))
            for i, fut in pending:
                v = fut if isinstance(fut, Verdict) else fut.result()
                s = sample_of(task, i, v)
                samples.append(s)
                if progress:
                    progress(s)
    finally:
        if own:
            ex.shutdown()
    return report_of(getattr(op, "name", model), backend, n, samples, ks, ps)
