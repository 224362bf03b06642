"""Memory budgets, and the trusted parent's measurement of what one run uses against its budget.

A run's budget (`MemoryBudget`) comes from its task: a candidate may use a multiple of what the task's
own reference used, host and device, with a floor (`candidate_budget`); a reference gets a fixed, higher
bound (`reference_bound`), past which the task itself is at fault. `MemoryWatch` is polled by
`harness.sandbox.process` every 0.1 s while a run lives; it measures from outside the sandbox, so
nothing the untrusted worker says about itself enters the figure:

- host: the resident anonymous and shared memory of every process below the run's supervisor
  (`/proc/<pid>/status`: RssAnon + RssShmem, VmRSS where those are missing), plus each process's drop
  from its own high-water mark (VmHWM: a peak between two polls still counts), plus the bytes the run
  wrote to its transfer arena (a memfd it can write to);
- device: NVML's per-process figure for the same processes (`harness.sandbox.nvml`), else, weaker and
  said so, the device's whole used memory less what it used when the run started (NVML, then
  cudaMemGetInfo), else nothing ("not measured", in the verdict).

Past the budget the watch says why and `process._wait` stops the run; `MemoryReport` goes into the
run's `RunResult`, and the verdict reports the budget and the peaks seen.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Callable

from harness.sandbox import nvml
from harness.sandbox.supervisor import descendants
from harness.settings import settings

GiB = 1 << 30
HOST_FACTOR, HOST_FLOOR = 4, 2 * GiB      # a candidate: max(4x the reference's host peak, that peak + 2 GiB)
DEVICE_FACTOR, DEVICE_FLOOR = 2, 1 * GiB  # ... and max(2x its device peak, that peak + 1 GiB: a CUDA context)
REFERENCE_DEVICE_SHARE = 0.9               # a reference: 90% of the device, and (host) half the RAM
HOST_POLL_S, TREE_SCAN_S, DEVICE_POLL_S = 0.1, 0.5, 0.5
PSS_EVERY_S = 1.0       # past the budget on resident figures: the exact (proportional) figure at most this often
MAX_PROCESSES = 1024    # a run with more processes than this is stopped too (no honest kernel forks)


@dataclass(frozen=True)
class MemoryBudget:
    """What one run may use (None: not bounded) and how that was derived."""

    host_bytes: int | None
    device_bytes: int | None
    basis: str                  # the derivation, for the verdict
    device: str = ""            # the run's CUDA_VISIBLE_DEVICES entry ("" on the CPU backend)
    reference: bool = False     # the bound of a task's own reference: exceeding it is a task error


@dataclass(frozen=True)
class MemoryReport:
    """What the parent saw of one run's memory."""

    budget: MemoryBudget
    host_peak: int
    device_peak: int | None     # None: not measured
    device_method: str          # how device memory was measured ("not measured: why" where it was not)
    exceeded: str = ""          # why the run was stopped; "" when it stayed within its budget
    polls: int = 0
    over: str = ""              # which budget it went past: "host" or "device"

    @property
    def device_wide(self) -> bool:
        """Was device memory measured for the whole device (other runs on it count too)?"""
        return "device-wide" in self.device_method

    @property
    def maybe_others(self) -> bool:
        """Stopped on a device-wide figure, which other runs sharing the GPU may have raised."""
        return self.over == "device" and self.device_wide


def gib(n: int | None) -> str:
    return "-" if n is None else f"{n / GiB:.2f} GiB"


def candidate_budget(host_peak: int, device_peak: int | None, device: str = "") -> MemoryBudget:
    """A candidate's budget from its task's reference run: a multiple of each peak, with a floor."""
    host = max(HOST_FACTOR * host_peak, host_peak + HOST_FLOOR)
    dev = None if device_peak is None else max(DEVICE_FACTOR * device_peak, device_peak + DEVICE_FLOOR)
    basis = f"host: max({HOST_FACTOR}x, +{gib(HOST_FLOOR)}) of the reference's peak {gib(host_peak)}"
    if dev is not None:
        basis += f"; device: max({DEVICE_FACTOR}x, +{gib(DEVICE_FLOOR)}) of its peak {gib(device_peak)}"
    elif device:
        basis += "; device: not bounded (the reference's device memory was not measured)"
    return MemoryBudget(host_bytes=host, device_bytes=dev, basis=basis, device=device)


