"""Several GPUs on one machine: one measuring worker per device.

The devices are `harness.sandbox.devices.visible_devices()`. `GpuPool` hands out one
device at a time per holder. `GpuPoolExecutor` implements the `Executor` seam:
each candidate is first built on a CPU thread (builds are shared through the
content-addressed cache, so any device can use any build), then waits for a
free device and is verified with `device_index=` set, so exactly one
measuring worker runs per visible GPU and the GPU never waits for a compiler.

`verify(..., device_index=i)` must run the candidate and its reference with
`child_env(i)` added to their environment (`CUDA_VISIBLE_DEVICES` of that one
device). Tests simulate GPUs by passing `devices=[...]` and a `verify_fn`.
"""
from __future__ import annotations

import inspect
import os
import queue
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, Callable, Iterator, Sequence

from harness.build import cache
from harness.judge.reference import resolve_backend
from harness.judge.verify import verify
from harness.sandbox.devices import child_env, visible_devices
from harness.sandbox.warm import WarmPool
from harness.static import check as static
from harness.types import Candidate, Verdict

VerifyFn = Callable[..., Verdict]


class GpuPool:
    """Hands out device indices, `per_device` holders per device at a time (a blocking checkout)."""

    def __init__(self, devices: Sequence[str], per_device: int = 1):
        if not devices:
            raise ValueError("GpuPool needs at least one device; with no GPU use LocalExecutor (backend cpu)")
        if per_device < 1:
            raise ValueError("per_device must be at least 1")
        self.devices = list(devices)
        self._free: "queue.Queue[int]" = queue.Queue()
        for _ in range(per_device):
            for i in range(len(self.devices)):
                self._free.put(i)

    def __len__(self) -> int:
        return len(self.devices)

    @contextmanager
    def acquire(self) -> Iterator[int]:
        i = self._free.get()
        try:
            yield i
        finally:
            self._free.put(i)


def accepts_keyword(fn: Callable[..., Any], name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def accepts_device_index(fn: Callable[..., Any]) -> bool:
    return accepts_keyword(fn, "device_index")


def _prebuild(candidate: Candidate, verify_kw: dict[str, Any]) -> cache.BuildResult | None:
    """Compile a format-A or K candidate into the shared cache without holding a GPU (verify then hits it)."""
    if candidate.format not in ("A", "K"):
        return None
    backend = resolve_backend(verify_kw.get("backend", "auto"))
    if verify_kw.get("static_checks", True) and \
            static.static_check(candidate.source, format=candidate.format, backend=backend).rejected:
        return None  # verify refuses it before building; don't spend a compile on it
    return cache.build(candidate.source, backend=backend, format=candidate.format)


def with_prebuild(verdict: Verdict, built: cache.BuildResult | None) -> Verdict:
    """The verdict as if verify had compiled: a build made before the GPU slot keeps its time in `seconds["build"]`
    and its words in the compile check (verify itself saw only the cache hit it left)."""
    if built is None or built.cached or not built.ok:
        return verdict
    checks = tuple(replace(c, reason=f"built in {built.seconds:.1f} s before a GPU slot was taken ({built.path})"
                           + c.reason[len("cached"):])
                   if c.name == "compile" and c.reason.startswith("cached") else c for c in verdict.checks)
    seconds = dict(verdict.seconds, build=round(verdict.seconds.get("build", 0.0) + built.seconds, 4))
    return replace(verdict, checks=checks, seconds=seconds)


class GpuPoolExecutor:
    """Executor with `per_device` verifications per GPU; builds run beforehand on `build_workers` CPU threads.

    With `per_device` > 1 the runs of one GPU overlap only where `harness.sandbox.devlock` allows: their correctness
    phases share the GPU, and each timed phase has it alone. `warm=N` keeps a `harness.sandbox.warm.WarmPool` of N
    pre-started sandboxes per GPU (each seeing only its GPU), used when `verify_fn` takes a `pool`.
    """

    def __init__(self, devices: Sequence[str] | None = None, *, build_workers: int = 2,
                 verify_fn: VerifyFn | None = None, prebuild: bool = True, per_device: int = 1, warm: int = 0):
        if verify_fn is None:
            verify_fn = verify
        self.pool = GpuPool(visible_devices() if devices is None else devices, per_device)
        self._verify = verify_fn
        if len(self.pool) > 1 and not accepts_device_index(verify_fn):
            raise RuntimeError(
                f"{len(self.pool)} GPUs are visible but this harness's verify() has no `device_index` argument, so "
                "every run would land on the first GPU. Use one GPU (CUDA_VISIBLE_DEVICES=0) or update the harness.")
        self._prebuild = prebuild
        self._threads = ThreadPoolExecutor(max_workers=len(self.pool) * per_device + max(1, build_workers),
                                           thread_name_prefix="ke-gpu")
        self._lock = threading.Lock()
        self.runs_per_device = [0] * len(self.pool)
        self.warm_pools: list[Any] = []
        if warm > 0:
            try:
                for i in range(len(self.pool)):
                    self.warm_pools.append(WarmPool(warm, backend="cuda", env=child_env(i, self.pool.devices)))
            except BaseException:  # the pools already started would keep arming sandboxes
                for wp in self.warm_pools:
                    wp.close()
                self._threads.shutdown(wait=False)
                raise

    def _job(self, candidate: Candidate, verify_kw: dict[str, Any]) -> Verdict:
        built = _prebuild(candidate, verify_kw) if self._prebuild else None
        return with_prebuild(self._run(candidate, verify_kw), built)

    def _run(self, candidate: Candidate, verify_kw: dict[str, Any]) -> Verdict:
        with self.pool.acquire() as i:
            with self._lock:
                self.runs_per_device[i] += 1
            kw = dict(verify_kw)
            if len(self.pool) > 1 or accepts_device_index(self._verify):
                kw["device_index"] = i
            if self.warm_pools and accepts_keyword(self._verify, "pool"):
                kw["pool"] = self.warm_pools[i]
            return self._verify(candidate, **kw)

    def submit(self, candidate: Candidate, **verify_kw: Any) -> "Future[Verdict]":
        return self._threads.submit(self._job, candidate, verify_kw)

    def shutdown(self) -> None:
        self._threads.shutdown(wait=True)
        for p in self.warm_pools:
            p.close()

    def __enter__(self) -> "GpuPoolExecutor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


__all__ = ["GpuPool", "GpuPoolExecutor", "accepts_device_index", "with_prebuild"]
