"""Stage 1's check: a functional form (module_fn + Model.forward(..., fn=)) equals the original module.

Both run in one sandboxed process with identical weights (same seed, and the
original's state dict loaded into the functional model where the names
match). The parent compares the outputs on every seed and input variant.
"""
from __future__ import annotations

import time

import torch

from harness.judge import compare as cmp
from harness.judge.options import DEFAULT
from harness.sandbox.devlock import DeviceLock
from harness.judge.reference import device_env
from harness.sandbox.process import Limits
from harness.sandbox.runner import run_job
from harness.task import TaskError, parse_task_source
from harness.worker import protocol as P
from harness.types import Check, Env, TaskRef, Verdict, sha256_text


def check_functional(task: TaskRef, functional_source: str, *, backend: str, seeds: int = DEFAULT.seeds, size: str = "default",
                     timeout_s: float = 300.0, device_index: int | None = None) -> Verdict:
    """Run the original and the functional form side by side and compare them (untrusted code too: it holds the
    device shared, as a candidate's correctness phase does, so it never overlaps a timing run or a baseline)."""
    checks: list[Check] = []
    status = "verified"
    error = ""
    t0 = time.monotonic()

    def verdict() -> Verdict:
        return Verdict(status=status, task_id=task.task_id, task_sha256=task.sha256,
                       kernel_sha256=sha256_text(functional_source), format="functional", checks=tuple(checks),
                       flags=(), env=Env(device=backend, backend=backend, torch_version=torch.__version__,
                                         cuda_version=torch.version.cuda or ""),
                       error=error, seconds={"run": time.monotonic() - t0})

    try:
        ftask = parse_task_source(functional_source, task_id=task.task_id + ":functional")
    except TaskError as e:
        checks.append(Check("parse", "fail", str(e)))
        status, error = "rejected", str(e)
        return verdict()
    if not ftask.functional:
        error = "the functional form needs a module-level `module_fn` and `Model.forward(self, ..., fn=module_fn)`"
        checks.append(Check("parse", "fail", error))
        status = "rejected"
        return verdict()
    checks.append(Check("parse", "pass", "module_fn and Model.forward(..., fn=) found"))
    job = P.Job(role="functional", task_path="task.py", functional_path="functional.py",
                seeds=tuple(range(1, seeds + 1)), init_seed=1234, size=size, device=backend)
    res = run_job(job, limits=Limits(timeout_s=timeout_s), backend=backend,
                  files={"task.py": task.source, "functional.py": functional_source},
                  env=device_env(device_index), lock=DeviceLock(backend, device_index))
    err = res.first("error")
    if res.timed_out:
        status, error = "timeout", f"ran past {timeout_s:.0f} s"
    elif err is not None:
        status, error = "runtime_error", err[0].message
    elif res.wire_error or res.first("done") is None:
        status, error = "runtime_error", res.wire_error or f"the runner died (code {res.exit_code})"
    if status != "verified":
        checks.append(Check("run", "fail", error))
        return verdict()
    hello = res.first("hello")
    if hello and not hello[0].state_dict_loaded:
        checks.append(Check("weights", "flag", "parameter names differ; weights are identical only through the seed"))
    for meta, t in res.all("case"):
        n = sum(1 for k in t if k.startswith("orig"))
        nf = sum(1 for k in t if k.startswith("func"))
        c = cmp.compare([t[f"func{i}"] for i in range(nf)], [t[f"orig{i}"] for i in range(n)],
                        [t[f"ref{i}"] for i in range(n)])
        checks.append(Check(f"case:{meta.id}", "pass" if c.ok else "fail",
                            c.reason or f"rel error {c.rel_error:.2e}"))
        if not c.ok and status == "verified":
            status, error = "incorrect", f"{meta.id}: {c.reason}"
    return verdict()
