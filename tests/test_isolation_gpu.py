"""Two candidates never share a CUDA context or a process (issue 8), cold runners and warm ones alike.

A CUDA context belongs to one process, so the proof is about processes, observed from this trusted
parent (the host's /proc), with the worker's own `hello` only as a cross-check:
- every candidate's job runs in exactly one worker process, a freshly exec'd `harness/worker/main.py`
  (a new program image: nothing of any other process's CUDA state survives an exec), and no two
  candidates' workers, supervisors or process trees share a pid;
- a cold worker had not initialised CUDA when its job came (`cuda_at_start` false in its hello); a
  pre-started CUDA worker had, in its own process, by the harness's `prepare` before any job existed
  (`cuda_at_start` true), and the device files it held when the pool handed it out were its own: the
  process that ran the job is the one the pool started (where /proc shows these);
- each candidate's processes are gone once its verdict is back, and a cold candidate's run starts
  only after every earlier candidate's worker is gone.
The worker's own pid (in its hello) proves nothing by itself: in a PID namespace every worker is pid 2.
The pids compared here are the host's; the hello's must equal them where the sandbox has no PID
namespace (the GPU hosts, see `harness.sandbox.choice`). The warm candidates run concurrently
(correctness runs may share a GPU), so their workers are alive at the same time and distinct pids
there mean distinct processes, not luck of pid reuse.

The CUDA tests are marked `gpu` (skipped without a device); the same checks on the CPU backend run
everywhere, on format-K kernels that build in a fraction of a second.
"""
from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.sandbox import process
from harness.sandbox.supervisor import descendants as _descendants
from harness.candidate import load_candidate
from harness.judge.reference import get_reference
from harness.task import known_good_kernel, load_task
from harness.types import Candidate
from harness.judge.verify import verify
from harness.sandbox.warm import WarmPool
from tests.test_warm_pool import _alive

K = Path(__file__).resolve().parent / "kernels" / "k"
_tls = threading.local()


def _eventually_gone(pids, timeout_s: float = 5.0) -> list[int]:
    end = time.monotonic() + timeout_s
    while [p for p in pids if _alive(p)] and time.monotonic() < end:
        time.sleep(0.05)
    return [p for p in pids if _alive(p)]


