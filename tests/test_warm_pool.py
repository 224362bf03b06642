"""Warm runners (harness.sandbox.warm): pre-started sandboxed workers give the same verdicts as cold ones, one job each.

Each test holds the pool to a promise of the cold runner: the same checks, a fresh process and uid
per candidate, a clean environment, a deadline that starts when the job is handed over (not when
the worker was pre-started), and no process left behind, whether a job hangs or the pool closes.
"""
from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

import harness.judge.verify as verify_mod
from harness.sandbox import runner
from harness.sandbox import uids as uids_mod
from harness.candidate import load_candidate
from harness.sandbox.process import Limits
from harness.sandbox.runner import run_job
from harness.task import known_good_kernel, load_task
from harness.judge.verify import verify
from harness.sandbox.warm import WarmPool
from harness.worker import protocol as P

HERE = Path(__file__).parent
FAST = dict(backend="cpu", size="small", compile_baseline=False, timeout_s=60.0, repeats=10, warmup=2)
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="per-run uids need root")


def _gelu():
    task = load_task("level1/gelu")
    return load_candidate(known_good_kernel(task, "cpu"), task)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _uid_procs(uid: int) -> list[int]:
    found = []
    for p in Path("/proc").iterdir():
        try:
            uids = next(ln for ln in (p / "status").read_text().splitlines() if ln.startswith("Uid:")).split()[1:]
        except (OSError, StopIteration):
            continue
        if str(uid) in uids:
            found.append(int(p.name))
    return found


def _eventually_gone(pids: list[int], timeout_s: float = 5.0) -> list[int]:
    end = time.monotonic() + timeout_s
    while [p for p in pids if _alive(p)] and time.monotonic() < end:
        time.sleep(0.05)
    return [p for p in pids if _alive(p)]


def _isolation(v) -> str:
    return next(c.reason for c in v.checks if c.name == "isolation")


def _spy_runs(monkeypatch: pytest.MonkeyPatch) -> list:
    seen = []
    real = runner.run_job

    def spy(*a, **k):
        res = real(*a, **k)
        seen.append(res)
        return res

    monkeypatch.setattr(verify_mod, "run_job", spy)
    return seen


def _spy_takes(pool: WarmPool) -> list[tuple[list[int], int | None]]:
    """Record, for every sandbox the pool hands out, its host pids and uid at the moment it is taken."""
    taken = []
    real = pool.take

    def take(**kw):
        a = real(**kw)
        if a is not None:
            taken.append((a.pids(), a.uid))
        return a

    pool.take = take  # type: ignore[method-assign]
    return taken


def test_warm_verify_gives_the_cold_verdict(monkeypatch: pytest.MonkeyPatch) -> None:
    cand = _gelu()
    runs = _spy_runs(monkeypatch)
    cold = verify(cand, **FAST)
    with WarmPool(1, backend="cpu") as pool:
        assert pool.wait_ready(120), pool.stats()
        warm = verify(cand, pool=pool, **FAST)
        assert pool.stats().taken == 1
    assert cold.status == warm.status == "verified", (warm.error, warm.checks)
    # same checks, same outcomes, on the same (cached) reference cases
    assert [(c.name, c.outcome) for c in cold.checks] == [(c.name, c.outcome) for c in warm.checks]
    assert warm.rel_error is not None and warm.timing is not None and warm.timing.kernel.n == 10
    assert "pre-started" not in _isolation(cold)
    same = [re.sub(r"uid \d+", "uid N", _isolation(v)) for v in (cold, warm)]
    assert same[1] == same[0] + " + pre-started"
    cold_res, warm_res = runs
    assert "pre-started" in warm_res.isolation
    # the pre-started worker imported torch and touched no CUDA before its job
    assert warm_res.first("hello")[0].cuda_at_start is False
    assert cold_res.first("hello")[0].cuda_at_start is False


def _uid(v) -> int | None:
    m = re.search(r"\buid (\d+)", _isolation(v))
    return int(m.group(1)) if m else None


