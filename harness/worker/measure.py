"""What a runner process measures: the timed loop, the device's bandwidth, one profiled call.

It also owns the poison fill (`fill_poison`) that output memory gets before a measured call, so an
output the candidate never writes reads as NaN (or all-ones bits), never as a plausible answer.

Runs inside the sandboxed worker (`harness/worker/main.py`), so everything it returns is a claim the
parent checks: the timed loop's outputs are snapshotted for comparison, and the parent times the
loop from outside against the empty loop it runs first.
"""
from __future__ import annotations

import os
import time

import torch

# Bound when the worker imports this module, before any candidate code runs: a candidate that rebinds
# `torch.cuda.Event` or `time.perf_counter*` from Python changes nothing here. (Native code can still
# patch anything in its process; the parent's own clock of the timed phase bounds what a forged sample
# can claim: `timing_escape` in harness.judge.verify.)
_Event = torch.cuda.Event
_perf_counter_ns = time.perf_counter_ns
_perf_counter = time.perf_counter


def flat(out):
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (tuple, list)) and all(isinstance(o, torch.Tensor) for o in out):
        return list(out)
    raise TypeError(f"the output must be a tensor or a tuple of tensors, got {type(out).__name__}")


def sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def fill_poison(t: torch.Tensor) -> torch.Tensor:
    """Fill `t` in place with poison: NaN for floating and complex dtypes, True for bool, -1 (all ones) otherwise."""
    if t.is_floating_point() or t.is_complex():
        return t.fill_(float("nan"))
    if t.dtype == torch.bool:
        return t.fill_(True)
    return t.fill_(-1)


def stop_perturbing_malloc():
    """Correctness runs fill fresh heap memory (MALLOC_PERTURB_); timing runs should not pay for that."""
    if os.environ.get("MALLOC_PERTURB_"):
        import ctypes
        ctypes.CDLL(None).mallopt(-6, 0)  # M_PERTURB


def time_calls(fn, sets, t, device, snapshot_at=(), before=None, on_idle=None):
    """Time `fn` over `sets` as the `TimingSpec` `t` says; (samples in ms, snapshots of the chosen calls)."""
    stop_perturbing_malloc()
    if device == "cpu" and t.threads:
        torch.set_num_threads(int(t.threads))  # also the OpenMP team size for the candidate's own loops
    warmup, repeats = int(t.warmup), int(t.repeats)
    flush = torch.empty(int(t.flush_bytes) // 4, dtype=torch.float32, device=device)
    # the same loop with nothing in it: the parent times it to learn this process's honest overhead per call
    idle = min(repeats, 20)
    for i in range(idle):
        flush.fill_(float(i))
        if device == "cuda":
            start, end = _Event(enable_timing=True), _Event(enable_timing=True)
            torch.cuda.synchronize()
            start.record()
            torch.cuda.synchronize()
            end.record()
            end.synchronize()
    if on_idle is not None:  # the worker tells the parent: the empty loop is done
        on_idle(idle)
    for i in range(warmup):
        fn(sets[i % len(sets)])
    sync(device)
    samples, snaps = [], []
    for i in range(repeats):
        s = sets[i % len(sets)]
        if before is not None:  # untimed preparation the harness owns (format K: poisoned outputs)
            before()
        flush.fill_(float(i))
        if device == "cuda":
            start, end = _Event(enable_timing=True), _Event(enable_timing=True)
            torch.cuda.synchronize()
            start.record()
            out = fn(s)
            torch.cuda.synchronize()
            end.record()
            end.synchronize()
            samples.append(start.elapsed_time(end))
        else:
            t0 = _perf_counter_ns()
            out = fn(s)
            samples.append((_perf_counter_ns() - t0) / 1e6)
        if i in snapshot_at:
            snaps.append((i % len(sets), [o.detach().clone() for o in flat(out)]))
    sync(device)
    return samples, snaps


def bandwidth_gbps(device):
    """Bytes read plus written per second for a large device copy (memory-bound speed of light)."""
    n = (1 << 28) if device == "cuda" else (1 << 25)
    a = torch.empty(n // 4, dtype=torch.float32, device=device).fill_(1.0)
    b = torch.empty_like(a)
    best = float("inf")
    for _ in range(5):
        sync(device)
        t0 = _perf_counter()
        b.copy_(a)
        sync(device)
        best = min(best, _perf_counter() - t0)
    return 2 * n / best / 1e9


def peak_gflops(device):
    """Matrix-multiply throughput (GFLOP/s): the compute roof of the roofline. On CUDA with TF32 tensor cores
    allowed for this measurement only (the tensor-core roof the matmul family is reported against), on the
    CPU in fp32 with the timing's thread count."""
    n = 8192 if device == "cuda" else 512
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    prev = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = device == "cuda"
    try:
        best = float("inf")
        for i in range(7):
            sync(device)
            t0 = _perf_counter()
            torch.mm(a, b)
            sync(device)
            if i >= 2:
                best = min(best, _perf_counter() - t0)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = prev
    return 2 * n ** 3 / best / 1e9


def task_flops(model, inputs):
    """The FLOPs torch counts for one call of the task's model (matmul and convolution family; 0 if none)."""
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as counter:
        model(*inputs)
    return int(counter.get_total_flops())


def profile(call, inputs, names, device):
    """One call under the torch profiler: which ATen ops ran, and (CUDA) the share of device time in own kernels."""
    from torch.profiler import ProfilerActivity, profile as tprofile
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
    args = [x.clone() if isinstance(x, torch.Tensor) else x for x in inputs]
    with tprofile(activities=acts) as prof:
        call(args)
        sync(device)
    aten = sorted({e.key for e in prof.key_averages() if e.key.startswith("aten::")})
    if device != "cuda":
        return {"aten_ops": aten}
    total = own = 0.0
    kernels = []
    for evt in prof.key_averages():
        if getattr(evt, "device_type", None) is not None and "CUDA" not in str(evt.device_type):
            continue
        t = float(getattr(evt, "self_device_time_total", 0) or getattr(evt, "self_cuda_time_total", 0) or 0)
        if t <= 0:
            continue
        total += t
        mine = any(evt.key.startswith(n) or f" {n}(" in evt.key or f"{n}<" in evt.key for n in names)
        own += t if mine else 0.0
        kernels.append([evt.key[:120], t, mine])
    kernels.sort(key=lambda k: -k[1])
    return {"aten_ops": aten, "custom_kernel_fraction": own / total if total else 0.0, "kernels": kernels[:8]}
