"""The task's reference: eager and float64 outputs, baselines and the speed-of-light floor, from their own process.

The reference runs in a sandboxed process of its own, so its outputs never
enter a candidate's process. Results are cached in this (trusted) process per
task hash, size, number of seeds, backend and timing settings, with seeds
drawn secretly once per cache entry, so the many candidates of one task in one
run share a reference and are timed against the same eager and torch.compile
baselines measured in that run.
"""
from __future__ import annotations

import ast
import os
import random
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import torch

from harness.judge.compare import degenerate
from harness.sandbox.devices import child_env
from harness.sandbox.devlock import DeviceLock, physical_device
from harness.sandbox.memory import reference_bound
from harness.sandbox.process import Limits
from harness.sandbox.runner import run_job
from harness.sandbox.warm import WarmPool
from harness.task import module_constant
from harness.judge.timing import stats
from harness.types import Stats, TaskRef
from harness.worker import protocol as P
from harness.settings import settings

_cache: "OrderedDict[tuple, Reference]" = OrderedDict()  # least recently used first
_locks: dict[tuple, threading.Lock] = {}
_guard = threading.Lock()


@dataclass(frozen=True)
class RefCase:
    out: list[torch.Tensor]       # eager outputs in the task's dtype
    ref: list[torch.Tensor]       # float64 outputs
    input_sha: str
    bytes: int                    # inputs + parameters + outputs, for the speed-of-light floor
    identity: bool                # an output equals an input (aliasing is then legitimate)


@dataclass(frozen=True)
class Reference:
    seeds: list[int]
    init_seed: int
    cases: dict[str, RefCase] = field(default_factory=dict)
    weights_sha: str = ""
    eager: Stats | None = None
    compiled: Stats | None = None
    compile_error: str = ""
    sol_ms: float | None = None
    bytes_moved: int = 0
    flops: int = 0                          # the first case's matmul/conv FLOPs (0: none counted)
    peak_gbps: float | None = None          # the device's measured copy bandwidth
    peak_gflops: float | None = None        # the device's measured matmul throughput (TF32 tensor cores on CUDA)
    device_name: str = ""
    cuda_version: str = ""
    timing_method: str = ""
    max_speedup: float | None = None
    degenerate: str = ""
    error: str = ""
    # per case, what Model.forward passed module_fn: {"args": [["tensor", shape, dtype] | ["number", v]], "kwargs"}
    fn_args: dict[str, dict] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # where the reference run's time went, by message
    # the reference run's memory as the parent measured it (harness.sandbox.memory): a candidate's budget
    host_peak: int = 0
    device_peak: int | None = None
    device_memory_method: str = ""


def resolve_backend(backend: str) -> str:
    if backend == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if backend not in ("cpu", "cuda"):
        raise ValueError(f"unknown backend {backend!r}: use auto, cpu or cuda")
    if backend == "cuda" and not torch.cuda.is_available():
        raise ValueError("backend 'cuda' was asked for but no CUDA device is visible (use --backend cpu)")
    return backend


def device_env(device_index: int | None) -> dict[str, str]:
    """The environment that pins a runner to one GPU (several-GPU machines: one measuring worker per GPU)."""
    if device_index is None:
        return {}
    return child_env(device_index)


def resolve_size(size: str, backend: str) -> str:
    """"auto" is the task's full size on CUDA and its SMALL overrides on the CPU backend."""
    if size == "auto":
        return "default" if backend == "cuda" else "small"
    if size not in ("default", "small"):
        raise ValueError(f"unknown size {size!r}: use auto, default or small")
    return size


def timing_job(backend: str, *, repeats: int | None = None, warmup: int | None = None,
               compile_: bool) -> P.TimingSpec:
    """How a run on `backend` is timed (the reference's baselines and every candidate alike)."""
    if backend == "cuda":
        return P.TimingSpec(warmup=warmup or 10, repeats=repeats or 100, flush_bytes=256 << 20, compile=compile_)
    # CPU timings run with a fixed thread count (1 unless KERNEL_EVOLVE_CPU_TIMING_THREADS says otherwise), for eager,
    # torch.compile and the kernel alike: oversubscribed OpenMP pools make ratios on shared machines noise.
    return P.TimingSpec(warmup=warmup or 3, repeats=repeats or 30, flush_bytes=32 << 20, compile=compile_,
                        threads=settings().cpu_timing_threads or 1)


def _max_speedup(task: TaskRef) -> float | None:
    """The task's stated MAX_SPEEDUP (module-level literal), if any."""
    try:
        value = module_constant(ast.parse(task.source), "MAX_SPEEDUP")
    except SyntaxError:
        return None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def cache_budget_bytes() -> int:
    """How many bytes of reference outputs this process keeps: `KERNEL_EVOLVE_REFERENCE_CACHE_GB`, else a quarter
    of RAM.

    A default-size CUDA reference holds several GB (eager and float64 outputs of every case), so an
    unbounded cache would exhaust the parent over a many-task run."""
    gb = settings().reference_cache_gb
    if gb is not None:
        return int(gb * 2**30)
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4
    except (ValueError, OSError):
        return 8 * 2**30


def reference_bytes(ref: "Reference") -> int:
    return sum(t.numel() * t.element_size() for c in ref.cases.values() for t in (*c.out, *c.ref))


