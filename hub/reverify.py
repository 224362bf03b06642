"""Re-verification: running imported (`status="unverified"`) rows through our harness.

Each judged row is a new row built from the verdict (`row_from_verdict`),
with the original claims and provenance carried over, appended in batches so
a long run that is killed keeps what it has judged. Rows that cannot even be
turned into a candidate (a task or kernel the harness cannot parse) are
reported and skipped, never labelled.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

from tqdm.auto import tqdm

from harness.judge.options import DEFAULT as VERIFY
from hub.schema import ArchiveError, Row, row_from_verdict, table_to_rows
from hub.store import ArchiveStore

_CARRY = ("task_code", "source", "claimed_correct", "claimed_max_diff", "claimed_runtime_ms", "claimed_eager_ms",
          "claimed_compile_ms", "claimed_speedup_eager", "claimed_speedup_compile", "source_meta")


@dataclass(frozen=True)
class ReverifyResult:
    judged: int
    verified: int
    skipped: tuple[tuple[str, str], ...]   # (task_id, reason)
    commits: tuple[str, ...]


def pending_rows(store: ArchiveStore, limit: int | None = None) -> list[Row]:
    """Unverified rows whose kernel has not been judged by us yet for that task."""
    rows = table_to_rows(store.read().data.table)
    judged = {(r.kernel_sha256, r.task_id) for r in rows if r.status != "unverified"}
    todo, seen = [], set()
    for r in rows:
        k = (r.kernel_sha256, r.task_id)
        if r.status == "unverified" and k not in judged and k not in seen:
            seen.add(k)
            todo.append(r)
    return todo[:limit] if limit is not None else todo


def reverify(store: ArchiveStore, *, limit: int | None = None, backend: str = VERIFY.backend, seeds: int = VERIFY.seeds,
             size: str = "default", run_id: str = "reverify", batch: int = 50, progress: bool = True,
             verify: Callable | None = None) -> ReverifyResult:
    """Judge up to `limit` unverified rows with `harness.judge.verify.verify` and append the verdicts.

    `size="small"` applies each task's SMALL overrides (CPU runs); Sakana's tasks have none and run as given.
    """
    from harness.candidate import CandidateError, detect_format
    from harness.task import TaskError, parse_task_source
    from harness.types import Candidate

    if verify is None:
        try:
            from harness.judge.verify import verify
        except ImportError as e:
            raise ArchiveError(f"the harness verifier is not available ({e}); install kernel-evolve fully") from None
    todo = pending_rows(store, limit)
    out: list[Row] = []
    skipped: list[tuple[str, str]] = []
    commits: list[str] = []
    judged = verified = 0

    def flush() -> None:
        if out:
            ok = sum(r.status == "verified" for r in out)
            commits.append(store.append(list(out), f"Reverify {len(out)} imported rows with the {backend} backend "
                                                    f"({ok} verified)"))
            out.clear()

    for r in tqdm(todo, desc="reverify", unit="kernel", disable=not progress):
        try:
            task = parse_task_source(r.functional_code or r.task_code, task_id=r.task_id)
            task = dataclasses.replace(task, level=r.level, op_name=r.op_name)
            cand = Candidate(task=task, source=r.kernel_code, format=detect_format(r.kernel_code), name=r.task_id)
        except (TaskError, CandidateError) as e:
            skipped.append((r.task_id, str(e)))
            continue
        verdict = verify(cand, backend=backend, seeds=seeds, size=size)
        row = row_from_verdict(verdict, task=task, kernel_code=r.kernel_code, functional_code=r.functional_code,
                               operator="reverify", run_id=run_id)
        out.append(dataclasses.replace(row, **{k: getattr(r, k) for k in _CARRY}))
        judged += 1
        verified += verdict.status == "verified"
        if len(out) >= batch:
            flush()
    flush()
    return ReverifyResult(judged=judged, verified=verified, skipped=tuple(skipped), commits=tuple(commits))
