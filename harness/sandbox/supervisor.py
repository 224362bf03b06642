"""The supervisor that runs one untrusted worker and leaves nothing behind.

Run as a standalone script (standard library only): `python _sandbox.py CONFIG_JSON`.
It owns the isolation of one runner process:
- where the OS allows (root on Linux): a new PID namespace and a new network
  namespace, so the worker sees no network and every process it starts dies
  with it, including ones that called setsid or double-forked;
- a drop to an unprivileged uid/gid, so the worker cannot signal, trace or
  read the trusted processes, nor write the build cache;
- otherwise: it makes itself a child subreaper and kills every descendant;
- not dumpable (`harness/worker/procguard.py`), so a worker of its own uid cannot read or trace it;
- resource limits (address space, processes, file size, no core dumps);
- Landlock where the kernel has it (`harness/sandbox/landlock.py`): writes only beneath its own folder, no
  TCP, no signals to processes outside the sandbox;
- a wall-clock timeout, after which the whole tree is killed.
Armed mode (`go_fd` in the config, used by `harness.sandbox.warm`): the worker is started
at once and waits, in trusted code only, for its job path on its stdin; the
supervisor relays one line from `go_fd` ({"timeout_s": T, "job": PATH}) to it,
and the wall-clock deadline starts only then. The waiting worker starts at nice
`armed_nice` (its import yields to running jobs) and every thread of the tree is
back at the supervisor's own nice before the job is relayed. EOF on `go_fd` (the pool or its
process went away) or `armed_max_s` without a job ends the tree.
Exit status: the worker's exit code, 128+signal if it died of a signal, 124 on timeout.
"""
import ctypes
import json
import os
import resource
import select
import signal
import sys
import time

CLONE_NEWNET = 0x40000000
CLONE_NEWPID = 0x20000000
PR_SET_CHILD_SUBREAPER = 36
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read().decode("latin-1")
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(name))
    out, stack = [], [root]
    while stack:
        for c in children.get(stack.pop(), []):
            out.append(c)
            stack.append(c)
    return out


def _kill_tree(me: int) -> None:
    for _ in range(500):  # up to ~5 s for processes already dying to be gone and reaped
        pids = descendants(me)
        if not pids:
            return
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        _reap_all()
        time.sleep(0.01)


def _reap_all() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _limits(cfg: dict) -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if cfg.get("as_mb"):
        b = int(cfg["as_mb"]) << 20
        resource.setrlimit(resource.RLIMIT_AS, (b, b))
    if cfg.get("fsize_mb"):
        b = int(cfg["fsize_mb"]) << 20
        resource.setrlimit(resource.RLIMIT_FSIZE, (b, b))
    if cfg.get("nproc"):
        n = int(cfg["nproc"])
        resource.setrlimit(resource.RLIMIT_NPROC, (n, n))


def _drop(cfg: dict) -> None:
    uid = cfg.get("uid")
    if uid is None or os.geteuid() != 0:
        return
    os.setgroups([])
    os.setgid(int(cfg.get("gid", uid)))
    os.setuid(int(uid))


