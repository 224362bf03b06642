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
    """Judges candidates in parallel on this machine (each in its own sandboxed process)."""

    def __init__(self, max_workers: int = 2):
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="ke-verify")

    def submit(self, candidate: Candidate, **verify_kw: Any) -> "Future[Verdict]":
        from harness.verify import verify
        return self._pool.submit(verify, candidate, **verify_kw)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)

    def __enter__(self) -> "LocalExecutor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