def test_each_candidate_gets_its_own_process_and_uid() -> None:
    cand = _gelu()
    with WarmPool(2, backend="cpu") as pool:
        assert pool.wait_ready(120), pool.stats()
        taken = _spy_takes(pool)
        a = verify(cand, pool=pool, **FAST)
        b = verify(cand, pool=pool, **FAST)
    assert a.status == b.status == "verified", (a.error, b.error)
    assert "pre-started" in _isolation(a) and "pre-started" in _isolation(b)
    (pids_a, uid_a), (pids_b, uid_b) = taken
    assert len(pids_a) >= 2 and len(pids_b) >= 2  # a supervisor and its worker (PID namespace: and its init)
    assert not set(pids_a) & set(pids_b)
    assert not _eventually_gone(pids_a + pids_b), "a pre-started process outlived its one job"
    if os.geteuid() == 0 and uids_mod.can_drop_privileges():
        assert uid_a is not None and uid_b is not None and uid_a != uid_b
        assert (_uid(a), _uid(b)) == (uid_a, uid_b)


_HANG_TASK = '''
import os, time
import torch
import torch.nn as nn

class Model(nn.Module):
    def forward(self, x):
        return x

def get_init_inputs():
    return []

def get_inputs():
    if os.fork() == 0:          # a grandchild in its own session, sleeping: it must die with the run
        os.setsid()
        time.sleep(3600)
        os._exit(0)
    time.sleep(3600)
'''

_QUICK_TASK = '''
import torch
import torch.nn as nn

class Model(nn.Module):
    def forward(self, x):
        return x * 2

def get_init_inputs():
    return []

def get_inputs():
    return [torch.ones(4)]
'''

_ENV_TASK = '''
import json, os
import torch.nn as nn

class Model(nn.Module):
    def forward(self, x):
        return x

def get_init_inputs():
    raise RuntimeError("ENV=" + json.dumps({"env": dict(os.environ), "cwd": os.getcwd(), "nice": os.nice(0)}))
'''


def _ref_job() -> P.Job:
    return P.Job(role="reference", task_path="task.py", seeds=(1,), init_seed=2, size="default", device="cpu")


def test_deadline_starts_at_assignment_and_a_hang_dies_with_its_children() -> None:
    limits = Limits(timeout_s=1.0, startup_s=2.0)  # 3 s before hello
    with WarmPool(1, backend="cpu", limits=limits) as pool:
        assert pool.wait_ready(120), pool.stats()
        time.sleep(4.0)  # the armed worker has now waited longer than its job's whole deadline
        res = run_job(_ref_job(), limits=limits, backend="cpu", files={"task.py": _QUICK_TASK}, pool=pool)
        assert "pre-started" in res.isolation
        assert not res.timed_out and res.exit_code == 0, (res.exit_code, res.log_tail)
        assert res.kinds()[0] == "hello" and res.kinds()[-1] == "done"

        assert pool.wait_ready(120), pool.stats()
        taken = _spy_takes(pool)
        res = run_job(_ref_job(), limits=limits, backend="cpu", files={"task.py": _HANG_TASK}, pool=pool)
    assert "pre-started" in res.isolation
    assert res.timed_out and res.exit_code == 124
    assert res.wall_s >= 3.0  # counted from the assignment: startup_s + timeout_s, not from the pre-start
    pids, uid = taken[0]
    assert not _eventually_gone(pids)
    if uid is not None:
        assert not _eventually_gone(_uid_procs(uid)), "a process of the hung run survived"


def test_hanging_candidate_in_a_warm_worker_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    task = load_task("level1/relu")
    cand = load_candidate(HERE / "adversarial" / "candidates" / "hang_sleep.cpp", task)
    with WarmPool(1, backend="cpu") as pool:
        assert pool.wait_ready(120), pool.stats()
        taken = _spy_takes(pool)
        v = verify(cand, pool=pool, **dict(FAST, timeout_s=3.0))
    assert v.status == "timeout", (v.status, v.error)
    assert "pre-started" in _isolation(v)
    assert v.seconds["run"] >= 3.0  # the candidate got its full time, counted from the assignment
    pids, uid = taken[0]
    assert not _eventually_gone(pids)
    if uid is not None:
        assert not _eventually_gone(_uid_procs(uid))


