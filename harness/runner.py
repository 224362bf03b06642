"""The isolated runner: one fresh, supervised subprocess per job, and what came back from it.

`run_job` writes a job description into a private temporary directory, starts
`harness/_sandbox.py` (which starts `harness/worker.py` under an unprivileged
uid, in new PID and network namespaces and under Landlock where the OS allows: see
`harness.sandbox_choice`), and reads the
worker's messages from a pipe that only the worker holds a write end of (or hands
the job to a worker that `harness.warm` pre-started in the same kind of sandbox). The
environment is built from a whitelist, so no token or secret reaches the
worker. Whatever happens (crash, hang, exit, garbage on the pipe) comes back
as a `RunResult`; this module never raises for the worker's behaviour.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from harness import procguard, wire
from harness.sandbox_choice import sandbox_landlock, sandbox_namespaces
from harness.devlock import GATE_MAX_S, DeviceLock, Gate
from harness.uids import alloc_uid, can_drop_privileges, free_uid, reap_uid

if TYPE_CHECKING:
    from harness.warm import WarmPool

HERE = Path(__file__).resolve().parent
SANDBOX = HERE / "_sandbox.py"
WORKER = HERE / "worker.py"
_ENV_KEEP = ("PATH", "LANG", "LC_ALL", "LD_LIBRARY_PATH", "CUDA_HOME", "CUDA_PATH", "OMP_NUM_THREADS",
             "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "NCCL_NVLS_ENABLE",
             "TORCH_SYMM_MEM_DISABLE_MULTICAST", "NVSHMEM_DISABLE_NVLS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
_SECRET_WORDS = ("TOKEN", "SECRET", "KEY", "PASSWORD", "CREDENTIAL", "AUTH")



@dataclass(frozen=True)
class Limits:
    timeout_s: float = 120.0          # from the worker's first message ("hello": loaded, built) to its end
    startup_s: float = 120.0          # allowance before "hello" (format B compiles inside the runner)
    memory_mb: int | None = 16384      # address space; applied on the CPU backend only (CUDA maps huge VA)
    nproc: int = 512
    fsize_mb: int = 2048
    max_output_mb: int = 16384         # tensors the parent accepts from the worker in total


@dataclass
class RunResult:
    """What the trusted parent observed of one worker run."""

    exit_code: int
    timed_out: bool
    messages: list[tuple[str, dict[str, Any], dict[str, torch.Tensor]]]
    log_tail: str
    wall_s: float
    wire_error: str = ""
    isolation: str = ""
    # per message, in order: (kind, time its header arrived, time it was fully read), monotonic seconds
    times: list[tuple[str, float, float]] = field(default_factory=list)
    gate_wait_s: float = 0.0   # time queued for the device (shared at start, exclusive before timing)
    reran_alone: bool = False  # a CUDA OOM while sharing the device: this is the second run, the device alone

    def first(self, kind: str) -> tuple[dict[str, Any], dict[str, torch.Tensor]] | None:
        for k, meta, tensors in self.messages:
            if k == kind:
                return meta, tensors
        return None

    def kinds(self) -> list[str]:
        return [k for k, _, _ in self.messages]

    def header_time(self, kind: str) -> float | None:
        return next((h for k, h, _ in self.times if k == kind), None)

    def read_time(self, kind: str, *, last: bool = False) -> float | None:
        found = [r for k, _, r in self.times if k == kind]
        return (found[-1] if last else found[0]) if found else None

    def phases(self, start: float) -> dict[str, float]:
        """Seconds from `start` (monotonic) to the end of each kind of message, summed per kind."""
        out: dict[str, float] = {}
        for kind, _, read in self.times:
            out[kind] = out.get(kind, 0.0) + read - start
            start = read
        return out

    def all(self, kind: str) -> list[tuple[dict[str, Any], dict[str, torch.Tensor]]]:
        return [(m, t) for k, m, t in self.messages if k == kind]


def _netns() -> str:
    try:
        return os.readlink("/proc/self/ns/net")
    except OSError:
        return ""


def clean_env(extra: dict[str, str] | None = None, *, home: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in _ENV_KEEP and not any(w in k for w in _SECRET_WORDS)}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.update({
        "HOME": home, "TMPDIR": home, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1",
        "PYTHONPATH": str(HERE.parent), "TORCH_EXTENSIONS_DIR": os.path.join(home, "torch_extensions"),
        "TORCHINDUCTOR_CACHE_DIR": os.path.join(home, "inductor"), "TRITON_CACHE_DIR": os.path.join(home, "triton"),
        "XDG_CACHE_HOME": os.path.join(home, "cache"),
        # the sandbox uid has no passwd entry: getpass.getuser() (torch.compile's cache naming) reads these first
        "USER": "ke-sandbox", "LOGNAME": "ke-sandbox",
    })
    env.update(extra or {})
    return env


def run_job(job: dict[str, Any], *, limits: Limits, backend: str, env: dict[str, str] | None = None,
            files: dict[str, str] | None = None, copies: dict[str, str] | None = None,
            pool: "WarmPool | None" = None, lock: DeviceLock | None = None) -> RunResult:
    """Run harness/worker.py on `job` in a fresh sandboxed process; collect its messages.

    With a `pool` (harness.warm.WarmPool) of the same backend, environment and rlimits, the process is one
    the pool pre-started (torch imported, waiting for one job); otherwise, or if the pool has none, a cold one.
    With a device `lock` the run holds the device shared, and a timed job waits for it exclusively before
    its timed calls (`harness.devlock.Gate`); the time queued does not count against `limits`. A run that
    stops on CUDA out of memory while sharing runs once more, cold, with the device alone (`reran_alone`).
    """
    res = _run_once(job, limits=limits, backend=backend, env=env, files=files, copies=copies, pool=pool, lock=lock)
    if lock is not None and out_of_device_memory(res):
        with lock.held_alone():
            res = replace(_run_once(job, limits=limits, backend=backend, env=env, files=files, copies=copies),
                          reran_alone=True)
    return res


def _run_once(job: dict[str, Any], *, limits: Limits, backend: str, env: dict[str, str] | None = None,
              files: dict[str, str] | None = None, copies: dict[str, str] | None = None,
              pool: "WarmPool | None" = None, lock: DeviceLock | None = None) -> RunResult:
    if pool is not None:
        res = pool.run(job, limits=limits, backend=backend, env=env, files=files, copies=copies, lock=lock)
        if res is not None:
            return res
    tmp = Path(tempfile.mkdtemp(prefix="ke-run-"))
    uid = alloc_uid() if can_drop_privileges() else None
    read_fd, write_fd = result_pipe()
    collecting = False
    gate = Gate(lock, timed=bool(job.get("timing")), baseline=job.get("role") == "reference") \
        if lock is not None else None
    try:
        if uid is not None:
            os.chown(tmp, uid, uid)
        fds = [write_fd] + ([gate.read_fd] if gate is not None and gate.timed else [])
        write_job(tmp, uid, gated(dict(job, out_fd=write_fd), gate, gate.read_fd if gate else -1), files, copies)
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
        return collect(proc, read_fd, tmp, limits, t0, gate=gate)
    finally:
        if not collecting:
            os.close(read_fd)
        if write_fd >= 0:
            os.close(write_fd)
        reap_uid(uid)  # nothing the run left behind outlives it (no PID namespace on some CUDA hosts)
        if gate is not None:
            gate.close()
        free_uid(uid)
        shutil.rmtree(tmp, ignore_errors=True)


def out_of_device_memory(res: RunResult) -> bool:
    """Did the run stop on a CUDA out-of-memory error? While runs share a GPU that can be another run's
    doing, so `run_job` runs it once more with the GPU alone (a forged report only costs that rerun)."""
    err = res.first("error")
    text = (str(err[0].get("message", "")) if err else "") + (res.log_tail[-4000:] if res.exit_code else "")
    return "CUDA out of memory" in text or "OutOfMemoryError" in text


def gated(job: dict[str, Any], gate: Gate | None, worker_fd: int) -> dict[str, Any]:
    """The job, told where to wait for its timing slot when it has one."""
    return dict(job, gate_fd=worker_fd) if gate is not None and gate.timed else job


def backstop(limits: Limits, gate: Gate | None) -> Limits:
    """The supervisor's own deadline: a gated run may also queue for its timing slot (the parent's
    deadline, in `collect`, excludes that wait)."""
    return replace(limits, timeout_s=limits.timeout_s + GATE_MAX_S) if gate is not None and gate.timed else limits


def result_pipe() -> tuple[int, int]:
    """(read end, write end) of a worker's result pipe."""
    read_fd, write_fd = os.pipe()
    try:  # a 1 MiB pipe: GB-sized outputs cross in 16x fewer system calls (costly under gVisor)
        import fcntl

        fcntl.fcntl(read_fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except OSError:
        pass
    return read_fd, write_fd


def write_job(tmp: Path, uid: int | None, job: dict[str, Any], files: dict[str, str] | None,
              copies: dict[str, str] | None) -> None:
    """The job's files and job.json into the run's directory, owned by the run's uid (never through a link)."""
    def put(name: str, data: bytes) -> None:
        fd = os.open(tmp / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        if uid is not None:
            os.chown(tmp / name, uid, uid, follow_symlinks=False)

    for name, text in (files or {}).items():
        put(name, text.encode())
    for name, src in (copies or {}).items():
        put(name, Path(src).read_bytes())
    put("job.json", json.dumps(job).encode())


def sandbox_config(tmp: Path, uid: int | None, cmd: list[str], *, limits: Limits, backend: str,
                   env: dict[str, str] | None, pass_fds: list[int],
                   namespaces: tuple[bool, bool, str] | None = None, landlock: bool | None = None) -> dict[str, Any]:
    """The supervisor's configuration for one run in `tmp` (see harness/_sandbox.py).

    `namespaces` is (PID namespace, network namespace, note); by default `sandbox_namespaces(backend)`.
    `landlock`: by default `sandbox_landlock(backend)` (decided first: on CUDA its probe may add to the note).
    """
    landlock = sandbox_landlock(backend) if landlock is None else landlock
    extra = dict(env or {})
    if backend == "cpu":
        # glibc fills every fresh allocation with 0x7f bytes (3.4e38 as float32, 1.4e306 as float64), and
        # never hands out fresh zero pages from mmap: torch::empty gives garbage, never a plausible answer.
        extra.setdefault("MALLOC_PERTURB_", "128")
        extra.setdefault("MALLOC_MMAP_MAX_", "0")
    cfg = {
        "cmd": cmd, "env": clean_env(extra, home=str(tmp)), "cwd": str(tmp), "log": str(tmp / "worker.log"),
        "timeout_s": limits.startup_s + limits.timeout_s, "as_mb": limits.memory_mb if backend == "cpu" else None,
        "nproc": limits.nproc if uid is not None else None, "fsize_mb": limits.fsize_mb,
        "uid": uid, "gid": uid, "pass_fds": list(pass_fds), "host_netns": _netns(),
    }
    cfg["pid_namespace"], cfg["net_namespace"], cfg["note"] = namespaces or sandbox_namespaces(backend)
    cfg["landlock"] = landlock
    return cfg


def start_sandbox(cfg: dict[str, Any], pass_fds: list[int]) -> subprocess.Popen:
    # the parent holds the references and the user's environment: closed to a candidate of its own uid
    procguard.close_to_same_user()
    return subprocess.Popen(
        [sys.executable, "-s", "-B", str(SANDBOX), json.dumps(cfg)],
        pass_fds=pass_fds, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
    )


def split_isolation(sandbox_stderr: bytes) -> tuple[str, str]:
    """The supervisor's stderr: (the isolation it applied, from its first line; whatever else it printed)."""
    first, _, rest = sandbox_stderr.decode("utf-8", "replace").partition("\n")
    try:
        return str(json.loads(first)["isolation"]), rest
    except (ValueError, KeyError, TypeError):
        return "unknown", first + "\n" + rest


def collect(proc: subprocess.Popen, read_fd: int, tmp: Path, limits: Limits, t0: float,
            note: str = "", gate: Gate | None = None) -> RunResult:
    """Read the worker's messages until its supervisor ends (killing it past the deadline from `t0`, not
    counting time queued at the `gate`)."""
    messages: list = []
    times: list[tuple[str, float, float]] = []
    wire_error = [""]
    reader = threading.Thread(target=_read_all, args=(read_fd, limits, messages, times, wire_error, gate),
                              daemon=True)
    reader.start()
    code = _wait(proc, t0, times, limits, gate)
    sandbox_err = proc.stderr.read() if proc.stderr else b""
    reader.join(timeout=30)
    wall = time.monotonic() - t0
    log = _tail(tmp / "worker.log")
    isolation, rest = split_isolation(sandbox_err)
    if rest.strip():
        log += "\n" + rest[-2000:]
    if note:
        isolation += " + " + note
    # copies: a reader still queued for the timing slot when its worker died (join gave up) appends later
    return RunResult(exit_code=code, timed_out=code == 124, messages=list(messages), log_tail=log, wall_s=wall,
                     wire_error=wire_error[0], isolation=isolation, times=list(times),
                     gate_wait_s=gate.start_wait_s + gate.waited(time.monotonic()) if gate is not None else 0.0)


def _wait(proc: subprocess.Popen, t0: float, times: list, limits: Limits, gate: Gate | None = None) -> int:
    """Wait for the supervisor; past the deadline ask it to kill the tree (SIGTERM), then force it."""
    asked = None
    while True:
        try:
            proc.wait(timeout=0.1)
            return 124 if asked is not None else proc.returncode
        except subprocess.TimeoutExpired:
            pass
        now = time.monotonic()
        hello = next((h for k, h, _ in list(times) if k == "hello"), None)
        if gate is not None and hello is not None:
            hello += gate.waited(now)
        late = (now - hello > limits.timeout_s) if hello is not None else \
            (now - t0 > limits.startup_s + limits.timeout_s)
        if late and asked is None:
            asked = now
            proc.terminate()
        elif asked is not None and now - asked > 15:
            os.killpg(proc.pid, 9)
            proc.wait()
            return 124


def _read_all(fd: int, limits: Limits, messages: list, times: list, err: list, gate: Gate | None = None) -> None:
    headers: list[float] = []

    def on_header(kind: str) -> None:
        headers.append(time.monotonic())
        if gate is not None:
            gate.on_header(kind)

    with os.fdopen(fd, "rb", buffering=1 << 20) as f:
        try:
            for kind, meta, tensors in wire.receive(f, max_bytes=limits.max_output_mb << 20, on_header=on_header):
                times.append((kind, headers[-1], time.monotonic()))
                messages.append((kind, meta, tensors))
        except (wire.WireError, OSError, ValueError) as e:
            err[0] = str(e)[:500]
            while f.read(1 << 20):  # drain so the writer never blocks
                pass


def _tail(path: Path, n: int = 4000) -> str:
    try:
        data = path.read_bytes()[-n:]
    except OSError:
        return ""
    return data.decode("utf-8", "replace")