def _exec_worker(cfg: dict) -> None:
    try:
        os.chdir(cfg["cwd"])
        if cfg.get("armed_nice"):
            os.nice(int(cfg["armed_nice"]))
        _limits(cfg)
        _drop(cfg)
        out = os.open(cfg["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(out, 1)
        os.dup2(out, 2)
        stdin = cfg.get("_stdin_fd")  # armed mode: the job path arrives here; else nothing to read
        os.dup2(stdin if stdin is not None else os.open(os.devnull, os.O_RDONLY), 0)
        for fd in cfg.get("pass_fds", []):
            os.set_inheritable(fd, True)
        if cfg.get("_landlock"):  # last: it also forbids what the lines above needed (the log in its folder is open)
            import landlock  # harness/sandbox/landlock.py, beside this script

            landlock.restrict(cfg["cwd"])
        os.execve(cfg["cmd"][0], cfg["cmd"], cfg["env"])
    except BaseException as e:  # noqa: BLE001 - report and die; never return into the supervisor
        try:
            os.write(2, f"sandbox: cannot start worker: {e}\n".encode())
        finally:
            os._exit(127)


def _status_code(status: int) -> int:
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return 1


def _ns_init(cfg: dict) -> None:
    """PID 1 of the new namespace: start the worker, reap everything, exit with its status."""
    signal.signal(signal.SIGTERM, lambda *_: os._exit(143))
    worker = os.fork()
    if worker == 0:
        os.setsid()
        _exec_worker(cfg)
    code = 1
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        if pid == worker:
            code = _status_code(status)
            break
    os._exit(code)  # the kernel now kills every process left in this namespace


def _renice_tree(me: int, nice: int) -> None:
    """Every thread of every process below the supervisor to `nice` (root may raise priority back)."""
    for pid in descendants(me):
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                os.setpriority(os.PRIO_PROCESS, int(tid), nice)
            except (OSError, ValueError):
                pass


def _await_job(go: int, relay: int, armed_until: float) -> tuple[float | None, bool]:
    """Armed mode, one poll: (deadline, abandoned). The deadline starts when the job line arrives."""
    try:
        ready = select.select([go], [], [], 0.05)[0]
    except InterruptedError:
        return None, False
    if not ready:
        return None, time.monotonic() > armed_until
    line = os.read(go, 65536)
    try:
        msg = json.loads(line)
        path = str(msg["job"])
        deadline = time.monotonic() + float(msg["timeout_s"])
    except (ValueError, KeyError, TypeError):
        return None, True  # EOF or garbage: the pool is gone
    _renice_tree(os.getpid(), os.getpriority(os.PRIO_PROCESS, 0))
    try:
        os.write(relay, (path + "\n").encode())
    except OSError:
        pass  # the worker died while waiting: the next poll collects its status
    os.close(relay)
    return deadline, False


def main() -> int:
    cfg = json.loads(sys.argv[1])
    me = os.getpid()
    libc = _libc()
    # closed to the candidate where it runs as this user (no uid drop): see harness/worker/procguard.py
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    isolated = net = False
    if os.geteuid() == 0:
        # each namespace on its own: some hosts' GPU drivers fail under a PID namespace (harness.sandbox.choice probes that)
        if cfg.get("net_namespace", True):
            net = libc.unshare(CLONE_NEWNET) == 0
        if cfg.get("pid_namespace", True):
            isolated = libc.unshare(CLONE_NEWPID) == 0
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    applied = ["pid-namespace" if isolated else "subreaper"]
    if net and os.path.exists("/proc/self/ns/net"):
        applied.append("net-namespace" if os.readlink("/proc/self/ns/net") != cfg.get("host_netns") else "host-network")
    if cfg.get("note"):
        applied.append(str(cfg["note"]))
    if cfg.get("uid") is not None and os.geteuid() == 0:
        applied.append(f"uid {cfg['uid']}")
    applied.append("rlimits")
    if cfg.get("landlock"):
        import landlock  # harness/sandbox/landlock.py, beside this script

        abi = landlock.abi_version()
        cfg["_landlock"] = abi > 0  # the worker applies it before exec, or does not start (never claimed falsely)
        applied.append(landlock.describe(abi) if abi > 0 else "no landlock (the kernel has none)")
    sys.stderr.write(json.dumps({"isolation": " + ".join(applied)}) + "\n")
    sys.stderr.flush()
    go = cfg.get("go_fd")
    relay = -1
    if go is not None:  # armed: the worker reads its job path from this pipe; only the supervisor holds go_fd
        os.set_inheritable(int(go), False)
        cfg["_stdin_fd"], relay = os.pipe()
        os.set_inheritable(relay, False)
    child = os.fork()
    if child == 0:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if isolated:
            _ns_init(cfg)
        os.setsid()
        _exec_worker(cfg)
    if go is not None:
        os.close(cfg["_stdin_fd"])
    armed_until = time.monotonic() + float(cfg.get("armed_max_s", 3600.0))
    deadline = None if go is not None else time.monotonic() + float(cfg["timeout_s"])
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))  # the parent's own deadline
    code = None
    while code is None:
        pid, status = os.waitpid(child, os.WNOHANG)
        if pid == child:
            code = _status_code(status)
            break
        if deadline is None:  # armed, no job yet
            deadline, abandoned = _await_job(int(go), relay, armed_until)
            if abandoned:
                stop.append(1)
        if stop or (deadline is not None and time.monotonic() > deadline):
            os.kill(child, signal.SIGKILL)
            os.waitpid(child, 0)
            code = 124
            break
        time.sleep(0.005)
    _kill_tree(me)
    return code


if __name__ == "__main__":
    sys.exit(main())
