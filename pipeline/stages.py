"""Sakana's stages as functions: functionalize, translate (or seed), and one optimize generation.

Each stage asks the operator for text, extracts code, judges it through the
harness (an `Executor`, or `check_functional` for stage 1) and hands every
result to the run's `record` hook, which persists it before anything else
happens. Failed attempts go back to the operator as designed feedback for up
to `repairs` more tries. Nothing here touches files or the archive.
"""
from __future__ import annotations

import torch
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import Any, Callable

from harness.candidate import CandidateError, detect_format
from harness.task import TaskError, parse_task_source
from harness.types import Candidate, Check, Env, TaskRef, Verdict, sha256_text
from harness.executors.local import Executor
from pipeline.extract import ExtractError, apply_diff, extract_code
from pipeline.operators import Operator
from pipeline.population import SIMILARITY_THRESHOLD, Member, Population, source_hash
from pipeline.prompts import Shot, build_messages, summarize_verdict
from pipeline.proposal import Completion, Proposal
from pipeline.starter import StartingKernel
from pipeline.strategy import SearchStrategy


class Stop(Exception):
    """A budget ran out; the message says which."""


@dataclass
class Context:
    operator: Operator
    executor: Executor
    check_functional: Callable[..., Verdict]
    verify_kw: dict[str, Any]
    backend: str                                    # resolved: "cpu" or "cuda"
    repairs: int
    record: Callable[[Proposal, Completion | None, Member | None, str], None]  # (proposal, completion, member, note)
    before_call: Callable[[], None] = lambda: None  # raises Stop when a budget is spent
    similarity: float | None = SIMILARITY_THRESHOLD
    kernel_format: str = "A"                        # what translate prompts ask for


def failure_verdict(task: TaskRef, text: str, reason: str, backend: str, check: str = "extract") -> Verdict:
    """A 'rejected' verdict for a completion that never became a judgeable candidate."""
    env = Env(device="", backend=backend, torch_version=torch.__version__, cuda_version=torch.version.cuda or "")
    return Verdict(status="rejected", task_id=task.task_id, task_sha256=task.sha256,
                   kernel_sha256=sha256_text(text or ""), format="A",
                   checks=(Check(check, "fail", reason),), flags=(), env=env, error=reason)


def call(ctx: Context, proposal: Proposal) -> Completion:
    ctx.before_call()
    try:
        return ctx.operator.propose(proposal)
    except Exception as e:  # an operator bug is a failed call, never a crashed run
        return Completion(text="", model=getattr(ctx.operator, "name", "?"),
                          error=f"operator raised {type(e).__name__}: {e}")


def member_of(p: Proposal, c: Completion | None, source: str, verdict: Verdict, mode: str | None = None) -> Member:
    t = verdict.timing
    return Member(id=p.proposal_id, task_id=p.task.task_id, source=source, status=verdict.status, stage=p.stage,
                  mode=mode or p.mode, island=p.island, generation=p.generation, parent_ids=p.parent_ids,
                  speedup=t.speedup_eager if t else None, runtime_ms=t.kernel.median_ms if t else None,
                  operator=getattr(c, "model", "") if c else "", model=c.model if c else "",
                  error=verdict.error[:2000], verdict=verdict, proposal_id=p.proposal_id,
                  tokens=c.tokens if c else 0)


def code_of(p: Proposal, c: Completion) -> str:
    """The candidate source a completion gives for a proposal. Raises ExtractError."""
    if p.mode == "diff":
        try:
            return apply_diff(p.base_source, c.text)
        except ExtractError as diff_err:
            try:
                return extract_code(c.text, "cpp")      # a full file instead of a diff is fine
            except ExtractError:
                raise diff_err from None
    return extract_code(c.text, "python" if p.mode == "functionalize" else "cpp")


def judge_many(ctx: Context, population: Population, items: list[tuple[Proposal, Completion]],
               dedup: bool = True) -> list[tuple[Proposal, Member]]:
    """Extract, de-duplicate, evaluate in parallel through the executor, record. Returns judged members."""
    pending: list[tuple[Proposal, Completion, str, Future[Verdict]]] = []
    done: list[tuple[Proposal, Member]] = []
    batch: dict[str, str] = {}
    for p, c in items:
        if c.error:
            ctx.record(p, c, None, c.error)
            continue
        try:
            source = code_of(p, c)
        except ExtractError as e:
            m = member_of(p, c, "", failure_verdict(p.task, c.text, str(e), ctx.backend))
            population.add(m)
            ctx.record(p, c, m, "")
            done.append((p, m))
            continue
        h = source_hash(source)
        if dedup and h in batch:
            ctx.record(p, c, None, f"rejected before evaluation: duplicate of proposal {batch[h]} in this batch")
            continue
        batch[h] = p.proposal_id
        if dedup:
            dup = population.duplicate_of(p.task.task_id, source,
                                          threshold=None if p.mode == "tune" else ctx.similarity)
            if dup:
                ctx.record(p, c, None, f"rejected before evaluation: {dup}")
                continue
        try:
            fmt = detect_format(source)
        except CandidateError as e:
            ctx.record(p, c, None, f"rejected before evaluation: {e}")
            continue
        cand = Candidate(task=p.task, source=source, format=fmt, name=f"{p.mode}-{p.proposal_id}")
        pending.append((p, c, source, ctx.executor.submit(cand, **ctx.verify_kw)))
    for p, c, source, fut in pending:
        try:
            verdict = fut.result()
        except Exception as e:  # the executor itself failed: record it as this candidate's failure
            verdict = failure_verdict(p.task, source, f"executor failed: {type(e).__name__}: {e}", ctx.backend,
                                      check="executor")
        m = member_of(p, c, source, verdict)
        population.add(m)
        ctx.record(p, c, m, "")
        done.append((p, m))
    return done


