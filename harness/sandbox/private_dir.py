"""Private directories: the folders that hold the harness's locks, usable by its own uid alone.

A sandboxed candidate can write world-writable places (`/tmp`), so it may have created such a path
before the harness first did: as a directory open to all, a file, or a link to somewhere else.
`private_dir` creates the folder or accepts an existing one only if it is a real directory (not a
link), owned by this process's uid, with no access for group or others; anything else is refused
with an error that says what to remove.
"""
from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path


def default_root(name: str) -> Path:
    """`/run/kernel-evolve/NAME` for root (only root can write `/run`), else (or where `/run` is read-only) a
    per-uid folder in the temp dir."""
    if os.geteuid() == 0 and os.path.isdir("/run") and os.access("/run", os.W_OK):
        return Path("/run/kernel-evolve") / name
    return Path(tempfile.gettempdir()) / f"kernel-evolve-{name}-{os.geteuid()}"


def private_dir(path: Path) -> Path:
    """`path`, created (mode 0700) if missing, after checking that only this uid can use it."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except FileExistsError:
        pass  # a file or a dangling link: refused below
    st = os.lstat(path)
    me = os.geteuid()
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != me or st.st_mode & 0o077:
        kind = "a link" if stat.S_ISLNK(st.st_mode) else "not a directory" if not stat.S_ISDIR(st.st_mode) else \
            f"owned by uid {st.st_uid}" if st.st_uid != me else f"mode {stat.S_IMODE(st.st_mode):o}"
        raise PermissionError(f"{path} must be a directory private to uid {me} (owned by it, mode 0700) but is "
                              f"{kind}: something else created it; remove it, or choose another place")
    return path


def open_private(path: Path) -> int:
    """A read-write descriptor on `path` in a private directory, created 0600, never through a link."""
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
