"""Where a run without an LLM starts: the starting kernels of a task.

The first is the fastest verified kernel of the same task (or op) in the archive; on a fresh
machine with an empty archive they are the kernels shipped beside a built-in task (its "seeds",
`<op>.k.cu|.k.cpp` and `<op>.cu|.cpp`). Either way the run re-verifies a starting kernel with the
harness on this machine (generation 0), and a verified one is appended to the archive like any
other kernel, so the archive's first rows are real verdicts from the user's own hardware, never
precomputed claims. ("Seeds" of a verification are its secret random inputs: another thing.)
"""
from __future__ import annotations

from dataclasses import dataclass

from harness.task import known_good_kernel
from harness.types import TaskRef
from hub.store import ArchiveStore
from pipeline.innovation import best_for_task, verified_kernels


@dataclass(frozen=True)
class StartingKernel:
    source: str
    origin: str          # "archive:<task_id>" or "known-good:<path>"


def starting_kernels(task: TaskRef, *, backend: str, store: ArchiveStore | None = None,
                     kernel_format: str = "K") -> list[StartingKernel]:
    """Starting kernels for `task`, best first: the archive's fastest of the task (or op), then the kernels shipped
    beside it, the run's `kernel_format` first (format K builds in about a second, format A in 25-90 s)."""
    out: list[StartingKernel] = []
    if store is not None:
        best = best_for_task(verified_kernels(store, backend=backend), task)
        if best is not None:
            out.append(StartingKernel(best.kernel_code, f"archive:{best.task_id}"))
    for fmt in dict.fromkeys((kernel_format, "K", "A")):
        path = known_good_kernel(task, backend, format=fmt)
        if path is not None and not any(s.source == path.read_text() for s in out):
            out.append(StartingKernel(path.read_text(), f"known-good:{path.name}"))
    return out