def functionalize(ctx: Context, task: TaskRef, population: Population) -> tuple[TaskRef, str] | None:
    """Stage 1: the task's functional form, checked by the harness, with up to `repairs` repairs."""
    if task.functional:
        return task, task.source
    previous, feedback = "", ""
    for attempt in range(ctx.repairs + 1):
        msgs = build_messages("functionalize", task, previous=previous, feedback=feedback)
        p = Proposal(task=task, mode="functionalize" if attempt == 0 else "repair", messages=tuple(msgs),
                     stage="functionalize", attempt=attempt)
        c = call(ctx, p)
        if c.error:
            ctx.record(p, c, None, c.error)
            feedback, previous = f"The operator failed: {c.error}", ""
            continue
        try:
            code = extract_code(c.text, "python")
            ftask = parse_task_source(code, task_id=task.task_id, path="")
            if not ftask.functional:
                raise ExtractError("the file has no functional form: it needs def module_fn(...) and "
                                   "Model.forward(self, *inputs, fn=module_fn)")
            verdict = ctx.check_functional(task, code, backend=ctx.verify_kw.get("backend", ctx.backend),
                                           seeds=ctx.verify_kw.get("seeds", 3), size=ctx.verify_kw.get("size", "default"))
        except (ExtractError, TaskError) as e:
            code, verdict = "", failure_verdict(task, c.text, str(e), ctx.backend)
        m = member_of(p, c, code, verdict, mode=p.mode)
        population.add(m)
        ctx.record(p, c, m, "")
        if verdict.status == "verified":
            return replace(ftask, source=code, sha256=sha256_text(code)), code
        previous, feedback = code, summarize_verdict(verdict)
    return None


def translate(ctx: Context, task: TaskRef, population: Population,
              inspirations: tuple[Shot, ...] = ()) -> Member | None:
    """Stage 2: a first verified kernel (format A, or K when asked) from the operator, with up to `repairs` repairs.

    A resumed run continues from its last recorded attempt (and that attempt's feedback).
    """
    previous, feedback, previous_id = "", "", ""
    prior = [m for m in population.of_task(task.task_id) if m.stage == "translate"]
    if prior:
        previous, feedback = prior[-1].source, summarize_verdict(prior[-1].verdict) if prior[-1].verdict else ""
        previous_id = prior[-1].id
    for attempt in range(len(prior), ctx.repairs + 1):
        msgs = build_messages("translate", task, backend=ctx.backend, previous=previous, feedback=feedback,
                              inspirations=inspirations, kernel_format=ctx.kernel_format)
        # a repair's parent is the failed attempt it repairs: that lineage is what repair examples train on
        p = Proposal(task=task, mode="translate" if attempt == 0 else "repair", messages=tuple(msgs),
                     stage="translate", attempt=attempt, parent_ids=(previous_id,) if previous_id else ())
        c = call(ctx, p)
        got = judge_many(ctx, population, [(p, c)], dedup=False)
        if not got:
            feedback, previous, previous_id = f"The operator failed: {c.error}", "", ""
            continue
        m = got[0][1]
        if m.verified:
            return m
        previous, previous_id = m.source, m.id
        feedback = summarize_verdict(m.verdict) if m.verdict else ""
    return None


def start_from(ctx: Context, task: TaskRef, population: Population, found: StartingKernel) -> Member | None:
    """Stage 2 without an LLM: verify a starting kernel on this machine as generation 0."""
    p = Proposal(task=task, mode="translate", stage="translate")
    c = Completion(text=f"```cpp\n{found.source}```", model=found.origin, llm_call=False)
    got = judge_many(ctx, population, [(p, c)], dedup=False)
    return got[0][1] if got and got[0][1].verified else None


def optimize_generation(ctx: Context, strategy: SearchStrategy,
                        population: Population) -> tuple[list[tuple[Proposal, Member]], str]:
    """Stage 3, one generation: proposals from the strategy, operator calls, parallel evaluation.

    Returns the judged members and, when the search is over, why ("" while it goes on): no
    proposal, or every operator answer was "exhausted: ..." (an offline search with nothing left
    to try) or "converged: ..." (an offline search that stopped improving).
    """
    items = []
    for p in strategy.select(population):
        try:
            items.append((p, call(ctx, p)))
        except Stop:
            if not items:
                raise
            break
    results = judge_many(ctx, population, items)
    strategy.update(results)
    if results or not all(c.error.startswith(("exhausted", "converged")) for _, c in items):
        return results, ""
    return results, items[0][1].error if items else "exhausted: the strategy made no proposal"
