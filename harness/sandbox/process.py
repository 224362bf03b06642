"""One supervised sandbox process and what came back from it: the pieces every kind of run shares.

The job's files go into a private temporary directory owned by the run's uid (`write_job`);
`start_sandbox` starts `harness/sandbox/supervisor.py` with a configuration from `sandbox_config`
(the isolation itself is chosen by `harness.sandbox.choice`), and `collect` reads the worker's
messages from a pipe only the worker holds a write end of, enforcing the deadline. The environment
is built from a whitelist, so no token or secret reaches the worker. Whatever happens (crash, hang,
exit, garbage on the pipe) comes back as a `RunResult`; nothing here raises for the worker's
behaviour. `harness.sandbox.runner` (cold runs) and `harness.sandbox.warm` (pre-started ones) use it.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from harness.sandbox.devlock import GATE_MAX_S, Gate
from harness.sandbox.memory import MemoryBudget, MemoryReport, MemoryWatch
from harness.worker import procguard, wire
from harness.worker import protocol as P

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent            # the folder that holds the `harness` package
SANDBOX = HERE / "supervisor.py"
WORKER = HERE.parent / "worker" / "main.py"
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
    budget: MemoryBudget | None = None  # host/device memory the parent lets the run's tree use (polled)


@dataclass
class RunResult:
    """What the trusted parent observed of one worker run."""

    exit_code: int
    timed_out: bool
    messages: list[tuple[P.Message, dict[str, torch.Tensor]]]   # decoded, in arrival order
    log_tail: str
    wall_s: float
    wire_error: str = ""
    isolation: str = ""
    # per message, in order: (kind, time its header arrived, time it was fully read), monotonic seconds
    times: list[tuple[str, float, float]] = field(default_factory=list)
    gate_wait_s: float = 0.0   # time queued for the device (shared at start, exclusive before timing)
    reran_alone: str = ""     # why this is a second run with the device alone (`runner.shared_device_failure`)
    transfer: str = ""         # how tensors crossed: "shared memory", or "pipe (<why shared memory was refused>)"
    memory: MemoryReport | None = None  # what the parent measured against `Limits.budget` (None: no budget)

    @property
    def memory_exceeded(self) -> str:
        """Why the parent stopped the run for memory ("" if it did not)."""
        return self.memory.exceeded if self.memory is not None else ""

    def first(self, kind: str) -> tuple[Any, dict[str, torch.Tensor]] | None:
        """The first message of `kind` and its tensors (None if none came)."""
        for msg, tensors in self.messages:
            if msg.KIND == kind:
                return msg, tensors
        return None

    def kinds(self) -> list[str]:
        return [m.KIND for m, _ in self.messages]

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

    def all(self, kind: str) -> list[tuple[Any, dict[str, torch.Tensor]]]:
        return [(m, t) for m, t in self.messages if m.KIND == kind]


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
        "PYTHONPATH": str(ROOT), "TORCH_EXTENSIONS_DIR": os.path.join(home, "torch_extensions"),
        "TORCHINDUCTOR_CACHE_DIR": os.path.join(home, "inductor"), "TRITON_CACHE_DIR": os.path.join(home, "triton"),
        "XDG_CACHE_HOME": os.path.join(home, "cache"),
        # the sandbox uid has no passwd entry: getpass.getuser() (torch.compile's cache naming) reads these first
        "USER": "ke-sandbox", "LOGNAME": "ke-sandbox",
    })
    env.update(extra or {})
    return env


def gated(job: P.Job, gate: Gate | None, out_fd: int, gate_fd: int, arena: wire.Arena | None = None) -> P.Job:
    """The job, told its result pipe, its arena (if any) and where to wait for its timing slot when it has one."""
    return job.with_fds(out_fd=out_fd, gate_fd=gate_fd if gate is not None and gate.timed else None,
                        arena_fd=arena.fd if arena is not None else None,
                        arena_bytes=arena.capacity if arena is not None else 0)


def make_arena(limits: Limits) -> tuple[wire.Arena | None, str]:
    """A run's arena, as large (sparse) as the tensors it may send; (None, why) where the host refuses."""
    return wire.Arena.create(limits.max_output_mb << 20)


def transfer_note(arena: wire.Arena | None, why: str) -> str:
    return "shared memory" if arena is not None else f"pipe ({why})"


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


