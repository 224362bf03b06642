"""Warm runners: a pool of sandboxed worker processes, started and prepared ahead, waiting for one job each.

Starting an interpreter, importing torch and (on CUDA) creating a context cost seconds per run (about
1 s on the CPU development machine; 5-25 s under gVisor on the GPU hosts, most of it CUDA). `WarmPool`
keeps `size` sandboxes *armed*: each is a full `harness/sandbox/supervisor.py` supervisor (its own uid
from `harness.sandbox.uids.alloc_uid`, the namespaces and Landlock of `harness.sandbox.choice`,
rlimits, the whitelisted environment with HOME/TMPDIR its own directory) whose worker
(`harness/worker/main.py --wait`) has imported torch and run `harness.worker.main.prepare`: on CUDA
the context, cuBLAS and a profiler session; no task, no candidate. It blocks on its stdin until the
supervisor relays a job path. Reference runs and candidate runs alike take them.

`WarmPool.run` takes one armed sandbox, writes the job's files into its directory (owned by its
uid), and sends `{"timeout_s", "job"}` to the supervisor: the supervisor's wall-clock deadline
and the parent's (`process.collect`) both start at this assignment, so a worker that waited for
minutes still gets its full time, and a candidate that hangs is killed with everything it
started, exactly as in a cold run. Each process runs one job and exits; none is ever reused.
A background thread starts a replacement for every sandbox taken. `close()` ends every armed
sandbox; if this process dies instead, each supervisor reads EOF on its control pipe and ends
its own tree (and one that gets no job within `armed_max_s` ends itself).

What a pre-started worker changes for isolation: nothing a candidate can reach. Before its job
the worker runs only the harness's own code under a uid no other run holds, in its own
namespaces, so a candidate running elsewhere meanwhile can no more reach it than it could reach
a later cold run. The verdict's isolation check says "pre-started" for these runs.
"""
from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.sandbox import process, uids
from harness.sandbox.choice import sandbox_config
from harness.sandbox.devlock import DeviceLock, Gate
from harness.sandbox.process import Limits, RunResult
from harness.sandbox.supervisor import descendants
from harness.worker import protocol as P, wire


@dataclass(frozen=True)
class PoolStats:
    """What a pool did so far: sandboxes started, taken for a job, discarded (died or failed), start errors."""

    started: int
    taken: int
    discarded: int
    armed: int
    last_error: str = ""


def _rlimits(limits: Limits, backend: str) -> tuple:
    """The parts of `Limits` fixed when a sandbox starts (the deadlines come with the job)."""
    return (limits.memory_mb if backend == "cpu" else None, limits.nproc, limits.fsize_mb)


@dataclass
class Armed:
    """One pre-started sandbox: its supervisor, directory, uid and pipes (parent ends)."""

    proc: subprocess.Popen
    tmp: Path
    uid: int | None
    read_fd: int            # result pipe, read end (the worker holds the write end)
    out_fd: int             # the worker's number for the result pipe's write end
    go_fd: int              # control pipe to the supervisor, write end
    ready_fd: int           # one byte from the worker once torch is imported, read end
    gate_fd: int            # the timing-slot pipe, write end (the worker holds the read end)
    gate_num: int           # the worker's number for the timing-slot pipe's read end
    started: float
    arena: wire.Arena | None = None   # the sealed shared-memory file for its tensor bytes (None: the pipe)
    transfer: str = "pipe"
    is_ready: bool = False
    dead: bool = False
    _closed: list[int] = field(default_factory=list)

    def poll(self) -> bool:
        """Alive? Notices the ready byte, and EOF from a worker that died while starting."""
        if self.dead or self.proc.poll() is not None:
            self.dead = True
            return False
        if not self.is_ready and select.select([self.ready_fd], [], [], 0)[0]:
            if os.read(self.ready_fd, 1) == b"R":
                self.is_ready = True
            else:
                self.dead = True
        return not self.dead

    def pids(self) -> list[int]:
        """Host pids of the supervisor and every process below it."""
        return [self.proc.pid, *descendants(self.proc.pid)]

    def assign(self, job: P.Job, *, limits: Limits, files: dict[str, str] | None,
               copies: dict[str, str] | None, gate: Gate | None = None) -> float | None:
        """Hand the job over; the monotonic time of the assignment, or None if the sandbox is gone."""
        process.write_job(self.tmp, self.uid, process.gated(job, gate, self.out_fd, self.gate_num, self.arena),
                         files, copies)
        limits = process.backstop(limits, gate)
        msg = json.dumps({"timeout_s": limits.startup_s + limits.timeout_s, "job": str(self.tmp / "job.json")})
        t0 = time.monotonic()
        try:
            os.write(self.go_fd, msg.encode() + b"\n")
        except OSError:
            return None
        finally:
            self._close(self.go_fd)
        return t0

    def kill(self) -> None:
        """End the sandbox and everything in it, then free its uid and directory."""
        self._close(self.go_fd)  # EOF: the supervisor kills its tree and exits
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()
        if self.proc.stderr:
            self.proc.stderr.close()
        self.release()

    def release(self) -> None:
        for fd in (self.read_fd, self.go_fd, self.ready_fd, self.gate_fd):
            self._close(fd)
        if self.arena is not None:
            self.arena.close()
        uids.reap_uid(self.uid)  # nothing it left behind outlives it (no PID namespace on some CUDA hosts)
        uids.free_uid(self.uid)
        self.uid = None
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _close(self, fd: int) -> None:
        if fd not in self._closed:
            self._closed.append(fd)
            try:
                os.close(fd)
            except OSError:
                pass


