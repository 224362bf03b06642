"""Small fakes for pipeline unit tests: an executor and an archive store that honour the Protocols.

The "Must show" tests (test_pipeline_loop.py, test_pipeline_llm.py) use the real harness and LocalStore.
"""
from __future__ import annotations

import re
from concurrent.futures import Future
from typing import Any, Callable

from harness.types import Candidate, Check, Env, Stats, Timing, Verdict, sha256_text

ENV = Env(device="fake-cpu", backend="cpu", torch_version="x", cuda_version="")


def verdict(cand: Candidate, status: str = "verified", speedup: float | None = 1.0, error: str = "",
            failed: tuple[tuple[str, str], ...] = (), flags: tuple[str, ...] = ()) -> Verdict:
    timing = None
    if status == "verified" and speedup is not None:
        timing = Timing(kernel=Stats(1.0 / speedup, 0.01, 0.9 / speedup, 1.1 / speedup, 10),
                        eager=Stats(1.0, 0.01, 0.9, 1.1, 10), compiled=None, speedup_eager=speedup,
                        speedup_compile=None, method="fake")
    checks = tuple(Check(n, "fail", r) for n, r in failed) or (Check("outputs", "pass"),)
    return Verdict(status=status, task_id=cand.task.task_id, task_sha256=cand.task.sha256,
                   kernel_sha256=sha256_text(cand.source), format=cand.format, checks=checks, flags=flags,
                   env=ENV, timing=timing, error=error)


def speed_from_source(cand: Candidate) -> Verdict:
    """Judge by markers in the source: `// FAIL compile` -> compile_error, `// SPEED 2.5` -> verified 2.5x."""
    if "FAIL compile" in cand.source:
        return verdict(cand, "compile_error", error="kernel.cpp:3:5: error: 'foo' was not declared in this scope")
    if "FAIL wrong" in cand.source:
        return verdict(cand, "incorrect", failed=(("outputs", "max abs diff 3.2 > tolerance 1e-4 on seed 0"),))
    m = re.search(r"SPEED ([0-9.]+)", cand.source)
    block = re.search(r"#define CHUNK (\d+)", cand.source)
    speed = float(m.group(1)) if m else (1.0 + int(block.group(1)) / 16384 if block else 1.0)
    return verdict(cand, "verified", speedup=speed)


class FakeExecutor:
    def __init__(self, judge: Callable[[Candidate], Verdict] = speed_from_source):
        self.judge = judge
        self.seen: list[Candidate] = []
        self.kw: list[dict[str, Any]] = []

    def submit(self, candidate: Candidate, **verify_kw: Any) -> "Future[Verdict]":
        self.seen.append(candidate)
        self.kw.append(verify_kw)
        f: Future[Verdict] = Future()
        f.set_result(self.judge(candidate))
        return f


class FakeStore:
    def __init__(self, rows: list[dict[str, Any]] | None = None):
        self.rows: list[dict[str, Any]] = list(rows or [])
        self.commits: list[str] = []

    def append(self, rows, message: str) -> str:
        keys = {(r["kernel_sha256"], r["task_id"], r["device"]) for r in self.rows}
        for r in rows:
            d = r.to_dict() if hasattr(r, "to_dict") else dict(r)
            k = (d["kernel_sha256"], d["task_id"], d["device"])
            if k not in keys:
                keys.add(k)
                self.rows.append(d)
        self.commits.append(f"c{len(self.commits)}:{message}")
        return f"c{len(self.commits) - 1}"

    def read(self, revision=None, split=None):
        return list(self.rows)


def fail_functional(*a: Any, **k: Any) -> Verdict:
    raise AssertionError("check_functional should not be called for a functional task")
