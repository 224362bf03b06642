"""Where candidates are judged: the `Executor` seam, and the local thread-pool implementation.

The pipeline submits candidates and gets futures of verdicts; it never knows
whether they are judged here or on a cluster. Each verification already runs
its candidate in its own sandboxed process, so local threads are enough.
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

from harness.types import Candidate, Verdict


class Executor(Protocol):
    def submit(self, candidate: Candidate, **verify_kw: Any) -> "Future[Verdict]": ...


class LocalExecutor:
    """Judges candidates in parallel on this machine (each in its own sandboxed process).

    `warm=N` keeps N pre-started sandboxes (`harness.sandbox.warm.WarmPool`) for `backend`'s candidate runs:
    each candidate still gets a fresh process of its own, minus the interpreter start and torch import.
    """

    def __init__(self, max_workers: int = 2, *, warm: int = 0, backend: str = "cpu"):
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="ke-verify")
        self._warm = None
        if warm > 0:
            from harness.sandbox.warm import WarmPool

            self._warm = WarmPool(warm, backend=backend)

    @property
    def warm_pool(self) -> Any:
        """The `WarmPool` behind `warm=N` (None without one)."""
        return self._warm

    def submit(self, candidate: Candidate, **verify_kw: Any) -> "Future[Verdict]":
        from harness.judge.reference import resolve_backend
        from harness.judge.verify import verify

        if self._warm is not None and resolve_backend(verify_kw.get("backend", "auto")) == self._warm.backend:
            verify_kw = dict(verify_kw, pool=self._warm)
        return self._pool.submit(verify, candidate, **verify_kw)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)
        if self._warm is not None:
            self._warm.close()

    def __enter__(self) -> "LocalExecutor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
