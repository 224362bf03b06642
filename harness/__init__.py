"""Untrusted-kernel verification: load a task, compile, run isolated, check, time, give a verdict.

Imports only torch and the standard library. The public entry points are
`load_task`, `load_candidate`, `verify`, `check_functional` and the `Verdict`
type; `harness/THREAT_MODEL.md` says what is and is not guaranteed.
"""
from harness.types import HARNESS_VERSION, Candidate, Check, Env, Stats, TaskRef, Timing, Verdict

__all__ = ["HARNESS_VERSION", "Candidate", "Check", "Env", "Stats", "TaskRef", "Timing", "Verdict",
           "load_task", "load_candidate", "verify", "check_functional"]


def __getattr__(name: str):  # lazy: the sandbox worker imports this package and must stay light
    if name == "load_task":
        from harness.task import load_task
        return load_task
    if name == "load_candidate":
        from harness.candidate import load_candidate
        return load_candidate
    if name in ("verify", "check_functional"):
        from harness.judge import verify as v
        return getattr(v, name)
    raise AttributeError(name)