def physical_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 16 * GiB


def reference_bound(backend: str, device: str = "", *, device_total: int | None = None) -> MemoryBudget:
    """A task's reference: half this machine's RAM (`KERNEL_EVOLVE_REFERENCE_MEMORY_GB` overrides) and, on CUDA,
    90% of the device's memory where NVML can tell it (`device_total` in tests)."""
    gb = settings().reference_memory_gb
    host = int(gb * GiB) if gb is not None else physical_memory() // 2
    why = "KERNEL_EVOLVE_REFERENCE_MEMORY_GB" if gb is not None else "half this machine's RAM"
    dev = None
    if backend == "cuda":
        if device_total is None:
            try:
                q = nvml.load()
                device_total = q.memory(q.handle(device or "0"))[0]
            except nvml.NvmlError:
                device_total = None
        dev = int(device_total * REFERENCE_DEVICE_SHARE) if device_total else None
    basis = f"a task's reference: host {gib(host)} ({why})" + \
        (f", device {gib(dev)} ({REFERENCE_DEVICE_SHARE:.0%} of the GPU)" if dev is not None else "")
    return MemoryBudget(host_bytes=host, device_bytes=dev, basis=basis, device=device, reference=True)


# ---------------------------------------------------------------- host


@dataclass(frozen=True)
class ProcMemory:
    """One process's memory from /proc/<pid>/status, in bytes."""

    resident: int      # RssAnon + RssShmem (VmRSS where the kernel gives no split)
    rss: int           # VmRSS
    hwm: int           # VmHWM: the peak of VmRSS (a process may reset it: clear_refs)


def parse_status(text: str) -> ProcMemory | None:
    """The memory fields of a /proc/<pid>/status text (None for a process with no memory: a zombie)."""
    kb: dict[str, int] = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM", "RssAnon", "RssShmem"):
            parts = rest.split()
            if parts and parts[0].isdigit():
                kb[name] = int(parts[0]) * (1024 if len(parts) < 2 or parts[1].lower() == "kb" else 1)
    if "VmRSS" not in kb:
        return None
    resident = kb["RssAnon"] + kb.get("RssShmem", 0) if "RssAnon" in kb else kb["VmRSS"]
    return ProcMemory(resident=resident, rss=kb["VmRSS"], hwm=max(kb.get("VmHWM", 0), kb["VmRSS"]))


def read_status(pid: int) -> ProcMemory | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            return parse_status(f.read())
    except OSError:
        return None


def parse_rollup(text: str) -> int | None:
    """A process's proportional share of anonymous and shared memory (/proc/<pid>/smaps_rollup: Pss_Anon +
    Pss_Shmem; pages a forked child still shares with its parent count half to each), in bytes."""
    kb: dict[str, int] = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if name in ("Pss_Anon", "Pss_Shmem") and parts and parts[0].isdigit():
            kb[name] = int(parts[0]) * 1024
    return kb["Pss_Anon"] + kb.get("Pss_Shmem", 0) if "Pss_Anon" in kb else None


def read_pss(pid: int) -> int | None:
    """`parse_rollup` of a live process (None where the kernel has no such file or the parent may not read it)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            return parse_rollup(f.read())
    except OSError:
        return None


def tree_host_bytes(mems: list[ProcMemory]) -> tuple[int, int]:
    """(resident now, peak estimate) of a process tree: the peak adds the largest drop of one process from its
    own high-water mark, so a burst between two polls is not lost."""
    now = sum(m.resident for m in mems)
    return now, now + max((m.hwm - m.rss for m in mems), default=0)


def arena_bytes(fd: int | None) -> int:
    """Bytes allocated in the run's transfer arena (a memfd the worker may write to)."""
    if fd is None:
        return 0
    try:
        return os.fstat(fd).st_blocks * 512
    except OSError:
        return 0


