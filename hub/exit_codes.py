"""The exit-code convention of every `kernel-evolve` command (README: "Exit codes").

It lives in `hub`, the lowest package whose command line every other one can
import (`pipeline`, `finetune` and `space` all depend on `hub`), so each CLI
uses the same numbers for the same kind of failure:

| code | meaning |
|---|---|
| 0 | success (`verify`: the kernel is `verified`) |
| 1 | `verify` only: the kernel was judged and is not verified (any other verdict) |
| 2 | bad input or usage: unknown task or option value, unreadable file, bad repo id (Click's usage errors too) |
| 3 | archive or Hub error: no such archive/revision/repo, the Hub refused or could not be reached, a write conflict |
| 4 | internal error: a bug; the traceback is printed, please report it |
| 130 | interrupted (Ctrl-C) |
"""
from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    NOT_VERIFIED = 1
    USAGE = 2
    ARCHIVE = 3
    INTERNAL = 4
    INTERRUPTED = 130
