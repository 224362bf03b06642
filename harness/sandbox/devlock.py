"""The device lock: many correctness runs may share a GPU, a timing run has it to itself.

One lock per device of this machine (`cuda` GPUs by physical index; the CPU backend's cores as
one device), on `flock` so that threads, pipeline workers, pytest-xdist workers and a second
`kernel-evolve` on the same box all agree. The main lock has two modes:

- `shared`: a candidate's correctness phase (start-up, cases, the parent's comparisons);
- `exclusive`: a candidate's timed calls and profile. It waits for every shared holder to
  finish and keeps new ones out.

A second lock, `alive`, is held shared by every candidate run from start to end; a reference's
eager and torch.compile baselines take it exclusively (`DeviceLock.alone`, through a baseline
`Gate`), so no candidate process, not even one queued for its own timing slot, exists while a
baseline is timed. The rest of a reference run (start-up, inputs, float64 outputs, compiling the
torch.compile baseline) shares the device like any correctness work.

Turnstile files give waiting exclusive holders precedence, so timing runs are never starved by a
stream of correctness runs. Every acquisition opens its own file description (flock conflicts
between descriptions, also within one process), and the kernel drops a lock when its holder dies,
so a killed run never leaves a stale lock. No deadlock: `alive` is always taken before the main
lock; a candidate gives up its shared hold before it queues for its timing slot; and the one
holder that waits for the main lock while holding `alive` exclusively (a reference) gives up its shared
hold before it queues for `alive`, and waits for the main lock only when no candidate is alive, so
only the finite shared holds of the parent's comparisons stand before it.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from pathlib import Path
from typing import Iterator, Literal

from harness.sandbox.private_dir import default_root, open_private, private_dir
from harness.settings import settings

Mode = Literal["shared", "exclusive"]


def physical_device(device_index: int | None) -> str:
    """The machine-wide name of visible CUDA device `device_index` (default 0)."""
    i = device_index or 0
    visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
    return visible[i] if i < len(visible) else str(i)


def lock_dir() -> Path:
    """The device locks' folder (`KERNEL_EVOLVE_LOCK_DIR`, else `private_dir.default_root`), private to this uid: a
    candidate that could reach the lock files could hold or remove them and break timing exclusivity."""
    return private_dir(settings().lock_dir or default_root("locks"))


class DeviceLock:
    """One holder's lock on one device; `acquire` switches mode (dropping the old hold first)."""

    def __init__(self, backend: str, device_index: int | None = None):
        self.name = f"cuda-{physical_device(device_index).replace('/', '_')}" if backend == "cuda" else \
            "cpu" if backend == "cpu" else ""
        self.mode: Mode | None = None
        self.waited_s = 0.0   # total time spent waiting for this lock
        self._fd: int | None = None

    def _open(self, suffix: str) -> int:
        return open_private(lock_dir() / f"{self.name}.{suffix}")

    def _through(self, turn: str, lock: str, op: int) -> int:
        """flock `lock` with `op`, queueing at the turnstile `turn` (writer preference); the held fd."""
        t = self._open(turn)
        try:
            fcntl.flock(t, fcntl.LOCK_EX)
            fd = self._open(lock)
            try:
                fcntl.flock(fd, op)
            except BaseException:
                os.close(fd)
                raise
        finally:
            os.close(t)
        return fd

    def acquire(self, mode: Mode) -> float:
        """Block until held in `mode`; returns the seconds waited. A no-op for an unknown backend."""
        self.release()
        if not self.name:
            return 0.0
        t0 = time.monotonic()
        fd = self._through("turn", "lock", fcntl.LOCK_SH if mode == "shared" else fcntl.LOCK_EX)
        self._fd, self.mode = fd, mode
        waited = time.monotonic() - t0
        self.waited_s += waited
        return waited

    def attach(self) -> int | None:
        """Mark a candidate process alive on this device until the returned fd is closed (see `device_alone`)."""
        return self._through("aturn", "alive", fcntl.LOCK_SH) if self.name else None

    def alone(self) -> int | None:
        """Wait until no candidate process is alive on the device and keep new ones from starting, then take
        it exclusively; close the returned fd (and `release`) to end."""
        if not self.name:
            return None
        fd = self._through("aturn", "alive", fcntl.LOCK_EX)
        try:
            self.acquire("exclusive")
        except BaseException:
            os.close(fd)
            raise
        return fd

    def release(self) -> None:
        fd, self._fd, self.mode = self._fd, None, None
        if fd is not None:
            os.close(fd)  # closing drops the flock

    @contextlib.contextmanager
    def held(self, mode: Mode) -> Iterator["DeviceLock"]:
        self.acquire(mode)
        try:
            yield self
        finally:
            self.release()

    @contextlib.contextmanager
    def held_alone(self) -> Iterator["DeviceLock"]:
        """`alone` for the duration of a `with` block."""
        fd = self.alone()
        try:
            yield self
        finally:
            self.release()
            if fd is not None:
                os.close(fd)