def _argv(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode("utf-8", "replace").split("\0")
    except OSError:
        return []


def _is_worker(argv: list[str]) -> bool:
    """The exec'd runner (`python -s -B harness/worker/main.py ...`), not its supervisor or a fork of it."""
    return len(argv) >= 4 and argv[3] == str(process.WORKER)


def _gpu_fds(pid: int) -> int | None:
    """How many NVIDIA device files the process has open; None where /proc does not let us look."""
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return None
    n = 0
    for name in names:
        try:
            n += os.readlink(f"/proc/{pid}/fd/{name}").startswith("/dev/nvidia")
        except OSError:
            pass
    return n


def _libcuda_mapped(pid: int) -> bool | None:
    """Is the CUDA driver library mapped into the process (it is loaded when CUDA initialises)?"""
    try:
        return "libcuda.so" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return None


@dataclass
class Run:
    """One worker run as this parent saw it from outside."""

    label: str
    supervisor: int
    tree: set[int] = field(default_factory=set)         # every host pid seen below the supervisor
    workers: set[int] = field(default_factory=set)      # those that were the exec'd worker.py
    gpu_fds: int | None = None                         # most NVIDIA device files the worker held at once
    libcuda: bool | None = None                        # libcuda seen mapped into the worker
    earlier_alive: list[int] = field(default_factory=list)  # earlier runs' workers alive when this one began
    res: process.RunResult | None = None
    gone_after_verdict: list[int] | None = None        # its pids still alive once its verdict was back


@dataclass
class Taken:
    """A pre-started sandbox at the moment the pool handed it out for a job."""

    supervisor: int
    pids: list[int]
    workers: list[int]
    gpu_fds: dict[int, int | None]
    libcuda: dict[int, bool | None]


class Watch:
    """Records every runner the parent collects (cold and warm both go through `process.collect`)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, cuda: bool):
        self.cuda = cuda
        self.runs: list[Run] = []
        self.taken: list[Taken] = []
        self._lock = threading.Lock()
        self._real = process.collect
        monkeypatch.setattr(process, "collect", self._collect)

    def _collect(self, proc, read_fd, tmp, limits, t0, **kw):
        run = Run(label=getattr(_tls, "label", "?"), supervisor=proc.pid)
        with self._lock:
            run.earlier_alive = [w for r in self.runs for w in r.workers if _alive(w)]
        stop = threading.Event()

        def poll() -> None:
            while True:
                for p in _descendants(proc.pid):
                    run.tree.add(p)
                    if p not in run.workers and _is_worker(_argv(p)):
                        run.workers.add(p)
                for w in list(run.workers):
                    if self.cuda:
                        n = _gpu_fds(w)
                        if n is not None:
                            run.gpu_fds = max(run.gpu_fds or 0, n)
                        if not run.libcuda:
                            m = _libcuda_mapped(w)
                            run.libcuda = m if m is not None else run.libcuda
                if stop.is_set():
                    return
                time.sleep(0.01)

        th = threading.Thread(target=poll, daemon=True)
        th.start()
        try:
            run.res = self._real(proc, read_fd, tmp, limits, t0, **kw)
        finally:
            stop.set()
            th.join(timeout=30)
            with self._lock:
                self.runs.append(run)
        return run.res

    def watch_takes(self, pool: WarmPool) -> None:
        real = pool.take

        def take(**kw):
            a = real(**kw)
            if a is not None:
                pids = a.pids()
                workers = [p for p in pids if _is_worker(_argv(p))]
                self.taken.append(Taken(a.proc.pid, pids, workers, {w: _gpu_fds(w) for w in workers},
                                        {w: _libcuda_mapped(w) for w in workers}))
            return a

        pool.take = take  # type: ignore[method-assign]

    def labelled(self, label: str) -> list[Run]:
        with self._lock:
            return [r for r in self.runs if r.label == label]


def _judge(watch: Watch, label: str, cand: Candidate, kw: dict, pool: WarmPool | None = None):
    _tls.label = label
    try:
        v = verify(cand, pool=pool, **kw)
    finally:
        _tls.label = "?"
    for run in watch.labelled(label):
        run.gone_after_verdict = _eventually_gone(run.tree | {run.supervisor})
    return v


def _exercise(monkeypatch: pytest.MonkeyPatch, backend: str, cands: list[Candidate]) -> None:
    kw = dict(backend=backend, seeds=1, size="small", timing=False, compile_baseline=False, timeout_s=120.0)
    for task in {c.task.task_id: c.task for c in cands}.values():  # references first: then every run is a candidate's
        ref = get_reference(task, backend=backend, seeds=1, size="small", timing=False, compile_baseline=False,
                            timeout_s=600.0)
        assert not ref.error, ref.error
    watch = Watch(monkeypatch, cuda=backend == "cuda")
    verdicts = {}
    for i, c in enumerate(cands):  # cold, one after another
        verdicts[f"cold{i}"] = _judge(watch, f"cold{i}", c, kw)
    with WarmPool(len(cands), backend=backend) as pool:
        assert pool.wait_ready(300 if backend == "cuda" else 120), pool.stats()
        watch.watch_takes(pool)
        with ThreadPoolExecutor(len(cands)) as ex:  # warm, all at once
            futs = {f"warm{i}": ex.submit(_judge, watch, f"warm{i}", c, kw, pool) for i, c in enumerate(cands)}
            verdicts.update({k: f.result() for k, f in futs.items()})

    for label, v in verdicts.items():
        assert v.status == "verified", (label, v.status, v.error)
    runs = {label: watch.labelled(label) for label in verdicts}
    assert all(len(rs) == 1 for rs in runs.values()), {k: len(rs) for k, rs in runs.items()}
    runs1 = {label: rs[0] for label, rs in runs.items()}
    taken = {t.supervisor: t for t in watch.taken}
    assert len(taken) == len(cands), "each warm candidate took a sandbox of its own"

    for label, run in runs1.items():
        res = run.res
        assert res is not None and res.exit_code == 0, (label, res and res.log_tail)
        hello = res.first("hello")
        prepared = backend == "cuda" and not label.startswith("cold")  # warm CUDA workers made their context ahead
        assert hello is not None and hello[0].cuda_at_start is prepared, (label, hello and hello[0])
        # one process ran the job: the exec'd worker, whose own report matches what the parent saw
        assert len(run.workers) == 1, (label, run.workers, {p: _argv(p) for p in run.tree})
        (worker,) = run.workers
        if "pid-namespace" not in res.isolation:
            assert hello[0].pid == worker, (label, hello[0].pid, worker)
        assert run.gone_after_verdict == [], f"{label}: processes {run.gone_after_verdict} outlived the verdict"
        if label.startswith("cold"):
            assert "pre-started" not in res.isolation
            assert run.earlier_alive == [], f"{label} started while earlier workers {run.earlier_alive} lived"
        else:
            assert "pre-started" in res.isolation, (label, res.isolation)
            t = taken.get(run.supervisor)
            assert t is not None and t.workers == [worker], (label, t, worker)  # the pre-started process ran it
            if backend == "cpu":  # outside evidence: no device state in a CPU worker before its job
                assert t.gpu_fds[worker] in (0, None), (label, "NVIDIA device open before the job", t)

    # no two candidates share a process: workers, supervisors and whole trees are pairwise distinct
    workers = [w for r in runs1.values() for w in r.workers]
    assert len(set(workers)) == len(workers) == len(runs1), workers
    sups = [r.supervisor for r in runs1.values()]
    assert len(set(sups)) == len(sups), sups
    seen: dict[int, str] = {}
    for label, run in runs1.items():
        for p in run.tree | {run.supervisor}:
            assert p not in seen, f"pid {p} served both {seen[p]} and {label}"
            seen[p] = label
    if backend == "cuda":
        # each process opened the GPU itself, i.e. made its own context (wherever /proc shows device files)
        if any(r.gpu_fds for r in runs1.values()):
            assert all(r.gpu_fds for r in runs1.values()), {k: r.gpu_fds for k, r in runs1.items()}
        if any(r.libcuda for r in runs1.values()):
            assert all(r.libcuda for r in runs1.values()), {k: r.libcuda for k, r in runs1.items()}


def test_cpu_candidates_never_share_a_process(monkeypatch: pytest.MonkeyPatch) -> None:
    task = load_task("level1/layernorm")
    src = (K / "layernorm_cpu.cpp").read_text()
    cands = [load_candidate(s, task) for s in (src, src + "\n// another candidate\n")]
    _exercise(monkeypatch, "cpu", cands)


@pytest.mark.gpu
def test_cuda_candidates_never_share_a_context_or_a_process(monkeypatch: pytest.MonkeyPatch) -> None:
    gelu, layernorm = load_task("level1/gelu"), load_task("level1/layernorm")
    a = load_candidate(known_good_kernel(gelu, "cuda"), gelu)       # shipped format A
    k = load_candidate(K / "layernorm_cuda.cu", layernorm)          # format K
    _exercise(monkeypatch, "cuda", [a, k, a])  # the same kernel twice: two candidates all the same