def write_job(tmp: Path, uid: int | None, job: P.Job, files: dict[str, str] | None,
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
    put("job.json", job.to_json().encode())


def sandbox_config(tmp: Path, uid: int | None, cmd: list[str], *, limits: Limits, backend: str,
                   env: dict[str, str] | None, pass_fds: list[int],
                   namespaces: tuple[bool, bool, str], landlock: bool) -> dict[str, Any]:
    """The supervisor's configuration for one run in `tmp` (see harness/sandbox/supervisor.py).

    `namespaces` is (PID namespace, network namespace, note); `landlock` whether to apply it
    (`harness.sandbox.choice.sandbox_config` fills both in with what this host allows).
    """
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
    cfg["pid_namespace"], cfg["net_namespace"], cfg["note"] = namespaces
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


def isolation_and_rest(sandbox_stderr: bytes) -> tuple[str, str]:
    """The supervisor's stderr: (the isolation it applied, from its first line; whatever else it printed)."""
    first, _, rest = sandbox_stderr.decode("utf-8", "replace").partition("\n")
    try:
        return str(json.loads(first)["isolation"]), rest
    except (ValueError, KeyError, TypeError):
        return "unknown", first + "\n" + rest


def collect(proc: subprocess.Popen, read_fd: int, tmp: Path, limits: Limits, t0: float, *, role: P.Role,
            note: str = "", gate: Gate | None = None, arena: wire.Arena | None = None,
            transfer: str = "pipe") -> RunResult:
    """Read the `role` worker's messages (their tensors from the pipe or the `arena`) until its supervisor
    ends, killing it past the deadline from `t0` (not counting time queued at the `gate`)."""
    messages: list = []
    times: list[tuple[str, float, float]] = []
    wire_error = [""]
    reader = threading.Thread(target=_read_all, args=(read_fd, limits, role, messages, times, wire_error, gate,
                                                      arena), daemon=True)
    reader.start()
    watch = MemoryWatch(limits.budget, proc.pid, arena_fd=arena.fd if arena is not None else None) \
        if limits.budget is not None else None
    code = _wait(proc, t0, times, limits, gate, watch)
    sandbox_err = proc.stderr.read() if proc.stderr else b""
    reader.join(timeout=30)
    wall = time.monotonic() - t0
    log = log_tail(tmp / "worker.log")
    isolation, rest = isolation_and_rest(sandbox_err)
    if rest.strip():
        log += "\n" + rest[-2000:]
    if note:
        isolation += " + " + note
    # copies: a reader still queued for the timing slot when its worker died (join gave up) appends later
    over = bool(watch is not None and watch.exceeded)
    return RunResult(exit_code=code, timed_out=code == 124 and not over, messages=list(messages), log_tail=log,
                     wall_s=wall, wire_error=wire_error[0], isolation=isolation, times=list(times),
                     gate_wait_s=gate.start_wait_s + gate.waited(time.monotonic()) if gate is not None else 0.0,
                     transfer=transfer, memory=watch.report() if watch is not None else None)


def _wait(proc: subprocess.Popen, t0: float, times: list, limits: Limits, gate: Gate | None = None,
          watch: MemoryWatch | None = None) -> int:
    """Wait for the supervisor; past the deadline, or past the memory budget (`watch`, polled each 0.1 s), ask
    it to kill the tree (SIGTERM), then force it (after 15 s; 2 s for memory, which may still be growing)."""
    asked = None
    grace = 15.0
    while True:
        try:
            proc.wait(timeout=0.1)
            return 124 if asked is not None else proc.returncode
        except subprocess.TimeoutExpired:
            pass
        if watch is not None and asked is None and watch.poll():
            asked, grace = time.monotonic(), 2.0
            proc.terminate()
            continue
        now = time.monotonic()
        hello = next((h for k, h, _ in list(times) if k == "hello"), None)
        if gate is not None and hello is not None:
            hello += gate.waited(now)
        late = (now - hello > limits.timeout_s) if hello is not None else \
            (now - t0 > limits.startup_s + limits.timeout_s)
        if late and asked is None:
            asked = now
            proc.terminate()
        elif asked is not None and now - asked > grace:
            os.killpg(proc.pid, 9)
            proc.wait()
            return 124


def _read_all(fd: int, limits: Limits, role: P.Role, messages: list, times: list, err: list,
              gate: Gate | None = None, arena: wire.Arena | None = None) -> None:
    headers: list[float] = []

    def on_header(kind: str) -> None:
        headers.append(time.monotonic())
        if gate is not None:
            gate.on_header(kind)

    with os.fdopen(fd, "rb", buffering=1 << 20) as f:
        try:
            for kind, meta, tensors in wire.receive(f, max_bytes=limits.max_output_mb << 20, on_header=on_header,
                                                    arena=arena):
                msg = P.decode(role, kind, meta)
                times.append((kind, headers[-1], time.monotonic()))
                messages.append((msg, tensors))
        except (wire.WireError, P.ProtocolError, OSError, ValueError) as e:
            err[0] = str(e)[:500]
            while f.read(1 << 20):  # drain so the writer never blocks
                pass


def log_tail(path: Path, n: int = 4000) -> str:
    """The last `n` bytes of a run's log, as text."""
    try:
        data = path.read_bytes()[-n:]
    except OSError:
        return ""
    return data.decode("utf-8", "replace")
