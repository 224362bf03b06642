"""Choosing an executor by name: `make_executor("local" | "ray", **options)`.

"local" judges on this machine: on the CUDA backend with GPUs visible, `per_device`
(default 2) verifications per GPU, optionally with `warm` pre-started sandboxes per GPU
(`GpuPoolExecutor`); otherwise a thread pool of
`workers` sandboxed runs (`LocalExecutor`). "ray" submits to a Ray cluster
(`RayExecutor`, optional dependency). Unknown names and options get a clear
`ValueError`, never a traceback from deep inside.
"""
from __future__ import annotations

import warnings
from typing import Any

EXECUTORS = ("local", "ray")


def make_executor(kind: str = "local", *, backend: str = "auto", workers: int = 2, **kw: Any) -> Any:
    """An `Executor` of the named kind. Options for "ray": see `harness.executors.ray_executor.RayExecutor`."""
    if kind == "local":
        from harness.executors.local import LocalExecutor
        from harness.executors.gpu_pool import GpuPoolExecutor, accepts_device_index
        from harness.sandbox.devices import visible_devices
        from harness.judge.reference import resolve_backend
        from harness.judge.verify import verify

        devices = kw.pop("devices", None)
        warm = int(kw.pop("warm", 0) or 0)
        per_device = int(kw.pop("per_device", 2) or 1)
        if kw:
            raise ValueError(f"unknown option(s) for the local executor: {', '.join(sorted(kw))}")
        if resolve_backend(backend) == "cuda":
            devs = visible_devices() if devices is None else list(devices)
            if len(devs) > 1 and not accepts_device_index(verify):
                warnings.warn(f"{len(devs)} GPUs are visible but this harness's verify() cannot place a run on "
                              f"one of them (no device_index argument): measuring on GPU {devs[0]} only",
                              RuntimeWarning, stacklevel=2)
                devs = devs[:1]
            if devs:  # the device lock lets two runs share a GPU's correctness work, never its timing
                return GpuPoolExecutor(devs, build_workers=workers, per_device=per_device, warm=warm)
        return LocalExecutor(max_workers=workers, warm=warm, backend=resolve_backend(backend))
    if kind == "ray":
        from harness.executors.ray_executor import RayExecutor

        try:
            return RayExecutor(**kw)
        except TypeError as e:
            raise ValueError(f"bad option for the ray executor: {e}") from None
    raise ValueError(f"unknown executor {kind!r}: use one of {', '.join(EXECUTORS)}")


__all__ = ["make_executor", "EXECUTORS"]
