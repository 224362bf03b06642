"""A run's directory as its journal: what happened, written before anything depends on it, and read back.

The directory holds `config.yaml` (the frozen `RunConfig`, written by the run), `events.jsonl` (every
operator call, generation and archive commit), `members.jsonl` (every judged candidate with its
verdict, fsynced), `archived.txt` (ids of members already appended to the archive), functional task
files under `tasks/`, and `summary.md`/`summary.json` at the end. A line that kill -9 cut short is
repaired by the journal's owner and skipped by any other reader (`read_jsonl`).
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.population import Member


def repair_tail(path: Path) -> None:
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
        repair_tail(path)
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:   # a line cut by kill -9, or one being written right now
            continue
    return out


@dataclass
class Replayed:
    """What a journal held when its run (re)started."""

    members: list[Member] = field(default_factory=list)
    functional: dict[str, str] = field(default_factory=dict)   # task id -> functional form written by stage 1
    archived: set[str] = field(default_factory=set)
    events: list[dict[str, Any]] = field(default_factory=list)
    wall_before: float = 0.0                                     # wall time earlier sessions spent


class Journal:
    """The run directory's files, appended to (and fsynced where a resume depends on them)."""

    def __init__(self, run_dir: str | Path):
        self.dir = Path(run_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "tasks").mkdir(exist_ok=True)
        self.events: list[dict[str, Any]] = []

    def replay(self) -> Replayed:
        out = Replayed(members=[Member.from_dict(d) for d in read_jsonl(self.dir / "members.jsonl", repair=True)])
        for f in sorted((self.dir / "tasks").glob("*.py")):
            out.functional[f.stem.replace("__", "/")] = f.read_text()
        p = self.dir / "archived.txt"
        repair_tail(p)
        out.archived = set(p.read_text().split()) if p.is_file() else set()
        out.events = self.events = read_jsonl(self.dir / "events.jsonl", repair=True)
        spent, s0, last = 0.0, None, None   # per session: its last event minus its start
        for e in self.events:
            if e.get("event") == "start":
                if s0 is not None and last is not None:
                    spent += last - s0
                s0, last = e["ts"], e["ts"]
            else:
                last = e["ts"]
        if s0 is not None and last is not None:
            spent += last - s0
        out.wall_before = spent
        return out

    def event(self, kind: str, **kw: Any) -> None:
        rec = {"ts": time.time(), "event": kind, **kw}
        self.events.append(rec)
        with open(self.dir / "events.jsonl", "a") as f:
            f.write(json.dumps(rec) + "\n")

    def done(self, kind: str, task_id: str) -> list[dict[str, Any]]:
        """The events of `kind` recorded for `task_id`."""
        return [e for e in self.events if e.get("event") == kind and e.get("task") == task_id]

    def member(self, m: Member) -> None:
        self._durable("members.jsonl", m.to_json() + "\n")

    def archived(self, ids: list[str]) -> None:
        self._durable("archived.txt", "".join(i + "\n" for i in ids))

    def functional_path(self, task_id: str) -> Path:
        return self.dir / "tasks" / (task_id.replace("/", "__") + ".py")

    def _durable(self, name: str, text: str) -> None:
        with open(self.dir / name, "a") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
