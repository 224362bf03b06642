"""A run: its config, its directory, and the loop that drives the stages under budgets.

A run directory holds `config.yaml` (the frozen `RunConfig`), `events.jsonl`
(every operator call, generation and archive commit), `members.jsonl` (every
judged candidate with its verdict, fsynced before anything depends on it),
`archived.txt` (ids of members already appended to the archive), functional
task files under `tasks/`, and `summary.md` at the end.

Resuming after kill -9 replays those files: judged members are never judged
again, verified kernels not yet recorded as archived are appended again, and
the archive's dedup (kernel sha256 + task + device) absorbs an append that
happened just before the kill, so no row is duplicated and none is lost.
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.executors.factory import ExecutorOptions
from harness.judge.reference import resolve_backend
from harness.task import load_task, parse_task_source
from harness.types import TaskRef, Verdict, sha256_text
from pipeline.innovation import stepping_stones
from pipeline.population import Member, Population
from pipeline.progress import Progress
from pipeline.proposal import Completion, Proposal, new_id
from pipeline.stages import Context, Stop, functionalize, optimize_generation, seed, translate
from pipeline.starter import find_seeds
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
    kernel_format: str = "A"         # A | K: the format the prompts ask operators for
    archive: str | None = None       # path or hf://owner/name; None = the default local archive
    archive_failed: bool = False     # also append failed kernels (with their errors) as repair data
    archive_batch: int = 8
    repairs: int = 3
    seeds: int = 3
    size: str = "auto"
    timing: bool = True
    compile_baseline: bool = True
    timeout_s: float = 120.0
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
    similarity: float = 0.985
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


def _repair_tail(path: Path) -> None:
    """Cut a last line that kill -9 left without its newline, so the next append starts clean."""
    if not path.is_file():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with open(path, "r+b") as f:
            f.truncate(data.rfind(b"\n") + 1)


def read_jsonl(path: Path, *, repair: bool = False) -> list[dict[str, Any]]:
    """The complete lines of a run's JSONL file. `repair` (the run's owner only) also cuts a line kill -9 left
    half-written; a reader beside a live run leaves the file alone and skips a line being written."""
    if repair:
        _repair_tail(path)
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:   # a line cut by kill -9, or one being written right now
            continue
    return out


class Run:
    """One run directory and its loop. Pass fakes for operator/executor/store/check_functional in tests."""

    def __init__(self, config: RunConfig, run_dir: str | Path, *, operator: Any = None, executor: Any = None,
                 store: Any = None, check_functional: Any = None, console: Any = None):
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
        self.functional: dict[str, str] = {}
        if operator is None:
            from pipeline.operators import make_operator
            operator = make_operator(config.operator, base_url=config.base_url, temperature=config.temperature,
                                     max_tokens=config.max_new_tokens)
        self._owned_executor = executor is None
        if executor is None:
            executor = ExecutorOptions(kind=config.executor, workers=config.workers, warm=config.warm).make(self.backend)
        if check_functional is None:
            from harness.judge.verify import check_functional as cf
            check_functional = cf
        if store is None:
            from hub.store import open_store
            store = open_store(config.archive)
        self.operator, self.executor, self.store, self.console = operator, executor, store, console
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "tasks").mkdir(exist_ok=True)
        if not (self.dir / "config.yaml").is_file():
            config.save(self.dir)
        self.check_functional = check_functional
        self.population = Population(n_islands=max(1, config.islands))
        self.progress = Progress()
        self.archived: set[str] = set()
        self.commits: list[str] = []
        self._replay()

    # ---- persistence -------------------------------------------------------------------------
    def _replay(self) -> None:
        for d in read_jsonl(self.dir / "members.jsonl", repair=True):
            m = Member.from_dict(d)
            self.population.add(m)
            self.progress.member(m.task_id, m.status, m.speedup, m.id, m.stage)
        for f in sorted((self.dir / "tasks").glob("*.py")):
            self.functional[f.stem.replace("__", "/")] = f.read_text()
        p = self.dir / "archived.txt"
        _repair_tail(p)
        self.archived = set(p.read_text().split()) if p.is_file() else set()
        self.events = read_jsonl(self.dir / "events.jsonl", repair=True)
        for e in self.events:
            if e.get("event") == "call":
                self.progress.call(e.get("tokens", 0), e.get("cost_usd", 0.0), e.get("llm", False))
        # wall time already spent: per session, last event minus its start
        spent, s0, last = 0.0, None, None
        for e in self.events:
            if e.get("event") == "start":
                if s0 is not None and last is not None:
                    spent += last - s0
                s0, last = e["ts"], e["ts"]
            else:
                last = e["ts"]
        if s0 is not None and last is not None:
            spent += last - s0
        self.wall_before = spent

    def event(self, kind: str, **kw: Any) -> None:
        rec = {"ts": time.time(), "event": kind, **kw}
        self.events.append(rec)
        with open(self.dir / "events.jsonl", "a") as f:
            f.write(json.dumps(rec) + "\n")

    def _append_member(self, m: Member) -> None:
        with open(self.dir / "members.jsonl", "a") as f:
            f.write(m.to_json() + "\n")
            f.flush()
            os.fsync(f.fileno())

    def record(self, p: Proposal, c: Completion | None, m: Member | None, note: str) -> None:
        if m is not None:
            self._append_member(m)
            self.progress.member(m.task_id, m.status, m.speedup, m.id, m.stage)
        if c is not None and (c.llm_call or c.tokens):
            self.progress.call(c.tokens, c.cost_usd, c.llm_call)
        self.event("call" if c is not None else "note", task=p.task.task_id, stage=p.stage, mode=p.mode,
                   proposal=p.proposal_id, generation=p.generation, llm=bool(c and c.llm_call),
                   tokens=c.tokens if c else 0, prompt_tokens=c.prompt_tokens if c else 0,
                   completion_tokens=c.completion_tokens if c else 0, latency_s=c.latency_s if c else 0.0,
                   cost_usd=c.cost_usd if c else 0.0, model=c.model if c else "",
                   status=m.status if m else None, note=note)
        self._flush_archive(force=False)

    def _archivable(self) -> list[Member]:
        out = []
        for m in self.population.members.values():
            if m.id in self.archived or m.stage == "functionalize" or not m.source or not m.verdict_json:
                continue
            if m.verified or self.config.archive_failed:
                out.append(m)
        return out

    def _flush_archive(self, force: bool) -> None:
        todo = self._archivable()
        if not todo or (not force and len(todo) < self.config.archive_batch):
            return
        from hub.schema import row_from_verdict
        rows = []
        for m in todo:
            task = self.task(m.task_id)
            # in the archive a parent is named by its kernel's sha256, the one id every row carries
            parent = self.population.members.get(m.parent_ids[0]) if m.parent_ids else None
            rows.append(row_from_verdict(Verdict.from_json(m.verdict_json), task=task, kernel_code=m.source,
                                         functional_code=self.functional.get(m.task_id, ""),
                                         parent_id=sha256_text(parent.source) if parent and parent.source else None,
                                         generation=m.generation, operator=self.config.operator,
                                         model=m.model, run_id=self.config.run_id))
        n_ok = sum(m.verified for m in todo)
        try:
            commit = self.store.append(rows, f"run {self.config.run_id}: {n_ok} verified, {len(todo) - n_ok} failed")
        except Exception as e:   # the archive is down: keep the kernels pending (members.jsonl has them) and retry
            self.archive_error = f"archive append failed ({type(e).__name__}: {str(e)[:200]}); `resume` retries it"
            self.event("archive_error", error=self.archive_error, pending=len(todo))
            return
        self.archive_error = ""
        with open(self.dir / "archived.txt", "a") as f:
            f.write("".join(m.id + "\n" for m in todo))
            f.flush()
            os.fsync(f.fileno())
        self.archived.update(m.id for m in todo)
        self.commits.append(str(commit))
        self.event("archive_commit", commit=str(commit), rows=len(rows))

    # ---- budgets -----------------------------------------------------------------------------
    def _before_call(self) -> None:
        cfg, pr = self.config, self.progress
        if getattr(self.operator, "name", "") != "tune":
            if cfg.max_llm_calls is not None and pr.llm_calls >= cfg.max_llm_calls:
                raise Stop(f"LLM call budget spent ({pr.llm_calls} calls)")
            if cfg.max_tokens is not None and pr.tokens >= cfg.max_tokens:
                raise Stop(f"token budget spent ({pr.tokens} tokens)")
        if cfg.max_wall_s is not None and self.wall_before + time.time() - self.t0 >= cfg.max_wall_s:
            raise Stop(f"wall-time budget spent ({cfg.max_wall_s:.0f} s)")

    # ---- the loop ----------------------------------------------------------------------------
    def task(self, task_id: str) -> TaskRef:
        return self.tasks[task_id]

    def _done(self, kind: str, task_id: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("event") == kind and e.get("task") == task_id]

    def _functional_task(self, ctx: Context, task: TaskRef) -> TaskRef | None:
        saved = self.dir / "tasks" / (task.task_id.replace("/", "__") + ".py")
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
        if self._done("task_done", tid):
            return "done earlier"
        self.progress.stage(tid, "functionalize")
        ftask = self._functional_task(ctx, task)
        if ftask is None:
            self.progress.stage(tid, "failed: no functional form")
            return "functionalize failed"
        if not self.population.verified(tid):
            is_llm = getattr(self.operator, "name", "") != "tune"
            found = find_seeds(ftask, backend=self.backend, store=self.store) if self.config.use_seed else []
            self.progress.stage(tid, "translate" if is_llm else "seed")
            stones = stepping_stones(self.store, ftask, backend=self.backend, k=self.config.inspirations) \
                if is_llm else ()
            first = translate(ctx, ftask, self.population, stones) if is_llm else None
            for candidate_seed in found:
                if first is not None:
                    break
                self.event("seed", task=tid, origin=candidate_seed.origin)
                first = seed(ctx, ftask, self.population, candidate_seed)
            if first is None:
                self.progress.stage(tid, "failed: no verified kernel")
                self.event("task_done", task=tid, result="no verified kernel")
                return "no verified kernel"
        modes = dict(self.config.modes or {}) or ({"tune": 1.0} if getattr(self.operator, "name", "") == "tune"
                                                  else {"rewrite": 1.0, "diff": 1.0, "crossover": 0.5})
        done_gens = [e["generation"] for e in self._done("generation", tid)]
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
            self.event("generation", task=tid, generation=strategy.generation, judged=len(results))
            if exhausted:
                result = "converged" if exhausted.startswith("converged") else "search exhausted"
                self.event("task_done", task=tid, result=result, reason=exhausted)
                self.progress.stage(tid, result)
                return result
        self.event("task_done", task=tid, result="generations done")
        self.progress.stage(tid, "done")
        return "generations done"

    def execute(self) -> RunSummary:
        cfg = self.config
        self.t0 = time.time()
        self.event("start", resumed=bool(self.population.members))
        ctx = Context(operator=self.operator, executor=self.executor, check_functional=self.check_functional,
                      verify_kw=dict(backend=cfg.backend, seeds=cfg.seeds, size=cfg.size, timing=cfg.timing,
                                     compile_baseline=cfg.compile_baseline, timeout_s=cfg.timeout_s),
                      backend=self.backend, repairs=cfg.repairs, record=self.record, kernel_format=cfg.kernel_format,
                      before_call=self._before_call, similarity=cfg.similarity)
        self._flush_archive(force=True)       # what a killed session judged but did not archive
        self.progress.start(self.console)
        reason = "finished"
        try:
            for spec in cfg.tasks:
                self._run_task(ctx, spec)
        except Stop as e:
            reason = str(e)
        finally:
            self._flush_archive(force=True)
            if self._owned_executor and hasattr(self.executor, "shutdown"):
                self.executor.shutdown()
            if getattr(self, "archive_error", ""):
                reason += f"; {self.archive_error}"
            self.progress.note = f"stop: {reason}"
            self.progress.finish(self.dir, self.console)
        self.event("stop", reason=reason)
        best = {}
        for tid in self.tasks:
            b = self.population.best(tid)
            best[tid] = (b[0].id, b[0].speedup) if b else ("", None)
        summary = RunSummary(run_dir=str(self.dir), stop_reason=reason, best=best,
                             statuses=dict(self.progress.statuses), llm_calls=self.progress.llm_calls,
                             tokens=self.progress.tokens, commits=tuple(self.commits))
        (self.dir / "summary.json").write_text(json.dumps(dataclasses.asdict(summary), indent=1))
        return summary


def resume(run_dir: str | Path, **kw: Any) -> RunSummary:
    """Continue a run from its directory (after a kill, or with a larger budget)."""
    return Run(RunConfig.load(Path(run_dir)), run_dir, **kw).execute()