def arm(*, backend: str, env: dict[str, str] | None, limits: Limits, armed_max_s: float,
        armed_nice: int = 10) -> Armed:
    """Start one sandbox whose worker imports torch (at nice `armed_nice`, so it yields to running jobs)
    and waits for a job; the supervisor puts the whole tree back at its own nice before it relays the job."""
    tmp = Path(tempfile.mkdtemp(prefix="ke-run-"))
    uid = uids.alloc_uid() if uids.can_drop_privileges() else None
    read_fd, write_fd = process.result_pipe()
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    gate_r, gate_w = os.pipe()
    arena, why = process.make_arena(limits)
    passed = [write_fd, ready_w, gate_r] + ([arena.fd] if arena is not None else [])
    try:
        if uid is not None:
            os.chown(tmp, uid, uid)
        # DIR (last) is unused by the worker: it names the run in `ps`, as a cold run's job path does
        cmd = [sys.executable, "-s", "-B", str(process.WORKER), "--wait", str(ready_w), str(tmp), backend]
        cfg = sandbox_config(tmp, uid, cmd, limits=limits, backend=backend, env=env, pass_fds=passed)
        cfg.update(go_fd=go_r, armed_max_s=armed_max_s,
                   armed_nice=armed_nice if os.geteuid() == 0 else 0)  # only root can lower it again
        proc = process.start_sandbox(cfg, passed + [go_r])
    except BaseException:
        for fd in (read_fd, write_fd, ready_r, ready_w, go_r, go_w, gate_r, gate_w):
            os.close(fd)
        if arena is not None:
            arena.close()
        uids.free_uid(uid)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for fd in (write_fd, ready_w, go_r, gate_r):
        os.close(fd)
    return Armed(proc=proc, tmp=tmp, uid=uid, read_fd=read_fd, out_fd=write_fd, go_fd=go_w, ready_fd=ready_r,
                 gate_fd=gate_w, gate_num=gate_r, started=time.monotonic(), arena=arena,
                 transfer=process.transfer_note(arena, why))


