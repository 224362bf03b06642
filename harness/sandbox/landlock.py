"""Landlock for one sandboxed process: write only beneath its own folder, no TCP, no signals out.

Standard library only: `harness/sandbox/supervisor.py` (run as a script) imports it as a sibling and applies it
in the worker's process just before `execve`. Landlock is the Linux security module an unprivileged
process uses to restrict itself (kernel 5.13+; each ABI version adds rights). The ruleset handles
every right that changes the file system, so the worker may create, write, truncate, rename or remove
files only beneath its run folder, and open existing files for writing only under `/dev` (`/dev/null`,
the GPU's device files) and `/proc`. With ABI 4+ it may neither bind nor connect TCP sockets, and with
ABI 6+ it may signal no process outside its own domain and reach no abstract unix socket made outside
it. Reads are not restricted: the interpreter, torch, the CUDA libraries and the task live in places
that differ per host.

What it adds to the uid drop and the namespaces: where the harness is not root (no uid drop, no
namespaces) the candidate can no longer write the user's files (the archive, the build cache, the
repository), reach the network over TCP or signal the harness; and under a dropped uid it can no
longer leave files in world-writable places (`/tmp`, `/dev/shm`) that a later run could read, such as
outputs cached across runs.
"""
from __future__ import annotations

import ctypes
import functools
import os

SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446  # the same on x86_64 and aarch64
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1
PR_SET_NO_NEW_PRIVS = 38

WRITE_FILE, REMOVE_DIR, REMOVE_FILE = 1 << 1, 1 << 4, 1 << 5
MAKE_CHAR, MAKE_DIR, MAKE_REG, MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM = (1 << n for n in range(6, 13))
REFER, TRUNCATE = 1 << 13, 1 << 14                       # ABI 2, ABI 3
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1           # ABI 4
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1  # ABI 6


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1  # struct landlock_path_beneath_attr is packed
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _syscall():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


@functools.lru_cache(maxsize=None)
def abi_version() -> int:
    """The kernel's Landlock ABI version; 0 where there is none (old kernel, disabled, gVisor). Asked once per
    process: every sandbox's configuration reads it."""
    try:
        r = _syscall().syscall(SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(CREATE_RULESET_VERSION))
    except (OSError, AttributeError):
        return 0
    return int(r) if r > 0 else 0


def describe(abi: int) -> str:
    """The isolation string's name for what `restrict` applies at this ABI."""
    extras = (["no TCP"] if abi >= 4 else []) + (["no signals out"] if abi >= 6 else [])
    return f"landlock v{abi} (writes only in its folder" + "".join(f", {e}" for e in extras) + ")"


def restrict(own_dir: str) -> int:
    """Restrict this process and everything it starts; returns the ABI used. Raises OSError if it cannot
    (the caller then must not run the worker: a sandbox that says Landlock has Landlock)."""
    abi = abi_version()
    if abi <= 0:
        raise OSError("Landlock is not available")
    libc = _syscall()
    fs = WRITE_FILE | REMOVE_DIR | REMOVE_FILE | MAKE_CHAR | MAKE_DIR | MAKE_REG | MAKE_SOCK | MAKE_FIFO | \
        MAKE_BLOCK | MAKE_SYM
    fs |= (REFER if abi >= 2 else 0) | (TRUNCATE if abi >= 3 else 0)
    attr, size = _RulesetAttr(fs, 0, 0), 8
    if abi >= 4:
        attr.handled_access_net, size = NET_BIND_TCP | NET_CONNECT_TCP, 16
    if abi >= 6:
        attr.scoped, size = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL, 24
    ruleset = libc.syscall(SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    try:
        opened = (WRITE_FILE | (TRUNCATE if abi >= 3 else 0))
        for path, rights in ((own_dir, fs), ("/dev", opened), ("/proc", opened)):
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            try:
                rule = _PathBeneath(rights, fd)
                if libc.syscall(SYS_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(RULE_PATH_BENEATH),
                                ctypes.byref(rule), ctypes.c_uint32(0)) < 0:
                    raise OSError(ctypes.get_errno(), f"landlock_add_rule failed for {path}")
            finally:
                os.close(fd)
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS failed")
        if libc.syscall(SYS_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)) < 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
    finally:
        os.close(ruleset)
    return abi
