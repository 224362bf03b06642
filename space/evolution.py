"""One evolution run as the Space sees it: the pipeline's `Run` in a thread, observed as a stream of snapshots.

`evolve()` builds a `pipeline.run.Run` for one task (so bad settings raise
before anything runs), executes it in a worker thread and yields a `Snapshot`
whenever the run directory's durable record (`members.jsonl`, `events.jsonl`)
or the run's progress counters change. Rows the run would archive are staged
in a `StagedStore` (reads go to the configured archive, so it still seeds and
inspires the run); the user's "Save to archive" appends them. A `Stopper`
ends a run cleanly: the user's Stop button, or a browser that went away, sets
it, the run's next operator call raises the loop's own `Stop`, the candidates
already submitted are judged and recorded, and what was verified is kept.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from pipeline.population import Member
from pipeline.journal import read_jsonl
from pipeline.run import Run


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
    repairs: int = 3              # further tries after a failed functionalize/translate attempt, with its feedback
    kernel_format: str = "K"      # what prompts ask LLMs for: K builds in ~1 s (A: 25-90 s); seeds may be either

    def expected_candidates(self, functional: bool) -> int:
        """Candidates a run judges when nothing needs repair: stage 1 (unless the task is functional), the first
        kernel, then `population` per generation. The basis of the page's time estimate."""
        llm = self.operator != "tune"
        return (0 if functional or not llm else 1) + 1 + self.generations * self.population


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
    started: float = 0.0                      # time.time() when the run began
    failed_calls: tuple[str, ...] = ()        # operator calls that gave no code: why (LLM errors, ...)
    llm_calls: int = 0
    stopping: str = ""                        # why a stop was asked for, while the run winds down

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


class Stopper:
    """A request to end a run early, with its reason; checked before every operator call."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""

    def set(self, reason: str) -> None:
        if not self._event.is_set():
            self.reason = reason
            self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()


_QUIET_NOTES = ("rejected before evaluation", "exhausted")


def _failed_calls(events: list[dict[str, Any]]) -> tuple[str, ...]:
    """Why operator calls gave no candidate (an LLM error, an operator that cannot do a stage), in order."""
    return tuple(e["note"] for e in events if e.get("event") == "call" and not e.get("status") and e.get("note")
                 and not str(e["note"]).startswith(_QUIET_NOTES))


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
           operator: Any = None, executor: Any = None, stopper: Stopper | None = None,
           poll_s: float = 0.5, token: str | None = None, base_url: str | None = None) -> Iterator[Snapshot]:
    """Run the pipeline on one task and yield snapshots until it stops. Raises ValueError/TaskError up front.

    `operator`/`executor` default to the settings' operator (with `token`/`base_url` for `hf:`) and the harness's
    local executor (tests pass fakes). Closing the generator early stops the run ("the browser left").
    """
    from pipeline.operators import make_operator
    from pipeline.run import RunConfig

    stopper = stopper or Stopper()
    if operator is None:
        operator = make_operator(settings.operator, token=token, base_url=base_url)
    config = RunConfig(tasks=(spec,), operator=settings.operator, generations=settings.generations,
                       population=settings.population, islands=1, backend=settings.backend, size=settings.size,
                       seeds=settings.seeds, workers=settings.workers, timeout_s=settings.timeout_s,
                       compile_baseline=settings.compile_baseline, max_wall_s=settings.max_wall_s,
                       kernel_format=settings.kernel_format, repairs=settings.repairs,
                       max_llm_calls=4 * settings.generations * settings.population + 8, archive_batch=1000)
    run = Run(config, run_dir, operator=operator, executor=executor, store=store,
              should_stop=lambda: stopper.reason if stopper.is_set() else "")
    task_id = next(iter(run.tasks))
    result: dict[str, Any] = {}
    started = time.time()

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
            events = read_jsonl(Path(run_dir) / "events.jsonl")
            log = tuple(ln for ln in map(_event_line, events) if ln)
            line = run.progress.tasks.get(task_id)
            stage, gen = (line.stage, line.generation) if line else ("starting", 0)
            key = (len(members), len(log), stage, gen, alive, stopper.is_set(), int(time.time() - started) // 5)
            if key != last or not alive:
                last = key
                summary = result.get("summary")
                yield Snapshot(task_id=task_id, stage=stage, generation=gen, members=members, log=log,
                               done=not alive, stop_reason=summary.stop_reason if summary else "",
                               error=result.get("error", ""), run_dir=str(run_dir), started=started,
                               failed_calls=_failed_calls(events), llm_calls=run.progress.llm_calls,
                               stopping=stopper.reason if stopper.is_set() else "")
            if not alive:
                return
            time.sleep(poll_s)
    finally:
        if worker.is_alive():   # the consumer went away (browser closed, generator closed)
            stopper.set("cancelled: the browser left the run")


@dataclass
class SessionGate:
    """One run per browser session at a time (Gradio's queue bounds runs across sessions), and its Stopper."""

    active: dict[str, Stopper] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def enter(self, session: str) -> Stopper | None:
        """The new run's Stopper, or None when this session already has a run going."""
        with self.lock:
            if session in self.active:
                return None
            self.active[session] = stopper = Stopper()
            return stopper

    def stop(self, session: str, reason: str = "stopped by you") -> bool:
        """Ask this session's run to stop; False when it has none."""
        with self.lock:
            stopper = self.active.get(session)
        if stopper is None:
            return False
        stopper.set(reason)
        return True

    def leave(self, session: str) -> None:
        with self.lock:
            self.active.pop(session, None)