class WarmPool:
    """`size` armed sandboxes for one backend and worker environment, refilled in the background.

    Use: `with WarmPool(2, backend="cpu") as pool: verify(candidate, backend="cpu", pool=pool)`.
    `env` is the worker's extra environment, as `run_job` gets it (e.g. `reference.device_env(i)`);
    `limits` gives the rlimits its sandboxes start with (jobs with other rlimits run cold).
    """

    def __init__(self, size: int = 2, *, backend: str = "cpu", env: dict[str, str] | None = None,
                 limits: Limits = Limits(), armed_max_s: float = 3600.0):
        if size < 1:
            raise ValueError("a warm pool needs at least one sandbox")
        if backend not in ("cpu", "cuda"):
            raise ValueError(f"unknown backend {backend!r}: use cpu or cuda (resolve 'auto' first)")
        self.size, self.backend, self.env = size, backend, dict(env or {})
        self.limits, self.armed_max_s = limits, armed_max_s
        self.ready_wait_s = 60.0 if backend == "cuda" else 10.0   # a prepared sandbox beats a cold start
        self._armed: list[Armed] = []
        self._cv = threading.Condition()
        self._closed = False
        self._stats = {"started": 0, "taken": 0, "discarded": 0}
        self._error = ""
        self._thread = threading.Thread(target=self._refill, name="ke-warm-pool", daemon=True)
        self._thread.start()

    def stats(self) -> PoolStats:
        with self._cv:
            return PoolStats(armed=len(self._armed), last_error=self._error, **self._stats)

    def pids(self) -> list[int]:
        """Host pids of every process of the armed sandboxes (supervisors and what runs below them)."""
        with self._cv:
            return [p for a in self._armed for p in a.pids()]

    def wait_ready(self, timeout_s: float = 120.0) -> bool:
        """Block until all `size` sandboxes are armed and their workers have imported torch."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            with self._cv:
                live = [a for a in self._armed if a.poll()]
                if len(live) >= self.size and all(a.is_ready for a in live):
                    return True
            time.sleep(0.02)
        return False

    def take(self, *, limits: Limits, backend: str, env: dict[str, str] | None) -> Armed | None:
        """A ready armed sandbox that fits this job, or None (the job then starts cold).

        Only a sandbox whose worker said it is prepared is handed a job: one still preparing is waited for
        (up to `ready_wait_s`, less than a cold start costs), and one that died preparing (on CUDA: say, out
        of device memory creating its context) is discarded, never given the job to fail."""
        if backend != self.backend or dict(env or {}) != self.env or \
                _rlimits(limits, backend) != _rlimits(self.limits, backend):
            return None
        end = time.monotonic() + self.ready_wait_s
        while True:
            dead: list[Armed] = []
            with self._cv:
                live = []
                for a in self._armed:
                    (live if a.poll() else dead).append(a)
                pick = next((a for a in live if a.is_ready), None)
                self._armed = [a for a in live if a is not pick]
                self._stats["discarded"] += len(dead)
                if pick is not None:
                    self._stats["taken"] += 1
                self._cv.notify_all()
            for a in dead:
                a.kill()
            if pick is not None or not live or time.monotonic() >= end:
                return pick
            time.sleep(0.02)

    def run(self, job: P.Job, *, limits: Limits, backend: str, env: dict[str, str] | None = None,
            files: dict[str, str] | None = None, copies: dict[str, str] | None = None,
            lock: DeviceLock | None = None) -> RunResult | None:
        """Run one job in a pre-started sandbox; None if none fits or is left (the caller then starts cold).
        `lock` as in `harness.sandbox.runner.run_job`."""
        while True:
            a = self.take(limits=limits, backend=backend, env=env)
            if a is None:
                return None
            gate = Gate(lock, timed=job.timing is not None, fds=(-1, a.gate_fd),
                        baseline=job.role == "reference") if lock is not None else None
            try:  # from here on, whatever fails (the gate's start included) kills and frees this sandbox
                if gate is not None:
                    if gate.timed:
                        a._closed.append(a.gate_fd)  # the gate closes it
                    gate.start()
                t0 = a.assign(job, limits=limits, files=files, copies=copies, gate=gate)
                if t0 is None:  # died between take and assignment: try the next one
                    with self._cv:
                        self._stats["discarded"] += 1
                    a.kill()
                    continue
                a._closed.append(a.read_fd)  # from here the reader thread owns (and closes) the result pipe
                return process.collect(a.proc, a.read_fd, a.tmp, limits, t0, role=job.role, note="pre-started",
                                       gate=gate, arena=a.arena, transfer=a.transfer)
            finally:
                if a.proc.poll() is None:
                    a.kill()
                a.release()  # before the gate: no process of the run is left when the device is given back
                if gate is not None:
                    gate.close()

    def _refill(self) -> None:
        failures = 0
        while True:
            with self._cv:
                while not self._closed and len(self._armed) >= self.size:
                    self._cv.wait()
                if self._closed:
                    return
            try:
                a = arm(backend=self.backend, env=self.env, limits=self.limits, armed_max_s=self.armed_max_s)
                failures = 0
            except Exception as e:  # noqa: BLE001 - no uid, no fds: jobs run cold meanwhile; retry later
                failures += 1
                with self._cv:
                    self._error = f"{type(e).__name__}: {e}"[:500]
                    self._cv.wait(timeout=min(60.0, 0.5 * 2 ** failures))
                continue
            with self._cv:
                if not self._closed:
                    self._armed.append(a)
                    self._stats["started"] += 1
                    continue
            a.kill()
            return

    def close(self) -> None:
        """Stop refilling and end every armed sandbox (no process of the pool is left)."""
        with self._cv:
            self._closed = True
            armed, self._armed = self._armed, []
            self._cv.notify_all()
        self._thread.join(timeout=60)
        for a in armed:
            a.kill()

    def __enter__(self) -> "WarmPool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["WarmPool", "PoolStats", "Armed", "arm"]
