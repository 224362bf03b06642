"""Sandbox uids: which unprivileged uid each run gets, exclusive across threads and processes.

A run drops to a uid of its own (from `UID_BASE`, picked at random, held with an `flock` for as
long as the run lives), so no two candidates, and no candidate and the parent, share one. That is
only possible as root and where the interpreter, torch and the worker are reachable by any uid.
"""
from __future__ import annotations

import os
import stat
import sys
import threading
from pathlib import Path

import torch

from harness.sandbox.private_dir import default_root, open_private, private_dir

HERE = Path(__file__).resolve().parent
UID_BASE = 61000
_uid_lock = threading.Lock()
_uids_in_use: set[int] = set()


def _world_reachable(path: Path) -> bool:
    """Can an unprivileged uid execute/read this path (every parent dir traversable)?"""
    try:
        p = path.resolve()
        for d in list(p.parents)[:-1]:
            if not os.stat(d).st_mode & stat.S_IXOTH:
                return False
        return bool(os.stat(p).st_mode & stat.S_IROTH)
    except OSError:
        return False


def closed_parent(path: Path) -> Path | None:
    """The first folder above `path` that another uid cannot traverse (None: all of them can)."""
    for d in reversed(list(Path(path).resolve().parents)[:-1]):
        try:
            if not os.stat(d).st_mode & stat.S_IXOTH:
                return d
        except OSError:
            return d
    return None


def can_drop_privileges() -> bool:
    return os.geteuid() == 0 and _world_reachable(Path(sys.executable)) and _world_reachable(HERE.parent / "worker" / "main.py") and \
        _world_reachable(Path(torch.__file__))


UID_SPAN = 4096
_uid_files: dict[int, int] = {}


def alloc_uid() -> int:
    """A sandbox uid no other run on this machine holds: exclusive across threads and processes (flock),
    picked at random so that a uid is rarely reused right after its run."""
    import fcntl
    import random

    lock_dir = private_dir(default_root("uids"))
    start = random.randrange(UID_SPAN)
    with _uid_lock:
        for i in range(UID_SPAN):
            uid = UID_BASE + (start + i) % UID_SPAN
            if uid in _uids_in_use:
                continue
            fd = open_private(lock_dir / str(uid))
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            _uids_in_use.add(uid)
            _uid_files[uid] = fd
            return uid
    raise RuntimeError("no free sandbox uid")


def free_uid(uid: int | None) -> None:
    if uid is not None:
        with _uid_lock:
            _uids_in_use.discard(uid)
            fd = _uid_files.pop(uid, None)
        if fd is not None:
            os.close(fd)  # releases the flock


def uid_pids(uid: int) -> list[int]:
    """Live (not zombie) processes running as `uid`, from /proc."""
    found = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            status = (p / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields.get("Uid", "").split()[:1] == [str(uid)] and not fields.get("State", "").strip().startswith("Z"):
            found.append(int(p.name))
    return found


def reap_uid(uid: int | None, *, wait_s: float = 10.0) -> list[int]:
    """Kill whatever still runs as a run's sandbox uid and wait (up to `wait_s`) until nothing does; returns the
    pids left after that (processes stuck in the kernel). The uid is the run's own, so this reaches exactly what
    the run left behind, with or without a PID namespace (the CUDA hosts' fallback), before the uid or the
    device goes to another run. A helper that drops to the uid signals them all with kill(-1)."""
    if uid is None or not uid_pids(uid):
        return []
    import subprocess
    import time

    deadline = time.monotonic() + wait_s
    while True:
        try:
            subprocess.run([sys.executable, "-S", "-c", "import os; os.kill(-1, 9)"], user=uid, group=uid,
                           extra_groups=[], env={}, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=10, cwd="/")
        except (OSError, subprocess.SubprocessError):
            pass
        left = uid_pids(uid)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)