@contextlib.contextmanager
def device_alone(backend: str, device_index: int | None) -> Iterator[None]:
    """The device with no candidate process alive on it at all (a reference's baseline timings): a candidate
    queued for its own timing slot is still a process that could keep the GPU busy from a thread of its
    own, and a slowed baseline would inflate every speedup measured against it."""
    with DeviceLock(backend, device_index).held_alone():
        yield


def device_exclusive(backend: str, device_index: int | None) -> contextlib.AbstractContextManager:
    """Hold the device alone for the block (a timing run)."""
    return DeviceLock(backend, device_index).held("exclusive")


def device_shared(backend: str, device_index: int | None) -> contextlib.AbstractContextManager:
    """Hold the device with other correctness work, never during a timing run."""
    return DeviceLock(backend, device_index).held("shared")


GATE_MAX_S = 3600.0  # how long a run may wait for its timing slot before its sandbox's backstop deadline


class Gate:
    """One run's side of the device lock: shared while it checks correctness, exclusive while it is timed.

    The runner holds `lock` shared from before the worker starts (CUDA initialisation is GPU work too). A
    timed worker, once its correctness cases are out, sends a `ready` message and blocks reading `read_fd`;
    `on_header("ready")` (the parent's reader thread) gives up the shared hold, queues for the exclusive
    one, and writes one byte that lets the worker time its calls. The exclusive hold ends at the worker's
    `done` message (after its timed loop and its snapshots, its last GPU work), or at an `error`, or when the run ends (`close`). Only the
    parent's lock counts: a worker that lies about its phase can only hold the slot until its own time
    limit, which excludes the time it spent queued (`waited_s`).
    """

    def __init__(self, lock: DeviceLock, *, timed: bool, fds: tuple[int, int] | None = None,
                 baseline: bool = False):
        self.lock = lock
        self.timed = timed
        # a reference run: its slot times the eager/torch.compile baselines with no candidate process alive
        # (`DeviceLock.alone`) and ends at its `bandwidth` message; it is not itself a candidate (no `attach`)
        self.baseline = baseline
        self._release_on = ("bandwidth", "error") if baseline else ("done", "error")
        self.read_fd, self.write_fd = (fds or os.pipe()) if timed else (-1, -1)
        self.waited_s = 0.0       # queued for the timing slot, with the run's clock stopped
        self.start_wait_s = 0.0   # queued for the shared hold before the run started
        self.granted = False
        self._hello = False       # a worker's "ready" counts only after its "hello" (the protocol's order)
        self._queued_at: float | None = None
        self._mu = threading.Lock()
        self._closed = False
        self._alive: int | None = None

    def waited(self, now: float) -> float:
        """Seconds spent queued so far, the current wait included (the run's clock stops meanwhile)."""
        q = self._queued_at
        return self.waited_s + (now - q if q is not None else 0.0)

    def start(self) -> None:
        """Before the worker starts (or gets its job): mark the run alive on the device and hold it shared
        (before the run's clock starts)."""
        t0 = time.monotonic()
        self._alive = None if self.baseline else self.lock.attach()
        self.start_wait_s = time.monotonic() - t0 + self.lock.acquire("shared")

    def on_header(self, kind: str) -> None:
        if kind == "hello":
            self._hello = True
        elif kind == "ready" and self.timed and self._hello and not self.granted:
            # (a "ready" forged before "hello" would queue before the run's clock starts, stretching its
            # deadline by the wait; it gets no slot, and the channel check fails the run)
            self.granted = True
            self._queued_at = time.monotonic()
            try:
                if self.baseline:  # never wait for `alive` while holding the main lock (see the module doc)
                    self.lock.release()
                    self._alive = self.lock.alone()
                    self.waited_s += time.monotonic() - self._queued_at
                else:
                    self.waited_s += self.lock.acquire("exclusive")
            finally:
                self._queued_at = None
            with self._mu:
                if self._closed:  # the run ended while this thread queued: never keep the slot
                    self._drop_slot()
                    return
                try:
                    os.write(self.write_fd, b"g")
                except OSError:
                    pass
        elif kind in self._release_on and self.lock.mode == "exclusive":
            with self._mu:
                self._drop_slot()

    def _drop_slot(self) -> None:
        self.lock.release()
        if self.baseline and self._alive is not None:
            os.close(self._alive)
            self._alive = None

    def close_worker_end(self) -> None:
        """The parent's copy of the worker's end, once the worker holds it."""
        if self.read_fd >= 0:
            os.close(self.read_fd)
            self.read_fd = -1

    def close(self) -> None:
        with self._mu:
            self._closed = True
            self.lock.release()
            if self._alive is not None:
                os.close(self._alive)
                self._alive = None
            self.close_worker_end()
            if self.write_fd >= 0:
                os.close(self.write_fd)
                self.write_fd = -1
