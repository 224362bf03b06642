"""A run: its config, its budgets and the loop that drives the stages over its tasks.

The run directory is its journal (`pipeline.journal`): resuming after kill -9 replays it, so judged
members are never judged again, and verified kernels not yet recorded as archived are appended again
(`pipeline.archiving`), the archive's dedup absorbing an append that happened just before the kill.
"""
from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml
from rich.console import Console

from harness.executors.factory import ExecutorOptions
from harness.executors.local import Executor
from harness.judge.options import DEFAULT as VERIFY, VerifyOptions
from harness.judge.reference import resolve_backend
from harness.judge.verify import check_functional as harness_check_functional
from harness.task import load_task, parse_task_source
from harness.types import TaskRef, Verdict
from hub.archive import open_store
from hub.store import ArchiveStore
from pipeline.archiving import ArchiveWriter
from pipeline.innovation import stepping_stones
from pipeline.journal import Journal
from pipeline.operators import Operator, make_operator
from pipeline.population import SIMILARITY_THRESHOLD, Member, Population
from pipeline.progress import Progress
from pipeline.proposal import Completion, Proposal, new_id
from pipeline.stages import Context, Stop, functionalize, optimize_generation, start_from, translate
from pipeline.starter import starting_kernels
from pipeline.strategy import make_strategy


@dataclass(frozen=True)
class RunConfig:
    tasks: tuple[str, ...]
    operator: str = "tune"
    base_url: str | None = None
    strategy: str = "islands"
    modes: dict[str, float] | None = None   # optimize-stage mode weights; default by operator
    generations: int = 5
    population: int = 4              # proposals per generation per task
    islands: int = 2
    backend: str = "auto"
    kernel_format: str = "K"         # K | A: the format the prompts ask operators for (and seeds are taken in first)
    archive: str | None = None       # path or hf://owner/name; None = the default local archive
    archive_failed: bool = False     # also append failed kernels (with their errors) as repair data
    archive_batch: int = 8
    repairs: int = 3
    seeds: int = VERIFY.seeds
    size: str = VERIFY.size
    timing: bool = True
    compile_baseline: bool = True
    timeout_s: float = VERIFY.timeout_s
    executor: str = "local"          # local | ray (harness.executors.factory)
    workers: int | None = None       # parallel verifications (None: sized to the host)
    warm: int | None = None          # pre-started sandboxes per device (None: sized to the host, 0 = off)
    max_llm_calls: int | None = None
    max_tokens: int | None = None
    max_wall_s: float | None = None
    temperature: float = 0.7
    max_new_tokens: int = 2048
    use_seed: bool = True            # start from the archive / known-good kernel when there is one
    inspirations: int = 2
    similarity: float = SIMILARITY_THRESHOLD
    random_seed: int = 0
    tune_patience: int = 3           # tune: rounds without a >1% gain before a task's search converges
    run_id: str = field(default_factory=new_id)

    def save(self, run_dir: Path) -> None:
        d = dataclasses.asdict(self)
        d["tasks"] = list(self.tasks)
        (run_dir / "config.yaml").write_text(yaml.safe_dump(d, sort_keys=False))

    @classmethod
    def load(cls, run_dir: Path) -> "RunConfig":
        p = Path(run_dir) / "config.yaml"
        if not p.is_file():
            raise FileNotFoundError(f"{run_dir} is not a run directory (no config.yaml)")
        d = yaml.safe_load(p.read_text()) or {}
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"{p}: unknown keys {sorted(unknown)}")
        d["tasks"] = tuple(d.get("tasks", ()))
        return cls(**d)


@dataclass(frozen=True)
class RunSummary:
    run_dir: str
    stop_reason: str
    best: dict[str, tuple[str, float | None]]     # task -> (member id, speedup)
    statuses: dict[str, int]
    llm_calls: int
    tokens: int
    commits: tuple[str, ...]


class Budget:
    """The run's budgets: LLM calls and tokens (for an operator that calls a model) and wall time."""

    def __init__(self, config: RunConfig, progress: Progress, *, uses_llm: bool, wall_before: float,
                 should_stop: Callable[[], str] | None = None):
        self.config, self.progress, self.uses_llm, self.wall_before = config, progress, uses_llm, wall_before
        self.should_stop = should_stop
        self.t0 = time.time()

    def before_call(self) -> None:
        """Raises `Stop`, naming the budget, once one is spent (or why, once `should_stop` says so)."""
        why = self.should_stop() if self.should_stop is not None else ""
        if why:
            raise Stop(why)
        cfg, pr = self.config, self.progress
        if self.uses_llm:
            if cfg.max_llm_calls is not None and pr.llm_calls >= cfg.max_llm_calls:
                raise Stop(f"LLM call budget spent ({pr.llm_calls} calls)")
            if cfg.max_tokens is not None and pr.tokens >= cfg.max_tokens:
                raise Stop(f"token budget spent ({pr.tokens} tokens)")
        if cfg.max_wall_s is not None and self.wall_before + time.time() - self.t0 >= cfg.max_wall_s:
            raise Stop(f"wall-time budget spent ({cfg.max_wall_s:.0f} s)")


