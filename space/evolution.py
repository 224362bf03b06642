"""One evolution run as the Space sees it: the pipeline's `Run` in a thread, observed as a stream of snapshots.

`evolve()` builds a `pipeline.run.Run` for one task (so bad settings raise
before anything runs), executes it in a worker thread and yields a `Snapshot`
whenever the run directory's durable record (`members.jsonl`, `events.jsonl`)
or the run's progress counters change. Rows the run would archive are staged
in a `StagedStore` (reads go to the configured archive, so it still seeds and
inspires the run); the user's "Save to archive" appends them. A run the
browser abandons is cancelled through its operator, which then refuses new
proposals, so the loop winds down instead of running on unobserved.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from pipeline.population import Member
from pipeline.proposal import Completion, Proposal
from pipeline.run import read_jsonl


@dataclass(frozen=True)
class RunSettings:
    """What the Optimize tab lets a user choose, with budgets that bound a public Space."""

    operator: str = "tune"
    generations: int = 2
    population: int = 2
    backend: str = "auto"
    size: str = "small"
    seeds: int = 2
    max_wall_s: float = 900.0
    timeout_s: float = 180.0
    compile_baseline: bool = True
    workers: int = 1


@dataclass(frozen=True)
class Snapshot:
    """What the UI shows at one moment of a run."""

    task_id: str
    stage: str
    generation: int
    members: tuple[Member, ...]
    log: tuple[str, ...]
    done: bool = False
    stop_reason: str = ""
    error: str = ""
    run_dir: str = ""

    @property
    def kernels(self) -> tuple[Member, ...]:
        return tuple(m for m in self.members if m.stage != "functionalize")

    @property
    def best(self) -> Member | None:
        ok = [m for m in self.kernels if m.verified]
        return max(ok, key=lambda m: (m.fitness, -m.generation)) if ok else None


class StagedStore:
    """An ArchiveStore view: reads from `base`, holds appended rows until `save()` commits them to `base`."""

    def __init__(self, base: Any):
        self.base = base
        self.rows: list[Any] = []
        self._lock = threading.Lock()

    def read(self, revision: str | None = None, split: str | None = None) -> Any:
        return self.base.read(revision=revision, split=split)

    def append(self, rows: Sequence[Any], message: str) -> str:
        with self._lock:
            self.rows.extend(rows)
            return f"staged:{len(self.rows)}"


class _Cancellable:
    """Wraps an operator so a cancelled run gets an error completion for every further proposal."""

    def __init__(self, inner: Any, cancel: threading.Event):
        self.inner, self.cancel = inner, cancel
        self.name = getattr(inner, "name", "")

    def propose(self, request: Proposal) -> Completion:
        if self.cancel.is_set():
            return Completion(text="", model=self.name, llm_call=False, error="cancelled: the browser left the run")
        return self.inner.propose(request)


def _event_line(e: dict[str, Any]) -> str | None:
    kind = e.get("event")
    if kind == "seed":
        return f"seed kernel: {e.get('origin', '')}"
    if kind == "call":
        what = f"gen {e.get('generation', 0)} · {e.get('stage', '')}/{e.get('mode', '')} · {e.get('proposal', '')}"
        if e.get("status"):
            return f"{what} → {e['status']}"
        return f"{what} → {e.get('note') or 'no candidate'}" if e.get("note") else None
    if kind == "generation":
        return f"generation {e.get('generation')} done: {e.get('judged')} judged"
    if kind == "task_done":
        return f"task done: {e.get('result', '')}"
    if kind == "stop":
        return f"stopped: {e.get('reason', '')}"
    return None


def evolve(spec: str, settings: RunSettings, *, run_dir: str | Path, store: StagedStore,
           operator: Any = None, executor: Any = None, cancel: threading.Event | None = None,
           poll_s: float = 0.5, token: str | None = None) -> Iterator[Snapshot]:
    """Run the pipeline on one task and yield snapshots until it stops. Raises ValueError/TaskError up front.

    `operator`/`executor` default to the settings' operator and the harness's local executor (tests pass fakes).
    """
    from pipeline.operators import make_operator
    from pipeline.run import Run, RunConfig

    cancel = cancel or threading.Event()
    if operator is None:
        operator = make_operator(settings.operator, token=token)
    config = RunConfig(tasks=(spec,), operator=settings.operator, generations=settings.generations,
                       population=settings.population, islands=1, backend=settings.backend, size=settings.size,
                       seeds=settings.seeds, workers=settings.workers, timeout_s=settings.timeout_s,
                       compile_baseline=settings.compile_baseline, max_wall_s=settings.max_wall_s,
                       max_llm_calls=4 * settings.generations * settings.population + 8, archive_batch=1000)
    run = Run(config, run_dir, operator=_Cancellable(operator, cancel), executor=executor, store=store)
    task_id = next(iter(run.tasks))
    result: dict[str, Any] = {}

    def work() -> None:
        try:
            result["summary"] = run.execute()
        except Exception as e:  # the UI reports it; the run directory keeps what was judged
            result["error"] = f"{type(e).__name__}: {e}"

    worker = threading.Thread(target=work, name=f"space-run-{config.run_id}", daemon=True)
    worker.start()
    last: tuple[Any, ...] = ()
    try:
        while True:
            alive = worker.is_alive()
            members = tuple(Member.from_dict(d) for d in read_jsonl(Path(run_dir) / "members.jsonl"))
            log = tuple(ln for ln in map(_event_line, read_jsonl(Path(run_dir) / "events.jsonl")) if ln)
            line = run.progress.tasks.get(task_id)
            stage, gen = (line.stage, line.generation) if line else ("starting", 0)
            key = (len(members), len(log), stage, gen, alive)
            if key != last or not alive:
                last = key
                summary = result.get("summary")
                yield Snapshot(task_id=task_id, stage=stage, generation=gen, members=members, log=log,
                               done=not alive, stop_reason=summary.stop_reason if summary else "",
                               error=result.get("error", ""), run_dir=str(run_dir))
            if not alive:
                return
            time.sleep(poll_s)
    finally:
        if worker.is_alive():   # the consumer went away (browser closed, generator closed)
            cancel.set()


@dataclass
class SessionGate:
    """One run per browser session at a time (Gradio's queue bounds runs across sessions)."""

    active: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def enter(self, session: str) -> bool:
        with self.lock:
            if session in self.active:
                return False
            self.active.add(session)
            return True

    def leave(self, session: str) -> None:
        with self.lock:
            self.active.discard(session)
