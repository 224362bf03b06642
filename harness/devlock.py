"""The device timing lock: at most one timing run per GPU of this machine, across threads and processes.

A timing run (a candidate's or a reference's eager/torch.compile baseline) must have its GPU to itself.
Threads of one process serialise on a `threading.Lock`; processes (pipeline workers, pytest-xdist
workers, a second `kernel-evolve` on the same box) on an `flock` of a per-device file in a private
directory, which the kernel drops when its holder dies, so a killed run never leaves a stale lock.
The GPU is named by its physical index (through `CUDA_VISIBLE_DEVICES`) so that two processes with
different visible-device lists still agree on which card they share.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import threading
from pathlib import Path
from typing import Iterator

_thread_locks: dict[str, threading.Lock] = {}
_guard = threading.Lock()


def physical_device(device_index: int | None) -> str:
    """The machine-wide name of visible device `device_index` (default 0)."""
    i = device_index or 0
    visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
    return visible[i] if i < len(visible) else str(i)


def lock_dir() -> Path:
    d = Path(os.environ.get("KE_LOCK_DIR") or Path(tempfile.gettempdir()) / f"kernel-evolve-locks-{os.getuid()}")
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    return d


@contextlib.contextmanager
def device_exclusive(backend: str, device_index: int | None) -> Iterator[None]:
    """Hold the GPU's timing lock for the block; a no-op off CUDA."""
    if backend != "cuda":
        yield
        return
    key = physical_device(device_index)
    with _guard:
        tl = _thread_locks.setdefault(key, threading.Lock())
    with tl:
        fd = os.open(lock_dir() / f"cuda-{key.replace('/', '_')}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing drops the flock
