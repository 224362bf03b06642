"""Running a compiler over an untrusted source: in the runner's sandbox, as a uid of its own.

A compiler executes none of the candidate's code, but it reads whatever files the source names
(`#include` with a computed path, `.incbin`) as the user it runs as, and quotes what it read in its
errors, which go into the verdict, the operator's repair prompt, the archive and the Space's page.
Run as the harness's user (root on the machines that isolate best) it would hand out every file that
user can read: `~/.cache/huggingface/token`, SSH keys, `/etc/shadow`. So each build runs under the
supervisor (`harness/sandbox/supervisor.py`): a clean environment (no tokens), a network namespace, and where the
harness can drop privileges a per-build uid, which reads only what any user may. The build folder is
handed to that uid for the build and taken back (links removed, ownership restored, not writable by
others) before anything in it is published to the cache or read by the harness.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.sandbox import process
from harness.sandbox.choice import sandbox_config, sandbox_namespaces
from harness.sandbox.uids import alloc_uid, can_drop_privileges, closed_parent, free_uid, reap_uid

BUILD_LIMITS = process.Limits(timeout_s=600.0, startup_s=0.0, memory_mb=None, nproc=512, fsize_mb=4096)
LOG = "ke-build.log"


@dataclass(frozen=True)
class CompileRun:
    returncode: int        # the compiler's (124: killed at the time limit)
    output: str            # what it printed, stdout and stderr together
    isolation: str         # what the supervisor applied, as in a verdict's isolation check


def _hand(root: Path, uid: int) -> None:
    """`root` and everything below it to `uid` (never through a link)."""
    os.chown(root, uid, uid, follow_symlinks=False)
    for base, dirs, files in os.walk(root):
        for name in dirs + files:
            os.chown(os.path.join(base, name), uid, uid, follow_symlinks=False)


def _take_back(root: Path) -> None:
    """After a build: links removed, everything owned by the harness again and writable by it alone."""
    me = os.geteuid()
    for base, dirs, files in os.walk(root):
        for name in list(dirs) + files:
            p = os.path.join(base, name)
            if os.path.islink(p):
                os.unlink(p)
                if name in dirs:
                    dirs.remove(name)
                continue
            os.chown(p, me, os.getegid(), follow_symlinks=False)
            os.chmod(p, os.stat(p, follow_symlinks=False).st_mode & 0o755)
    os.chown(root, me, os.getegid(), follow_symlinks=False)
    os.chmod(root, 0o700)


def run_compiler(cmd: list[str], *, cwd: Path, env: dict[str, str] | None = None,
                 timeout_s: float = 600.0) -> CompileRun:
    """Run one build command in `cwd` (a fresh folder the caller owns) under the sandbox; never raises for a
    failed or hung compiler. `env` adds to the sandbox's clean environment (e.g. TORCH_CUDA_ARCH_LIST)."""
    cwd = Path(cwd)
    exe = shutil.which(cmd[0]) if cmd else None
    if exe is None:
        return CompileRun(127, f"error: cannot run the compiler {cmd[0] if cmd else '(none)'}: not found on PATH",
                          "not started")
    cmd = [os.path.abspath(exe), *cmd[1:]]  # the supervisor execs it without a PATH search
    closed = closed_parent(cwd) if can_drop_privileges() else None
    uid = alloc_uid() if can_drop_privileges() and closed is None else None
    pid_ns, net_ns, note = sandbox_namespaces("cpu")
    if closed is not None:
        note = (f"{note}; " if note else "") + (f"no uid drop for the build: other uids cannot traverse {closed} "
                                                "(set KERNEL_EVOLVE_CACHE to a folder they can)")
    limits = process.Limits(**{**BUILD_LIMITS.__dict__, "timeout_s": timeout_s})
    log = cwd / LOG
    try:
        if uid is not None:
            _hand(cwd, uid)
        cfg = sandbox_config(cwd, uid, cmd, limits=limits, backend="build", env=env, pass_fds=[],
                             namespaces=(pid_ns, net_ns, note))
        cfg["log"] = str(log)
        proc = process.start_sandbox(cfg, [])
        try:
            _, err = proc.communicate(timeout=timeout_s + 30)
        except subprocess.TimeoutExpired:  # the supervisor enforces the limit; this is its backstop
            os.killpg(proc.pid, 9)
            _, err = proc.communicate()
        code = 124 if proc.returncode == 124 else proc.returncode
    finally:
        reap_uid(uid)
        free_uid(uid)
        if uid is not None:
            _take_back(cwd)
    isolation, rest = process.isolation_and_rest(err or b"")
    try:
        output = log.read_text(errors="replace")
        log.unlink()
    except OSError:
        output = ""
    if code == 124:
        output += f"\nerror: the compiler ran past {timeout_s:.0f} s and was killed"
    return CompileRun(code, output + (("\n" + rest.strip()) if rest.strip() else ""), isolation)
