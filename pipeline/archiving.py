"""Streaming a run's judged kernels into the archive: in batches, retried on the next flush when it fails.

Verified members (and failed ones too with `archive_failed`) become archive rows
(`hub.schema.row_from_verdict`); a member is marked archived in the journal only after its commit,
and the archive's dedup (kernel sha256 + task + device) absorbs an append that happened just
before a kill, so a resumed run neither loses nor duplicates a row.
"""
from __future__ import annotations

from typing import Callable

from harness.types import TaskRef, sha256_text
from hub.schema import row_from_verdict
from hub.store import ArchiveStore
from pipeline.journal import Journal
from pipeline.population import Member, Population


class ArchiveWriter:
    def __init__(self, store: ArchiveStore, journal: Journal, *, archived: set[str], batch: int, archive_failed: bool,
                 run_id: str, operator: str, task: Callable[[str], TaskRef], functional: dict[str, str]):
        self.store, self.journal, self.archived = store, journal, archived
        self.batch, self.archive_failed, self.run_id, self.operator = batch, archive_failed, run_id, operator
        self.task, self.functional = task, functional
        self.commits: list[str] = []
        self.error = ""          # the last append's failure ("" once one succeeds)

    def pending(self, population: Population) -> list[Member]:
        out = []
        for m in population.members.values():
            if m.id in self.archived or m.stage == "functionalize" or not m.source or m.verdict is None:
                continue
            if m.verified or self.archive_failed:
                out.append(m)
        return out

    def flush(self, population: Population, *, force: bool) -> None:
        todo = self.pending(population)
        if not todo or (not force and len(todo) < self.batch):
            return
        rows = []
        for m in todo:
            # in the archive a parent is named by its kernel's sha256, the one id every row carries
            parent = population.members.get(m.parent_ids[0]) if m.parent_ids else None
            rows.append(row_from_verdict(m.verdict, task=self.task(m.task_id), kernel_code=m.source,
                                         functional_code=self.functional.get(m.task_id, ""),
                                         parent_id=sha256_text(parent.source) if parent and parent.source else None,
                                         generation=m.generation, operator=self.operator, model=m.model,
                                         run_id=self.run_id))
        n_ok = sum(m.verified for m in todo)
        try:
            commit = self.store.append(rows, f"run {self.run_id}: {n_ok} verified, {len(todo) - n_ok} failed")
        except Exception as e:   # the archive is down: keep the kernels pending (the journal has them) and retry
            self.error = f"archive append failed ({type(e).__name__}: {str(e)[:200]}); `resume` retries it"
            self.journal.event("archive_error", error=self.error, pending=len(todo))
            return
        self.error = ""
        self.journal.archived([m.id for m in todo])
        self.archived.update(m.id for m in todo)
        self.commits.append(str(commit))
        self.journal.event("archive_commit", commit=str(commit), rows=len(rows))
