"""The innovation archive: verified kernels retrieved from any ArchiveStore as stepping stones.

Reads a store (local, pulled from the Hub, or imported from Sakana) and returns
verified kernels of the same task, or of related ops ranked by op-name overlap
and task-code similarity. Retrieval never fails a run: an unreadable or empty
archive gives no stepping stones.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any, Iterable

from harness.types import TaskRef
from pipeline.prompts import Shot


@dataclass(frozen=True)
class ArchivedKernel:
    task_id: str
    op_name: str
    kernel_code: str
    speedup: float | None
    backend: str
    task_code: str = ""
    kernel_sha256: str = ""


def _rows(store: Any) -> Iterable[dict[str, Any]]:
    try:
        data = store.read()
    except Exception:
        return []
    if hasattr(data, "values") and not hasattr(data, "column_names"):   # a DatasetDict
        return [r for split in data.values() for r in split]
    return list(data) if data is not None else []


def verified_kernels(store: Any, *, backend: str | None = None) -> list[ArchivedKernel]:
    out = []
    for r in _rows(store):
        if r.get("status") != "verified" or not r.get("kernel_code"):
            continue
        if backend and r.get("backend") and r.get("backend") != backend:
            continue
        out.append(ArchivedKernel(task_id=r.get("task_id", ""), op_name=r.get("op_name", ""),
                                  kernel_code=r["kernel_code"], speedup=r.get("speedup_eager"),
                                  backend=r.get("backend", ""), task_code=r.get("task_code", "") or "",
                                  kernel_sha256=r.get("kernel_sha256", "")))
    return out


def _tokens(name: str) -> set[str]:
    return {t for t in re.split(r"[^a-z0-9]+", name.lower()) if t}


def best_for_task(kernels: list[ArchivedKernel], task: TaskRef) -> ArchivedKernel | None:
    """The fastest verified kernel of the same task id, else of the same op name."""
    for match in (lambda k: k.task_id == task.task_id, lambda k: k.op_name == task.op_name):
        hits = [k for k in kernels if match(k)]
        if hits:
            return max(hits, key=lambda k: k.speedup or 0.0)
    return None


def related(kernels: list[ArchivedKernel], task: TaskRef, k: int = 2) -> list[ArchivedKernel]:
    """Verified kernels of *other* tasks, most related first (op-name overlap, then task-code similarity)."""
    mine = _tokens(task.op_name)
    scored = []
    for a in kernels:
        if a.task_id == task.task_id:
            continue
        theirs = _tokens(a.op_name)
        overlap = len(mine & theirs) / max(1, len(mine | theirs))
        sim = difflib.SequenceMatcher(None, task.source[:2000], a.task_code[:2000]).quick_ratio() if a.task_code else 0.0
        scored.append((overlap + 0.5 * sim, a.speedup or 0.0, a))
    scored.sort(key=lambda t: (-t[0], -t[1]))
    seen, out = set(), []
    for _, _, a in scored:
        if a.op_name in seen:
            continue
        seen.add(a.op_name)
        out.append(a)
        if len(out) == k:
            break
    return out


def stepping_stones(store: Any, task: TaskRef, *, backend: str, k: int = 2) -> tuple[Shot, ...]:
    """Prompt shots of related verified kernels from the archive."""
    if store is None or k <= 0:
        return ()
    return tuple(
        Shot(code=a.kernel_code, label=f"{a.op_name} ({a.task_id}), speedup {a.speedup:.3g}x" if a.speedup
             else f"{a.op_name} ({a.task_id})")
        for a in related(verified_kernels(store, backend=backend), task, k)
    )
