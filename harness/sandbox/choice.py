"""Which isolation this host's sandboxes get: the namespaces and Landlock, probed once per process for CUDA.

Both namespaces and Landlock everywhere (Landlock where the kernel has it), unless the GPU driver cannot
work inside them: some hosts' drivers (gVisor's nvproxy on the project's H100 machines) fail
`cudaGetDeviceCount` with error 304 under a new PID namespace. The first CUDA run of a process then
probes, in a real sandbox (uid drop, rlimits), the strongest set of namespaces that works (PID+net, net,
none), and then whether CUDA (with the profiler, as every timed run uses it) works under Landlock. What is
dropped goes into the note of every verdict's isolation check, so a weaker sandbox is never silent.
`sandbox_config` is the supervisor's configuration with these choices filled in.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from harness.sandbox import landlock, process
from harness.sandbox.process import Limits
from harness.sandbox.uids import alloc_uid, can_drop_privileges, free_uid

_PROBE = "import torch; assert torch.ones(8, device='cuda').sum().item() == 8"
# under Landlock, also what a worker does past start-up on CUDA: the profiler (CUPTI) around a kernel
_PROBE_WORK = _PROBE + """
from torch.profiler import ProfilerActivity, profile
with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
    (torch.ones(1 << 20, device='cuda') * 2).sum().item()
    torch.cuda.synchronize()
assert any(float(getattr(e, 'self_device_time_total', 0) or 0) > 0 for e in prof.key_averages())
"""
_ns_lock = threading.Lock()
_ns_choice: dict[str, tuple[bool, bool, str]] = {}
_landlock_choice: dict[str, bool] = {}


def sandbox_namespaces(backend: str) -> tuple[bool, bool, str]:
    """(PID namespace, network namespace, note) for this backend's sandboxes on this host.

    Both namespaces, unless the GPU driver cannot initialise inside them: some hosts' drivers (gVisor's
    nvproxy on the project's H100 machines) fail `cudaGetDeviceCount` with error 304 under a new PID
    namespace. The first CUDA run of a process then probes the strongest set that works (PID+net, net,
    none) in a real sandbox (uid drop, rlimits) and uses it; the note goes into every verdict's isolation
    check, so the weaker sandbox is never silent. Without a PID namespace the supervisor is a child
    subreaper and still kills every descendant, and the per-run uid still keeps the worker from the
    trusted processes.
    """
    if backend != "cuda" or os.geteuid() != 0:
        return True, True, ""
    with _ns_lock:
        if backend not in _ns_choice:
            _ns_choice[backend] = _probe_cuda_namespaces()
        return _ns_choice[backend]


def sandbox_landlock(backend: str) -> bool:
    """Whether this backend's sandboxes ask for Landlock (harness/sandbox/landlock.py): always where the kernel has
    it, except on a CUDA host whose driver fails under it (probed once, with the namespaces chosen above;
    the note then says so in every verdict's isolation check)."""
    if landlock.abi_version() <= 0:
        return False
    if backend != "cuda":
        return True
    pid_ns, net_ns, _ = sandbox_namespaces(backend)
    with _ns_lock:
        if backend not in _landlock_choice:
            err = _sandboxed_python(_PROBE_WORK, pid_ns=pid_ns, net_ns=net_ns, landlock=True)
            _landlock_choice[backend] = not err or bool(_sandboxed_python(_PROBE_WORK, pid_ns=pid_ns, net_ns=net_ns,
                                                                           landlock=False))
            if not _landlock_choice[backend]:
                pid_ns, net_ns, note = _ns_choice.get(backend, (pid_ns, net_ns, ""))
                _ns_choice[backend] = (pid_ns, net_ns, (f"{note}; " if note else "") +
                                       f"no landlock: CUDA fails under it on this host ({err})")
        return _landlock_choice[backend]


def sandbox_config(tmp: Path, uid: int | None, cmd: list[str], *, limits: Limits, backend: str,
                   env: dict[str, str] | None, pass_fds: list[int],
                   namespaces: tuple[bool, bool, str] | None = None, landlock: bool | None = None) -> dict:
    """`harness.sandbox.process.sandbox_config` with this host's choices for `backend` where not given
    (Landlock is decided first: on CUDA its probe may add to the namespaces' note)."""
    landlock = sandbox_landlock(backend) if landlock is None else landlock
    return process.sandbox_config(tmp, uid, cmd, limits=limits, backend=backend, env=env, pass_fds=pass_fds,
                                  namespaces=namespaces or sandbox_namespaces(backend), landlock=landlock)


def _probe_cuda_namespaces() -> tuple[bool, bool, str]:
    errors = []
    for pid_ns, net_ns in ((True, True), (False, True), (False, False)):
        err = _sandboxed_python(_PROBE, pid_ns=pid_ns, net_ns=net_ns, landlock=False)
        if not err:
            dropped = [n for n, on in (("PID", pid_ns), ("network", net_ns)) if not on]
            note = f"no {' or '.join(dropped)} namespace: CUDA fails inside one on this host ({errors[0]})" \
                if dropped else ""
            return pid_ns, net_ns, note
        errors.append(err)
    return True, True, ""  # CUDA fails everywhere: keep full isolation and let the run report the error


def _sandboxed_python(code: str, *, pid_ns: bool, net_ns: bool, landlock: bool = True,
                      timeout_s: float = 120.0) -> str:
    """Run `python -c code` in the sandbox as a job would run; '' on success, else the last error line."""
    tmp = Path(tempfile.mkdtemp(prefix="ke-probe-"))
    uid = alloc_uid() if can_drop_privileges() else None
    try:
        if uid is not None:
            os.chown(tmp, uid, uid)
        # the CUDA backend's sandbox (no address-space limit, no malloc perturbing), namespaces as given
        cfg = process.sandbox_config(tmp, uid, [sys.executable, "-s", "-B", "-c", code],
                                     limits=Limits(startup_s=0.0, timeout_s=timeout_s), backend="cuda",
                                     env=None, pass_fds=[], namespaces=(pid_ns, net_ns, ""), landlock=landlock)
        code_ = subprocess.run([sys.executable, "-s", "-B", str(process.SANDBOX), json.dumps(cfg)],
                               stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout_s + 30,
                               start_new_session=True).returncode
        if code_ == 0:
            return ""
        lines = process.log_tail(Path(cfg["log"])).strip().splitlines()
        return (lines[-1] if lines else f"exit {code_}")[:200]
    except subprocess.TimeoutExpired:
        return "timed out"
    finally:
        free_uid(uid)
        shutil.rmtree(tmp, ignore_errors=True)