def get_reference(task: TaskRef, *, backend: str, seeds: int, size: str, timing: bool, compile_baseline: bool,
                  timeout_s: float = 600.0, device_index: int | None = None, pool: WarmPool | None = None) -> Reference:
    """The task's reference, computed once per key and kept while it fits `cache_budget_bytes()`.

    The least recently used references go first; the newest one is always kept. A reference computed again
    after eviction draws new secret seeds and times its baselines again. `pool`: a pre-started sandbox of
    the same backend and device runs it where one fits (the reference's rlimits are the pool's on CUDA)."""
    key = (task.sha256, backend, device_index, seeds, size, timing, compile_baseline and timing)
    with _guard:
        lock = _locks.setdefault(key, threading.Lock())
    with lock:
        with _guard:
            if key in _cache:
                _cache.move_to_end(key)
                return _cache[key]
        ref = _compute(task, backend=backend, seeds=seeds, size=size, timing=timing,
                       compile_baseline=compile_baseline, timeout_s=timeout_s, device_index=device_index, pool=pool)
        if not ref.error:
            with _guard:
                _cache[key] = ref
                budget, total = cache_budget_bytes(), sum(map(reference_bytes, _cache.values()))
                while len(_cache) > 1 and total > budget:
                    _, old = _cache.popitem(last=False)
                    total -= reference_bytes(old)
        return ref


def clear_cache() -> None:
    with _guard:
        _cache.clear()


def _compute(task: TaskRef, *, backend: str, seeds: int, size: str, timing: bool, compile_baseline: bool,
             timeout_s: float, device_index: int | None = None, pool: WarmPool | None = None) -> Reference:
    rng = random.SystemRandom()
    seed_list = sorted(rng.sample(range(1, 2**31 - 1), k=max(1, seeds)))
    init_seed = rng.randrange(1, 2**31 - 1)
    job = P.Job(role="reference", task_path="task.py", seeds=tuple(seed_list), init_seed=init_seed, size=size,
                device=backend, timing=timing_job(backend, compile_=compile_baseline) if timing else None)
    t0 = time.monotonic()
    # start-up, inputs, float64 outputs and the torch.compile build share the device with other runs; the
    # eager/compile timings have it with no candidate process alive (a baseline Gate, harness.sandbox.devlock)
    bound = reference_bound(backend, physical_device(device_index) if backend == "cuda" else "")
    res = run_job(job, limits=Limits(timeout_s=timeout_s, memory_mb=None, budget=bound), backend=backend,
                  env=device_env(device_index), files={"task.py": task.source}, lock=DeviceLock(backend, device_index),
                  pool=pool)
    seconds = dict(res.phases(t0), total=time.monotonic() - t0)
    base = dict(seeds=seed_list, init_seed=init_seed)
    err = res.first("error")
    if res.memory_exceeded:
        return Reference(**base, error=f"the task is too large to judge: {res.memory_exceeded}. Make its inputs "
                                       "smaller, or raise the bound with KERNEL_EVOLVE_REFERENCE_MEMORY_GB (host)")
    if res.timed_out:
        return Reference(**base, error=f"the reference ran past {timeout_s:.0f} s")
    if err is not None:
        return Reference(**base, error=err[0].message[:2000])
    if res.wire_error or res.first("done") is None:
        return Reference(**base, error=res.wire_error or f"exited with code {res.exit_code}: {res.log_tail[-600:]}")
    hello = res.first("hello")
    cases: dict[str, RefCase] = {}
    for meta, tensors in res.all("case"):
        n = sum(1 for k in tensors if k.startswith("out"))
        cases[meta.id] = RefCase(out=[tensors[f"out{i}"] for i in range(n)], ref=[tensors[f"ref{i}"] for i in range(n)],
                                 input_sha=meta.input_sha, bytes=meta.bytes, identity=meta.identity)
    eager = res.first("eager")
    compiled = res.first("compiled")
    cerr = res.first("compiled_error")
    bw = res.first("bandwidth")
    first = next(iter(cases.values()))
    bytes_moved = first.bytes
    sol = bytes_moved / (bw[0].gbps * 1e9) * 1000 if bw and bw[0].gbps else None
    seed_ids = [f"seed{s}" for s in seed_list]
    return Reference(
        **base, cases=cases, weights_sha=hello[0].weights_sha if hello else "",
        eager=stats(eager[0].samples) if eager else None,
        compiled=stats(compiled[0].samples) if compiled else None,
        compile_error=cerr[0].message if cerr else "",
        sol_ms=sol, bytes_moved=bytes_moved,
        flops=max((m.flops for m, _ in res.all("case")), default=0),
        peak_gbps=bw[0].gbps if bw and bw[0].gbps > 0 else None,
        peak_gflops=bw[0].peak_gflops if bw and bw[0].peak_gflops > 0 else None,
        device_name=hello[0].device_name if hello else backend,
        cuda_version=hello[0].cuda if hello else "",
        timing_method="cuda-events+l2-flush+device-sync" if backend == "cuda" else
        f"perf_counter_ns+cache-flush, {job.timing.threads if job.timing else '-'} thread(s)",
        max_speedup=_max_speedup(task),
        degenerate=degenerate({k: v.ref for k, v in cases.items()}, seed_ids), seconds=seconds,
        fn_args={m.id: m.fn_args for m, _ in res.all("case") if isinstance(m.fn_args, dict)},
        host_peak=res.memory.host_peak if res.memory else 0, device_peak=res.memory.device_peak if res.memory else None,
        device_memory_method=res.memory.device_method if res.memory else "",
    )
