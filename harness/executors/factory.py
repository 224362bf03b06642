"""Choosing an executor: one option for every front end (`evolve`, `bench`, `finetune eval`/GRPO, the Space).

`ExecutorOptions` is what a user chooses (kind and, optionally, sizes); `make_executor` turns it into an
`Executor` for a backend. "local" judges on this machine: on the CUDA backend with GPUs visible, a
`GpuPoolExecutor` (`per_device` verifications sharing each GPU, `warm` pre-started sandboxes per GPU,
builds on `workers` CPU threads); otherwise a `LocalExecutor` (`workers` sandboxed runs, `warm`
pre-started sandboxes). Sizes left as None are sized to the host (`host_sizes`). "ray" submits to a
Ray cluster (`RayExecutor`, optional dependency). Unknown names and options get a clear `ValueError`.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Any

from harness.executors.gpu_pool import GpuPoolExecutor, accepts_device_index
from harness.executors.local import Executor, LocalExecutor
from harness.judge.reference import resolve_backend
from harness.judge.verify import verify
from harness.sandbox.devices import visible_devices

EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class HostSizes:
    workers: int       # CPU backend: verifications at once; CUDA: build threads
    warm: int          # pre-started sandboxes (per GPU on CUDA)
    per_device: int    # verifications sharing one GPU at once (CUDA)


def host_sizes(backend: str, *, cpus: int | None = None, gpus: int = 1) -> HostSizes:
    """Defaults for this host. CPU backend: the cores are the device, so about half of them verify at once,
    with pre-started sandboxes only where a spare core can prepare them (on 2 cores a refill competes with
    the runs it should hide). CUDA: each GPU takes up to 8 verifications at once (their correctness phases
    overlap, their timed loops take turns), with two sandboxes more than that kept prepared (CUDA context,
    cuBLAS, profiler) so none waits for a start; builds use half the cores."""
    cpus = max(1, cpus if cpus is not None else (os.cpu_count() or 2))
    if backend == "cuda":
        per = max(2, min(8, cpus // (2 * max(1, gpus))))
        return HostSizes(workers=max(2, cpus // 2), warm=per + 2, per_device=per)
    workers = max(2, min(8, cpus // 2))
    return HostSizes(workers=workers, warm=workers if cpus > 2 else 0, per_device=1)


@dataclass(frozen=True)
class ExecutorOptions:
    """How candidates are judged: the executor's kind and sizes (None: sized to the host)."""

    kind: str = "local"
    workers: int | None = None
    warm: int | None = None
    per_device: int | None = None
    address: str | None = None     # kind "ray": the cluster ("auto" or an address); None starts a local one

    def make(self, backend: str = "auto") -> Executor:
        return make_executor(self.kind, backend=backend, workers=self.workers, warm=self.warm,
                             per_device=self.per_device, **({"address": self.address} if self.address else {}))


def make_executor(kind: str = "local", *, backend: str = "auto", workers: int | None = None, warm: int | None = None,
                  per_device: int | None = None, devices: list[str] | None = None, **kw: Any) -> Any:
    """An `Executor` of the named kind. Options for "ray": see `harness.executors.ray_executor.RayExecutor`."""
    if kind == "local":
        if kw:
            raise ValueError(f"unknown option(s) for the local executor: {', '.join(sorted(kw))}")
        backend = resolve_backend(backend)
        if backend == "cuda":
            devs = visible_devices() if devices is None else list(devices)
            if len(devs) > 1 and not accepts_device_index(verify):
                warnings.warn(f"{len(devs)} GPUs are visible but this harness's verify() cannot place a run on "
                              f"one of them (no device_index argument): measuring on GPU {devs[0]} only",
                              RuntimeWarning, stacklevel=2)
                devs = devs[:1]
            if devs:  # the device lock lets runs share a GPU's correctness work, never its timing
                d = host_sizes("cuda", gpus=len(devs))
                return GpuPoolExecutor(devs, build_workers=workers or d.workers,
                                       per_device=per_device or d.per_device,
                                       warm=d.warm if warm is None else warm)
        d = host_sizes(backend)
        return LocalExecutor(max_workers=workers or d.workers, warm=d.warm if warm is None else warm, backend=backend)
    if kind == "ray":
        from harness.executors.ray_executor import RayExecutor

        try:
            return RayExecutor(**kw)
        except TypeError as e:
            raise ValueError(f"bad option for the ray executor: {e}") from None
    raise ValueError(f"unknown executor {kind!r}: use one of {', '.join(EXECUTORS)}")


__all__ = ["make_executor", "ExecutorOptions", "HostSizes", "host_sizes", "EXECUTORS"]