class Run:
    """One run: the loop over its tasks' stages, on its journal (`pipeline.journal`), streaming verified
    kernels into the archive (`pipeline.archiving`) under its budgets. `should_stop()` is asked before every
    operator call and ends the run cleanly, as a spent budget does, when it returns a reason (a Stop button).
    Pass fakes for operator, executor, store and check_functional in tests."""

    def __init__(self, config: RunConfig, run_dir: str | Path, *, operator: Operator | None = None,
                 executor: Executor | None = None, store: ArchiveStore | None = None,
                 check_functional: Callable[..., Verdict] | None = None, console: Console | None = None,
                 should_stop: Callable[[], str] | None = None):
        self.config, self.dir = config, Path(run_dir)
        self.backend = resolve_backend(config.backend)      # validate before anything is written
        if config.strategy not in ("islands", "best_of_n"):
            raise ValueError(f"unknown strategy {config.strategy!r}: use islands or best_of_n")
        if not config.tasks:
            raise ValueError("a run needs at least one task")
        self.tasks: dict[str, TaskRef] = {}
        self.specs: dict[str, str] = {}
        for spec in config.tasks:                           # TaskError names a bad task before anything runs
            t = load_task(spec)
            self.tasks[t.task_id], self.specs[spec] = t, t.task_id
        self.operator = operator or make_operator(config.operator, base_url=config.base_url,
                                                  temperature=config.temperature, max_tokens=config.max_new_tokens)
        self._owned_executor = executor is None
        self.executor = executor or ExecutorOptions(kind=config.executor, workers=config.workers,
                                                    warm=config.warm).make(self.backend)
        self.check_functional = check_functional or harness_check_functional
        self.store = store if store is not None else open_store(config.archive)
        self.console = console
        self.journal = Journal(self.dir)
        if not (self.dir / "config.yaml").is_file():
            config.save(self.dir)
        self.population = Population(n_islands=max(1, config.islands))
        self.progress = Progress()
        past = self.journal.replay()
        for m in past.members:
            self.population.add(m)
            self.progress.member(m.task_id, m.status, m.speedup, m.id, m.stage)
        for e in past.events:
            if e.get("event") == "call":
                self.progress.call(e.get("tokens", 0), e.get("cost_usd", 0.0), e.get("llm", False))
        self.functional = past.functional
        self.budget = Budget(config, self.progress, uses_llm=self.operator.uses_llm, wall_before=past.wall_before,
                             should_stop=should_stop)
        self.archive = ArchiveWriter(self.store, self.journal, archived=past.archived, batch=config.archive_batch,
                                     archive_failed=config.archive_failed, run_id=config.run_id,
                                     operator=config.operator, task=self.task, functional=self.functional)

    def record(self, p: Proposal, c: Completion | None, m: Member | None, note: str) -> None:
        """Every stage result, journalled before anything else happens."""
        if m is not None:
            self.journal.member(m)
            self.progress.member(m.task_id, m.status, m.speedup, m.id, m.stage)
        if c is not None and (c.llm_call or c.tokens):
            self.progress.call(c.tokens, c.cost_usd, c.llm_call)
        self.journal.event("call" if c is not None else "note", task=p.task.task_id, stage=p.stage, mode=p.mode,
                           proposal=p.proposal_id, generation=p.generation, llm=bool(c and c.llm_call),
                           tokens=c.tokens if c else 0, prompt_tokens=c.prompt_tokens if c else 0,
                           completion_tokens=c.completion_tokens if c else 0, latency_s=c.latency_s if c else 0.0,
                           cost_usd=c.cost_usd if c else 0.0, model=c.model if c else "",
                           status=m.status if m else None, note=note)
        self.archive.flush(self.population, force=False)

    # ---- the loop ----------------------------------------------------------------------------
    def task(self, task_id: str) -> TaskRef:
        return self.tasks[task_id]

    def _functional_task(self, ctx: Context, task: TaskRef) -> TaskRef | None:
        saved = self.journal.functional_path(task.task_id)
        if task.functional:
            return task
        if saved.is_file():
            code = saved.read_text()
        else:
            got = functionalize(ctx, task, self.population)
            if got is None:
                return None
            code = got[1]
            saved.write_text(code)
        self.functional[task.task_id] = code
        return parse_task_source(code, task_id=task.task_id, path=str(saved))

    def _run_task(self, ctx: Context, spec: str) -> str:
        tid = self.specs[spec]
        task = self.tasks[tid]
        if self.journal.done("task_done", tid):
            return "done earlier"
        self.progress.stage(tid, "functionalize")
        ftask = self._functional_task(ctx, task)
        if ftask is None:
            self.progress.stage(tid, "failed: no functional form")
            return "functionalize failed"
        if not self.population.verified(tid):
            is_llm = self.operator.uses_llm
            found = starting_kernels(ftask, backend=self.backend, store=self.store,
                                     kernel_format=self.config.kernel_format) \
                if self.config.use_seed else []
            self.progress.stage(tid, "translate" if is_llm else "seed")
            stones = stepping_stones(self.store, ftask, backend=self.backend, k=self.config.inspirations) \
                if is_llm else ()
            first = translate(ctx, ftask, self.population, stones) if is_llm else None
            for start in found:
                if first is not None:
                    break
                self.journal.event("seed", task=tid, origin=start.origin)  # (the event keeps its journal name)
                first = start_from(ctx, ftask, self.population, start)
            if first is None:
                self.progress.stage(tid, "failed: no verified kernel")
                self.journal.event("task_done", task=tid, result="no verified kernel")
                return "no verified kernel"
        modes = dict(self.config.modes or {}) or ({"tune": 1.0} if not self.operator.uses_llm
                                                  else {"rewrite": 1.0, "diff": 1.0, "crossover": 0.5})
        done_gens = [e["generation"] for e in self.journal.done("generation", tid)]
        strategy = make_strategy(self.config.strategy, task=ftask, backend=self.backend,
                                 kernel_format=self.config.kernel_format,
                                 per_generation=self.config.population, modes=modes,
                                 functional_source=self.functional.get(tid) if not task.functional else None,
                                 inspirations=() if "tune" in modes else
                                 stepping_stones(self.store, ftask, backend=self.backend, k=self.config.inspirations,
                                                 same_task=True, exclude=self.population.tried_hashes(tid)),
                                 seed=self.config.random_seed, generation=max(done_gens, default=0),
                                 patience=self.config.tune_patience)
        while strategy.generation < self.config.generations:
            self.progress.stage(tid, "optimize", strategy.generation + 1)
            results, exhausted = optimize_generation(ctx, strategy, self.population)
            self.journal.event("generation", task=tid, generation=strategy.generation, judged=len(results))
            if exhausted:
                result = "converged" if exhausted.startswith("converged") else "search exhausted"
                self.journal.event("task_done", task=tid, result=result, reason=exhausted)
                self.progress.stage(tid, result)
                return result
        self.journal.event("task_done", task=tid, result="generations done")
        self.progress.stage(tid, "done")
        return "generations done"

    def execute(self) -> RunSummary:
        cfg = self.config
        self.budget.t0 = time.time()
        self.journal.event("start", resumed=bool(self.population.members))
        ctx = Context(operator=self.operator, executor=self.executor, check_functional=self.check_functional,
                      verify_kw=VerifyOptions(backend=cfg.backend, seeds=cfg.seeds, size=cfg.size, timing=cfg.timing,
                                          compile_baseline=cfg.compile_baseline, timeout_s=cfg.timeout_s).kwargs(),
                      backend=self.backend, repairs=cfg.repairs, record=self.record, kernel_format=cfg.kernel_format,
                      before_call=self.budget.before_call, similarity=cfg.similarity)
        self.archive.flush(self.population, force=True)   # what a killed session judged but did not archive
        self.progress.start(self.console)
        reason = "finished"
        try:
            for spec in cfg.tasks:
                self._run_task(ctx, spec)
        except Stop as e:
            reason = str(e)
        finally:
            self.archive.flush(self.population, force=True)
            if self._owned_executor and hasattr(self.executor, "shutdown"):
                self.executor.shutdown()
            if self.archive.error:
                reason += f"; {self.archive.error}"
            self.progress.note = f"stop: {reason}"
            self.progress.finish(self.dir, self.console)
        self.journal.event("stop", reason=reason)
        best = {}
        for tid in self.tasks:
            b = self.population.best(tid)
            best[tid] = (b[0].id, b[0].speedup) if b else ("", None)
        summary = RunSummary(run_dir=str(self.dir), stop_reason=reason, best=best,
                             statuses=dict(self.progress.statuses), llm_calls=self.progress.llm_calls,
                             tokens=self.progress.tokens, commits=tuple(self.archive.commits))
        (self.dir / "summary.json").write_text(json.dumps(dataclasses.asdict(summary), indent=1))
        return summary


def resume(run_dir: str | Path, **kw: Any) -> RunSummary:
    """Continue a run from its directory (after a kill, or with a larger budget)."""
    return Run(RunConfig.load(Path(run_dir)), run_dir, **kw).execute()