# ---------------------------------------------------------------- device


class DeviceMeter:
    """Device memory of a run: `measure(pids)` in bytes (None: no figure this time)."""

    method = "not measured"

    def measure(self, pids: set[int]) -> int | None:
        return None


class NoDevice(DeviceMeter):
    def __init__(self, why: str):
        self.method = f"not measured: {why}"


class PerProcess(DeviceMeter):
    """NVML's per-process device memory, summed over the run's processes on every GPU."""

    method = "nvml per-process"

    def __init__(self, q: nvml.DeviceQueries, visible: Callable[[int], bool] = lambda p: os.path.exists(f"/proc/{p}")):
        self.q, self.visible = q, visible
        self.handles = [q.handle(str(i)) for i in range(q.device_count())]
        self.foreign = ""  # set when NVML's pids are not this process's (another PID namespace)
        self.wide_base: int | None = None  # the device's used memory when the run started, for a fallback

    def measure(self, pids: set[int]) -> int | None:
        total, listed, unknown = 0, [], False
        for h in self.handles:
            for pid, used in self.q.processes(h):
                listed.append(pid)
                if pid in pids:
                    if used is None:
                        unknown = True
                    else:
                        total += used
        if listed and not any(self.visible(p) for p in listed):
            self.foreign = "NVML lists processes of another PID namespace"
            return None
        if unknown:
            self.foreign = "NVML gives no per-process figure here"
            return None
        return total


class DeviceWide(DeviceMeter):
    """The device's used memory less its use when the run started: other runs on the device count too."""

    def __init__(self, used: Callable[[], int], how: str, base: int | None = None):
        self.used, self.method = used, f"{how} device-wide (other runs on the GPU count too)"
        self.base = used() if base is None else base

    def measure(self, pids: set[int]) -> int | None:
        return max(0, self.used() - self.base)


def device_meter(device: str, *, queries: Callable[[], nvml.DeviceQueries] = nvml.load) -> DeviceMeter:
    """The best measurement this host allows: per process (NVML), else device-wide (NVML, then
    cudaMemGetInfo through torch), else none."""
    why = ""
    try:
        q = queries()
        try:
            return PerProcess(q)
        except nvml.NvmlError as e:
            why = str(e)
        h = q.handle(device or "0")
        return DeviceWide(lambda: q.memory(h)[1], "nvml")
    except nvml.NvmlError as e:
        why = why or str(e)
    return _torch_device_wide(device, why)


def _torch_device_wide(device: str, why: str) -> DeviceMeter:
    try:
        import torch

        from harness.sandbox.devices import visible_devices

        vis = visible_devices()
        index = vis.index(device) if device in vis else 0
        if not torch.cuda.is_available():
            return NoDevice(f"NVML unavailable ({why}) and no CUDA in the parent")

        def used() -> int:
            free, total = torch.cuda.mem_get_info(index)
            return total - free
        return DeviceWide(used, f"cudaMemGetInfo (NVML unavailable: {why[:120]})")
    except Exception as e:  # noqa: BLE001 - a broken driver means no figure, said so, never a crash
        return NoDevice(f"NVML unavailable ({why[:120]}); cudaMemGetInfo failed ({type(e).__name__}: {e})"[:300])


# ---------------------------------------------------------------- the watch


