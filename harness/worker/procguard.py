"""Closing a trusted process to other processes of its own user (`PR_SET_DUMPABLE`).

Where the harness cannot drop a candidate to another uid (it does not run as root: a Docker Space, a
laptop), the candidate runs as the harness's own user, and Linux lets a process read and trace the
others of its user: `/proc/<pid>/mem` (the parent's cached float64 references), `/proc/<pid>/environ`
(the user's tokens), `ptrace`. A process that is not dumpable is closed to all of that for anyone
without CAP_SYS_PTRACE. The parent, the sandbox supervisor and every worker (before it loads any task
or candidate code) make themselves so. The flag is per process, survives `fork` and is reset by
`execve`, so each of them sets it for itself (the supervisor, a standalone script, with one `prctl` of its own).
"""
from __future__ import annotations

import ctypes
import sys

PR_SET_DUMPABLE = 4
PR_GET_DUMPABLE = 3


def _prctl():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def close_to_same_user() -> bool:
    """Make this process non-dumpable; True where the process is now closed (Linux), False elsewhere.

    Costs nothing worth measuring and is idempotent. A side effect for the user: debuggers and
    profilers of the same uid (gdb, py-spy) cannot attach to a process that has done this.
    """
    prctl = _prctl()
    if prctl is None:
        return False
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    return prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0