def test_close_leaves_no_armed_process() -> None:
    pool = WarmPool(2, backend="cpu")
    assert pool.wait_ready(120), pool.stats()
    pids = pool.pids()
    uids = [a.uid for a in pool._armed]
    dirs = [a.tmp for a in pool._armed]
    assert len(pids) >= 4 and all(_alive(p) for p in pids)
    pool.close()
    assert not [p for p in pids if _alive(p)], "close() left armed processes alive"
    assert not any(d.exists() for d in dirs)
    for uid in uids:
        if uid is not None:
            assert uid not in uids_mod._uids_in_use and not _uid_procs(uid)
    assert pool.stats().armed == 0 and pool.run(_ref_job(), limits=Limits(), backend="cpu") is None


@pytest.mark.parametrize("mismatch", ["env", "rlimits", "backend"])
def test_a_job_the_pool_does_not_fit_runs_cold(mismatch: str) -> None:
    kw = dict(limits=Limits(timeout_s=30.0), backend="cpu", env=None)
    if mismatch == "env":
        kw["env"] = {"CUDA_VISIBLE_DEVICES": "1"}
    elif mismatch == "rlimits":
        kw["limits"] = Limits(timeout_s=30.0, memory_mb=None)
    else:
        kw["backend"] = "cuda"
    with WarmPool(1, backend="cpu") as pool:
        if mismatch == "backend":
            assert pool.run(_ref_job(), files={"task.py": _QUICK_TASK}, **kw) is None
        else:
            res = run_job(_ref_job(), files={"task.py": _QUICK_TASK}, pool=pool, **kw)
            assert "pre-started" not in res.isolation and res.kinds()[-1] == "done", res.log_tail
        assert pool.stats().taken == 0


def test_pre_started_worker_has_the_clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    canary = "hf_canary_warm_7c1d"
    monkeypatch.setenv("HF_TOKEN", canary)
    monkeypatch.setenv("KE_SECRET_THING", canary)
    def seen(pool: WarmPool | None) -> dict:
        res = run_job(_ref_job(), limits=Limits(timeout_s=30.0), backend="cpu", files={"task.py": _ENV_TASK},
                      pool=pool)
        assert ("pre-started" in res.isolation) == (pool is not None)
        err = res.first("error")
        assert err is not None, res.log_tail
        return json.loads(err[0].message.split("ENV=", 1)[1])

    with WarmPool(1, backend="cpu") as pool:  # started while the secrets are in this process's environment
        assert pool.wait_ready(120), pool.stats()
        warm = seen(pool)
    cold = seen(None)
    assert canary not in json.dumps(warm)
    env = warm["env"]
    assert env["HOME"] == env["TMPDIR"] == warm["cwd"] and Path(warm["cwd"]).name.startswith("ke-run-")
    assert warm["cwd"] != cold["cwd"]
    assert warm["nice"] == cold["nice"] == os.nice(0)  # the pre-start's low priority ends before the job
    # exactly the cold worker's environment, but for the run's own directory
    home = lambda e: {k: v.replace(e["cwd"], "<run>") for k, v in e["env"].items()}  # noqa: E731
    assert home(warm) == home(cold)


@pytest.mark.gpu
def test_cuda_pool_worker_is_prepared_and_verifies(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pre-started CUDA worker made its context (and cuBLAS, and a profiler session) before its job, in its own
    process; the candidate still gets every check of a cold run."""
    task = load_task("level1/gelu")
    cand = load_candidate(known_good_kernel(task, "cuda"), task)
    runs = _spy_runs(monkeypatch)
    with WarmPool(1, backend="cuda") as pool:
        assert pool.wait_ready(300), pool.stats()
        v = verify(cand, backend="cuda", seeds=2, size="small", compile_baseline=False, pool=pool)
    assert v.status == "verified", (v.error, v.checks)
    assert "pre-started" in _isolation(v)
    assert runs[-1].first("hello")[0].cuda_at_start is True



def test_local_executor_with_warm_runners_judges_through_the_pool() -> None:
    from harness.executors.local import LocalExecutor

    task = load_task("level1/gelu")
    cand = load_candidate(known_good_kernel(task, "cpu"), task)
    with LocalExecutor(max_workers=1, warm=1, backend="cpu") as ex:
        assert ex.warm_pool is not None and ex.warm_pool.wait_ready(120)
        v = ex.submit(cand, backend="cpu", seeds=2, size="small", compile_baseline=False, repeats=5).result()
    iso = next(c.reason for c in v.checks if c.name == "isolation")
    assert v.status == "verified" and "pre-started" in iso, (v.status, iso)