class MemoryWatch:
    """Polled by the parent while one run lives: measures its process tree and says when it is over budget."""

    def __init__(self, budget: MemoryBudget, root: int, *, arena_fd: int | None = None,
                 meter: DeviceMeter | None = None, read: Callable[[int], ProcMemory | None] = read_status,
                 children: Callable[[int], list[int]] = descendants, clock: Callable[[], float] = time.monotonic,
                 pss: Callable[[int], int | None] = read_pss):
        self.budget, self.root, self.arena_fd = budget, root, arena_fd
        self.meter = meter if meter is not None else (
            device_meter(budget.device) if budget.device_bytes is not None or budget.device else NoDevice("CPU run"))
        self.read, self.children, self.clock, self.pss = read, children, clock, pss
        self.pids: list[int] = []
        self.host_peak, self.device_peak = 0, None
        self.exceeded, self.polls, self.over = "", 0, ""
        self._scanned = self._measured = self._exact = -1e9
        if isinstance(self.meter, PerProcess):
            try:
                self.meter.wide_base = self.meter.q.memory(self.meter.q.handle(budget.device or "0"))[1]
            except nvml.NvmlError:
                pass

    def poll(self) -> str:
        """Measure now; the reason to stop the run ("" while it is within budget). Once over, it stays over."""
        if self.exceeded:
            return self.exceeded
        now = self.clock()
        self.polls += 1
        if now - self._scanned >= TREE_SCAN_S:
            self.pids, self._scanned = self.children(self.root), now
        if len(self.pids) > MAX_PROCESSES:
            self.over = "processes"
            self.exceeded = f"the run had {len(self.pids)} processes, more than the {MAX_PROCESSES} a run may have"
            return self.exceeded
        self._host(now)
        if now - self._measured >= DEVICE_POLL_S and not isinstance(self.meter, NoDevice):
            self._measured = now
            dev = self.meter.measure(set(self.pids))
            if dev is None and isinstance(self.meter, PerProcess) and self.meter.foreign:
                self.meter = _fallback(self.meter, self.budget.device, self.meter.foreign)
                dev = self.meter.measure(set(self.pids))
            if dev is not None:
                self.device_peak = max(self.device_peak or 0, dev)
        b = self.budget
        if b.host_bytes is not None and self.host_peak > b.host_bytes:
            self.over, self.exceeded = "host", self._reason("host", self.host_peak, b.host_bytes)
        elif b.device_bytes is not None and self.device_peak is not None and self.device_peak > b.device_bytes:
            self.over, self.exceeded = "device", self._reason("device", self.device_peak, b.device_bytes)
        return self.exceeded

    def _host(self, now: float) -> None:
        """The tree's host memory. Resident figures count a page a forked child shares with its parent in both:
        past the budget on them, the proportional figures (smaps_rollup) decide, at most every PSS_EVERY_S."""
        live = [(p, m) for p, m in zip(self.pids, map(self.read, self.pids)) if m is not None]
        extra = arena_bytes(self.arena_fd)
        _, figure = tree_host_bytes([m for _, m in live])
        figure += extra
        bound = self.budget.host_bytes
        if bound is not None and figure > bound and len(live) > 1:
            if now - self._exact < PSS_EVERY_S:
                return  # wait for the next exact figure before deciding
            self._exact = now
            shares = [self.pss(p) for p, _ in live]
            if any(s is None for s in shares) and not all(s is None for s in shares):
                return  # some processes are exiting (their figures vanish first): decide on the next one
            figure = sum(m.resident if s is None else s for (_, m), s in zip(live, shares)) + extra + \
                max((m.hwm - m.rss for _, m in live), default=0)
        self.host_peak = max(self.host_peak, figure)

    def _reason(self, what: str, used: int, bound: int) -> str:
        who = "the task's reference" if self.budget.reference else "the run"
        how = "resident memory of its processes and its transfer arena" if what == "host" else self.meter.method
        return (f"{who} used {gib(used)} of {what} memory ({how}), above its budget of {gib(bound)} "
                f"({self.budget.basis})")

    def report(self) -> MemoryReport:
        return MemoryReport(budget=self.budget, host_peak=self.host_peak, device_peak=self.device_peak,
                            device_method=self.meter.method, exceeded=self.exceeded, polls=self.polls,
                            over=self.over)


def _fallback(meter: PerProcess, device: str, why: str) -> DeviceMeter:
    """Per-process figures turned out unusable: the device-wide figure from the same NVML."""
    try:
        h = meter.q.handle(device or "0")
        return DeviceWide(lambda: meter.q.memory(h)[1], f"nvml ({why})", base=meter.wide_base)
    except nvml.NvmlError as e:
        return NoDevice(f"{why}; {e}")
