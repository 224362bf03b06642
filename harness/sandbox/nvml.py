"""The NVIDIA management library (NVML), through ctypes: device memory per process and per device.

Only what the parent's memory watch needs (`harness.sandbox.memory`): the compute processes on each
GPU with the device memory each one uses, and a device's total and used memory. It loads
`libnvidia-ml.so.1` (installed with the driver) at first use, never compiles anything and never
initialises CUDA. Every failure becomes `NvmlError` with the reason, which the caller turns into a
weaker measurement and says so in the verdict.

The C declarations it relies on (nvml.h, API 11+):

    nvmlReturn_t nvmlInit_v2(void);
    nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count);
    nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device);
    nvmlReturn_t nvmlDeviceGetHandleByUUID(const char *uuid, nvmlDevice_t *device);
    nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory);
    nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t, unsigned int *count, nvmlProcessInfo_t *);
    nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v2(nvmlDevice_t, unsigned int *count, nvmlProcessInfo_v2_t *);
    nvmlReturn_t nvmlDeviceGetComputeRunningProcesses(nvmlDevice_t, unsigned int *count, nvmlProcessInfo_v1_t *);

`nvmlProcessInfo_t` and `nvmlProcessInfo_v2_t` are {pid, usedGpuMemory, gpuInstanceId, computeInstanceId};
`nvmlProcessInfo_v1_t` is {pid, usedGpuMemory}. A count too small for the list returns
NVML_ERROR_INSUFFICIENT_SIZE with the needed count written back; a memory figure NVML cannot give
(some containers, MIG without permission) is NVML_VALUE_NOT_AVAILABLE (all ones).
"""
from __future__ import annotations

import ctypes
import threading
from typing import Any, Protocol

NVML_SUCCESS = 0
NVML_ERROR_INSUFFICIENT_SIZE = 7
NVML_VALUE_NOT_AVAILABLE = (1 << 64) - 1
LIBRARY = "libnvidia-ml.so.1"


class NvmlError(RuntimeError):
    """NVML is missing, failed, or cannot give the figure asked for; the message says which."""


class ProcessInfo(ctypes.Structure):
    """nvmlProcessInfo_t / nvmlProcessInfo_v2_t."""
    _fields_ = [("pid", ctypes.c_uint), ("usedGpuMemory", ctypes.c_ulonglong),
                ("gpuInstanceId", ctypes.c_uint), ("computeInstanceId", ctypes.c_uint)]


class ProcessInfoV1(ctypes.Structure):
    """nvmlProcessInfo_v1_t."""
    _fields_ = [("pid", ctypes.c_uint), ("usedGpuMemory", ctypes.c_ulonglong)]


class MemoryInfo(ctypes.Structure):
    """nvmlMemory_t."""
    _fields_ = [("total", ctypes.c_ulonglong), ("free", ctypes.c_ulonglong), ("used", ctypes.c_ulonglong)]


# (function name, struct) from newest to oldest: the first the library exports is used
_PROCESS_CALLS = (("nvmlDeviceGetComputeRunningProcesses_v3", ProcessInfo),
                  ("nvmlDeviceGetComputeRunningProcesses_v2", ProcessInfo),
                  ("nvmlDeviceGetComputeRunningProcesses", ProcessInfoV1))


class DeviceQueries(Protocol):
    """What the memory watch asks of NVML (a fake stands in for it in tests)."""

    def device_count(self) -> int: ...
    def handle(self, entry: str) -> Any: ...
    def processes(self, handle: Any) -> list[tuple[int, int | None]]: ...
    def memory(self, handle: Any) -> tuple[int, int]: ...


class Nvml:
    """NVML's device queries over a loaded library (`lib`: the ctypes library, or a test's stand-in)."""

    def __init__(self, lib: Any):
        self.lib = lib
        self._check(lib.nvmlInit_v2(), "nvmlInit_v2")
        self._proc_call = None
        for name, struct in _PROCESS_CALLS:
            fn = getattr(lib, name, None)
            if fn is not None:
                self._proc_call = (name, fn, struct)
                break
        if self._proc_call is None:
            raise NvmlError("NVML has no nvmlDeviceGetComputeRunningProcesses")

    @staticmethod
    def _check(code: int, what: str) -> None:
        if code != NVML_SUCCESS:
            raise NvmlError(f"{what} returned NVML error {code}")

    def device_count(self) -> int:
        n = ctypes.c_uint(0)
        self._check(self.lib.nvmlDeviceGetCount_v2(ctypes.byref(n)), "nvmlDeviceGetCount_v2")
        return int(n.value)

    def handle(self, entry: str) -> Any:
        """The device a `CUDA_VISIBLE_DEVICES` entry names: an index ("0") or a UUID ("GPU-..."); MIG ids and
        anything else raise (NVML indices follow PCI order, which CUDA's default order may not)."""
        h = ctypes.c_void_p()
        entry = entry.strip()
        if entry.isdigit():
            self._check(self.lib.nvmlDeviceGetHandleByIndex_v2(ctypes.c_uint(int(entry)), ctypes.byref(h)),
                        f"nvmlDeviceGetHandleByIndex_v2({entry})")
        elif entry.startswith("GPU-"):
            self._check(self.lib.nvmlDeviceGetHandleByUUID(entry.encode(), ctypes.byref(h)),
                        f"nvmlDeviceGetHandleByUUID({entry})")
        else:
            raise NvmlError(f"cannot name device {entry!r} to NVML")
        return h

    def processes(self, handle: Any) -> list[tuple[int, int | None]]:
        """(pid, device bytes or None where NVML cannot tell) of every compute process on the device."""
        name, fn, struct = self._proc_call
        size = 32
        for _ in range(6):
            count = ctypes.c_uint(size)
            infos = (struct * size)()
            code = fn(handle, ctypes.byref(count), infos)
            if code == NVML_ERROR_INSUFFICIENT_SIZE:
                size = max(size * 2, int(count.value) + 8)
                continue
            self._check(code, name)
            return decode_processes(infos, int(count.value))
        raise NvmlError(f"{name}: the process list kept growing")

    def memory(self, handle: Any) -> tuple[int, int]:
        """(total, used) bytes of the device."""
        m = MemoryInfo()
        self._check(self.lib.nvmlDeviceGetMemoryInfo(handle, ctypes.byref(m)), "nvmlDeviceGetMemoryInfo")
        return int(m.total), int(m.used)


def decode_processes(infos: Any, count: int) -> list[tuple[int, int | None]]:
    """The first `count` entries of an NVML process array as (pid, bytes | None)."""
    out = []
    for i in range(min(count, len(infos))):
        used = int(infos[i].usedGpuMemory)
        out.append((int(infos[i].pid), None if used == NVML_VALUE_NOT_AVAILABLE else used))
    return out


_loaded: list[Nvml | NvmlError] = []
_guard = threading.Lock()


def load() -> Nvml:
    """This process's NVML, loaded and initialised once (NvmlError, remembered, where there is none)."""
    with _guard:
        if not _loaded:
            try:
                _loaded.append(Nvml(ctypes.CDLL(LIBRARY)))
            except OSError as e:
                _loaded.append(NvmlError(f"{LIBRARY} cannot be loaded ({e})"))
            except NvmlError as e:
                _loaded.append(e)
        got = _loaded[0]
    if isinstance(got, NvmlError):
        raise got
    return got
