"""Cold runs: one fresh, supervised sandbox process per job (or a pre-started one from a pool).

`run_job` writes the job into a private directory, starts the supervisor with the isolation
`harness.sandbox.choice` picks for this host, and collects the worker's messages
(`harness.sandbox.process`); with a `harness.sandbox.warm.WarmPool` it hands the job to a
pre-started sandbox of the same kind instead. A run that stops on CUDA out of memory while the
device is shared runs once more with the device alone.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from harness.sandbox.choice import sandbox_config
from harness.sandbox.devlock import DeviceLock, Gate
from harness.sandbox import process
from harness.sandbox.process import (WORKER, Limits, RunResult, backstop, gated, result_pipe, start_sandbox,
                                     transfer_note, write_job)
from harness.sandbox.uids import alloc_uid, can_drop_privileges, free_uid, reap_uid
from harness.sandbox.warm import WarmPool
from harness.worker import protocol as P


def run_job(job: P.Job, *, limits: Limits, backend: str, env: dict[str, str] | None = None,
            files: dict[str, str] | None = None, copies: dict[str, str] | None = None,
            pool: WarmPool | None = None, lock: DeviceLock | None = None) -> RunResult:
    """Run harness/worker/main.py on `job` in a fresh sandboxed process; collect its messages.

    With a `pool` (harness.sandbox.warm.WarmPool) of the same backend, environment and rlimits, the process is one
    the pool pre-started (torch imported, waiting for one job); otherwise, or if the pool has none, a cold one.
    With a device `lock` the run holds the device shared, and a timed job waits for it exclusively before
    its timed calls (`harness.sandbox.devlock.Gate`); the time queued does not count against `limits`. A run
    whose failure other runs sharing the device may have caused (`shared_device_failure`) runs once more,
    cold, with the device alone (`reran_alone` says why).
    """
    res = _run_once(job, limits=limits, backend=backend, env=env, files=files, copies=copies, pool=pool, lock=lock)
    why = shared_device_failure(res) if lock is not None else ""
    if why:
        with lock.held_alone():
            res = replace(_run_once(job, limits=limits, backend=backend, env=env, files=files, copies=copies),
                          reran_alone=why)
    return res


def _run_once(job: P.Job, *, limits: Limits, backend: str, env: dict[str, str] | None = None,
              files: dict[str, str] | None = None, copies: dict[str, str] | None = None,
              pool: WarmPool | None = None, lock: DeviceLock | None = None) -> RunResult:
    if pool is not None:
        res = pool.run(job, limits=limits, backend=backend, env=env, files=files, copies=copies, lock=lock)
        if res is not None:
            return res
    tmp = Path(tempfile.mkdtemp(prefix="ke-run-"))
    uid = alloc_uid() if can_drop_privileges() else None
    read_fd, write_fd = result_pipe()
    arena, why = process.make_arena(limits)
    collecting = False
    gate = Gate(lock, timed=job.timing is not None, baseline=job.role == "reference") if lock is not None else None
    try:
        if uid is not None:
            os.chown(tmp, uid, uid)
        fds = [write_fd] + ([gate.read_fd] if gate is not None and gate.timed else []) + \
            ([arena.fd] if arena is not None else [])
        write_job(tmp, uid, gated(job, gate, write_fd, gate.read_fd if gate else -1, arena), files, copies)
        cmd = [sys.executable, "-s", "-B", str(WORKER), str(tmp / "job.json")]
        cfg = sandbox_config(tmp, uid, cmd, limits=backstop(limits, gate), backend=backend, env=env, pass_fds=fds)
        if gate is not None:
            gate.start()
        t0 = time.monotonic()
        proc = start_sandbox(cfg, fds)
        os.close(write_fd)
        write_fd = -1
        if gate is not None:
            gate.close_worker_end()
        collecting = True  # the reader thread owns (and closes) the result pipe from here
        return process.collect(proc, read_fd, tmp, limits, t0, role=job.role, gate=gate, arena=arena,
                               transfer=transfer_note(arena, why))
    finally:
        if not collecting:
            os.close(read_fd)
        if write_fd >= 0:
            os.close(write_fd)
        if arena is not None:
            arena.close()
        reap_uid(uid)  # nothing the run left behind outlives it (no PID namespace on some CUDA hosts)
        if gate is not None:
            gate.close()
        free_uid(uid)
        shutil.rmtree(tmp, ignore_errors=True)


def shared_device_failure(res: RunResult) -> str:
    """Why the run's failure may be another run's doing while they shared the GPU ("" if it cannot be)."""
    if out_of_device_memory(res):
        return "CUDA ran out of memory while the GPU was shared with other runs"
    if res.memory is not None and res.memory.maybe_others:
        return ("the run went past its device-memory budget on a device-wide figure, which counts the other runs "
                "sharing the GPU")
    return ""


def out_of_device_memory(res: RunResult) -> bool:
    """Did the run stop on a CUDA out-of-memory error? While runs share a GPU that can be another run's
    doing, so `run_job` runs it once more with the GPU alone (a forged report only costs that rerun)."""
    err = res.first("error")
    text = (err[0].message if err else "") + (res.log_tail[-4000:] if res.exit_code else "")
    return "CUDA out of memory" in text or "OutOfMemoryError" in text
