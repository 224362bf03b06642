"""Memory budgets (issue 18): the parent's own measurement of a run's memory, and the run stopped past its budget.

Units: /proc parsing, the budget arithmetic, the watch's decisions and NVML's decoding with fakes (NVML cannot
run here: no GPU). Then real processes: a process tree polled by the watch, a candidate whose transient peak
(allocated and freed inside one call) is still seen, and a task whose own reference goes past its bound.
"""
from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time

import pytest

from harness.sandbox import memory as M
from harness.sandbox import nvml as N

GiB = 1 << 30
MiB = 1 << 20

STATUS = """Name:\tpython3
VmPeak:\t  640216 kB
VmHWM:\t  926312 kB
VmRSS:\t  226312 kB
RssAnon:\t  147472 kB
RssFile:\t   78840 kB
RssShmem:\t    1000 kB
Threads:\t2
"""


def test_status_parsing_counts_anonymous_and_shared_memory_and_keeps_the_high_water_mark():
    m = M.parse_status(STATUS)
    assert m == M.ProcMemory(resident=(147472 + 1000) * 1024, rss=226312 * 1024, hwm=926312 * 1024)
    # a kernel without the split (gVisor, old kernels): VmRSS; a zombie (no VmRSS): nothing
    old = M.parse_status("VmHWM:\t 300 kB\nVmRSS:\t 200 kB\n")
    assert old == M.ProcMemory(resident=200 * 1024, rss=200 * 1024, hwm=300 * 1024)
    assert M.parse_status("Name:\tzombie\nState:\tZ (zombie)\n") is None
    assert M.read_status(10 ** 9) is None  # no such process


def test_a_peak_between_two_polls_still_counts():
    a = M.ProcMemory(resident=100 * MiB, rss=150 * MiB, hwm=150 * MiB + GiB)   # gave back 1 GiB since its peak
    b = M.ProcMemory(resident=50 * MiB, rss=60 * MiB, hwm=60 * MiB)
    now, peak = M.tree_host_bytes([a, b])
    assert now == 150 * MiB and peak == 150 * MiB + GiB
    assert M.tree_host_bytes([]) == (0, 0)


def test_candidate_budget_is_a_multiple_of_the_reference_with_a_floor():
    small = M.candidate_budget(200 * MiB, None)
    assert small.host_bytes == 200 * MiB + 2 * GiB and small.device_bytes is None
    assert "0.20 GiB" in small.basis and "device" not in small.basis
    big = M.candidate_budget(3 * GiB, 10 * GiB, device="0")
    assert big.host_bytes == 12 * GiB and big.device_bytes == 20 * GiB
    tiny_dev = M.candidate_budget(GiB, 300 * MiB, device="0")
    assert tiny_dev.device_bytes == 300 * MiB + GiB  # a CUDA context's worth of room at least
    unmeasured = M.candidate_budget(GiB, None, device="0")
    assert unmeasured.device_bytes is None and "not bounded" in unmeasured.basis


def test_reference_bound_is_higher_and_says_so(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("KERNEL_EVOLVE_REFERENCE_MEMORY_GB", raising=False)
    b = M.reference_bound("cpu")
    assert b.reference and b.host_bytes == M.physical_memory() // 2 and b.device_bytes is None
    monkeypatch.setenv("KERNEL_EVOLVE_REFERENCE_MEMORY_GB", "1.5")
    assert M.reference_bound("cpu").host_bytes == int(1.5 * GiB)
    cuda = M.reference_bound("cuda", "0", device_total=80 * GiB)
    assert cuda.device_bytes == int(0.9 * 80 * GiB) and "90%" in cuda.basis
    monkeypatch.setenv("KERNEL_EVOLVE_REFERENCE_MEMORY_GB", "lots")
    with pytest.raises(ValueError, match="KERNEL_EVOLVE_REFERENCE_MEMORY_GB"):
        M.reference_bound("cpu")


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class FakeQueries:
    """NVML as the watch sees it: processes per device and device memory, changed by the test."""

    def __init__(self, procs: dict[int, list[tuple[int, int | None]]], used: int = 0, total: int = 80 * GiB):
        self.procs, self.used, self.total = procs, used, total

    def device_count(self) -> int:
        return len(self.procs)

    def handle(self, entry: str):
        if not entry.isdigit() or int(entry) not in self.procs:
            raise N.NvmlError(f"no device {entry}")
        return int(entry)

    def processes(self, handle):
        return list(self.procs[handle])

    def memory(self, handle):
        return self.total, self.used


def _watch(budget, mems, meter=None, pids=(11, 12)):
    clock = Clock()
    w = M.MemoryWatch(budget, root=10, meter=meter or M.NoDevice("CPU run"), read=lambda p: mems.get(p),
                      children=lambda root: list(pids), clock=clock)
    return w, clock


def test_the_watch_stops_a_run_past_its_host_budget_with_the_numbers():
    mems = {11: M.ProcMemory(300 * MiB, 300 * MiB, 300 * MiB), 12: M.ProcMemory(100 * MiB, 100 * MiB, 100 * MiB)}
    w, clock = _watch(M.candidate_budget(100 * MiB, None), mems)
    assert w.poll() == "" and w.host_peak == 400 * MiB
    mems[12] = M.ProcMemory(2 * GiB, 2 * GiB, 2 * GiB)
    clock.t += 0.1
    why = w.poll()
    assert "2.29 GiB of host memory" in why and "budget of 2.10 GiB" in why and "0.10 GiB" in why
    mems[12] = M.ProcMemory(0, 0, 0)
    clock.t += 0.1
    assert w.poll() == why  # once over, it stays over
    r = w.report()
    assert r.exceeded == why and r.over == "host" and r.host_peak >= 2 * GiB and not r.maybe_others


ROLLUP = """55c0b3311000-7ffff5e32000 ---p 00000000 00:00 0                          [rollup]
Rss:              224492 kB
Pss:              223102 kB
Pss_Anon:         147488 kB
Pss_File:          75614 kB
Pss_Shmem:           100 kB
Private_Dirty:    147488 kB
"""


def test_rollup_parsing_gives_the_proportional_share():
    assert M.parse_rollup(ROLLUP) == (147488 + 100) * 1024
    assert M.parse_rollup("Rss: 10 kB\nPss: 8 kB\n") is None  # a kernel without the split
    assert M.read_pss(10 ** 9) is None


def test_forked_children_sharing_their_parents_pages_are_not_counted_twice():
    """A worker of 1.5 GiB that forked three children: resident figures say 6 GiB, the proportional ones
    (each shared page split between the processes that map it) 1.6 GiB, and decide."""
    worker = M.ProcMemory(int(1.5 * GiB), int(1.5 * GiB), int(1.5 * GiB))
    mems = {11: worker, 12: worker, 13: worker, 14: worker}
    shares = {11: 1200 * MiB, 12: 150 * MiB, 13: 150 * MiB, 14: 150 * MiB}
    clock = Clock()
    w = M.MemoryWatch(M.candidate_budget(200 * MiB, None), root=10, meter=M.NoDevice("CPU run"),
                      read=lambda p: mems.get(p), children=lambda r: [11, 12, 13, 14], clock=clock,
                      pss=lambda p: shares.get(p))
    assert w.poll() == "" and w.host_peak == 1650 * MiB
    clock.t += 0.1
    assert w.poll() == "" and w.host_peak == 1650 * MiB  # the exact figure is taken at most once a second
    shares[11] = 3 * GiB  # the worker itself grows past the budget
    clock.t += 1.0
    why = w.poll()
    assert "of host memory" in why and "3.44 GiB" in why
    # a process whose proportional figure vanished while the others' did not is exiting: no decision on it
    shares[11], shares[12] = 3 * GiB, None
    w3 = M.MemoryWatch(M.candidate_budget(200 * MiB, None), root=10, meter=M.NoDevice("CPU run"),
                       read=lambda p: mems.get(p), children=lambda r: [11, 12, 13, 14], clock=Clock(),
                       pss=lambda p: shares.get(p))
    assert w3.poll() == "" and w3.host_peak == 0
    # where the proportional figure cannot be read (another uid without privilege, gVisor): resident figures
    w2 = M.MemoryWatch(M.candidate_budget(200 * MiB, None), root=10, meter=M.NoDevice("CPU run"),
                       read=lambda p: mems.get(p), children=lambda r: [11, 12], clock=Clock(), pss=lambda p: None)
    assert "3.00 GiB of host memory" in w2.poll()


def test_a_run_with_too_many_processes_is_stopped():
    w, _ = _watch(M.candidate_budget(GiB, None), {}, pids=range(100, 100 + M.MAX_PROCESSES + 1))
    why = w.poll()
    assert f"{M.MAX_PROCESSES + 1} processes" in why and w.report().over == "processes"


def test_the_reference_bound_names_the_task():
    w, _ = _watch(M.MemoryBudget(host_bytes=GiB, device_bytes=None, basis="a task's reference", reference=True),
                  {11: M.ProcMemory(2 * GiB, 2 * GiB, 2 * GiB)})
    assert w.poll().startswith("the task's reference used 2.00 GiB")


def test_device_memory_per_process_counts_only_the_runs_processes():
    q = FakeQueries({0: [(11, 500 * MiB), (99, 40 * GiB)], 1: [(12, 300 * MiB)]})
    meter = M.PerProcess(q, visible=lambda p: True)
    mems = {11: M.ProcMemory(MiB, MiB, MiB)}
    w, clock = _watch(M.candidate_budget(GiB, 600 * MiB, device="0"), mems, meter)
    assert w.poll() == "" and w.device_peak == 800 * MiB  # another run's 40 GiB is not this run's
    q.procs[0] = [(11, 3 * GiB), (99, 40 * GiB)]
    clock.t += 0.1
    assert w.poll() == ""  # the device is polled every 0.5 s
    clock.t += 0.5
    why = w.poll()
    assert "of device memory (nvml per-process)" in why and "3.29 GiB" in why
    assert w.report().over == "device" and not w.report().device_wide


def test_foreign_pids_fall_back_to_the_device_wide_figure_from_the_runs_start():
    q = FakeQueries({0: [(5001, 2 * GiB)]}, used=10 * GiB)   # NVML's pids are another namespace's
    meter = M.PerProcess(q, visible=lambda p: False)
    w, clock = _watch(M.candidate_budget(GiB, 500 * MiB, device="0"), {11: M.ProcMemory(MiB, MiB, MiB)}, meter)
    meter.wide_base = 10 * GiB  # what the watch records at its start
    q.used = 10 * GiB + 700 * MiB
    assert w.poll() == ""
    assert isinstance(w.meter, M.DeviceWide) and "device-wide" in w.meter.method
    assert "another PID namespace" in w.meter.method and w.device_peak == 700 * MiB
    q.used = 12 * GiB
    clock.t += 0.5
    assert "of device memory" in w.poll()
    assert w.report().maybe_others  # run_job runs it again with the GPU alone (test below)



def test_a_run_stopped_on_a_device_wide_figure_while_sharing_runs_again_alone_once(monkeypatch):
    """The device-wide figure counts the other runs on the GPU: run_job runs such a run once more with the GPU to
    itself (and says why); a stop on a per-process figure, or with no lock, is final."""
    from contextlib import contextmanager

    import harness.sandbox.runner as R
    from harness.sandbox.process import Limits, RunResult
    from harness.worker import protocol as P

    budget = M.candidate_budget(GiB, 500 * MiB, device="0")

    def report(method: str) -> M.MemoryReport:
        return M.MemoryReport(budget=budget, host_peak=GiB, device_peak=2 * GiB, device_method=method,
                              exceeded="went past 1.5 GiB of device memory", over="device")

    class Lock:
        alone = 0

        @contextmanager
        def held_alone(self):
            Lock.alone += 1
            yield

    for method, lock, reruns in (("nvml device-wide (no per-process figures)", Lock(), 1),
                                 ("nvml per-process", Lock(), 0),
                                 ("nvml device-wide (no per-process figures)", None, 0)):
        runs: list[bool] = []

        def once(job, *, lock=None, **kw):
            runs.append(lock is None)
            return RunResult(exit_code=124, timed_out=False, messages=[], log_tail="", wall_s=1.0,
                             memory=report(method))

        monkeypatch.setattr(R, "_run_once", once)
        Lock.alone = 0
        res = R.run_job(P.Job(role="candidate", task_path="task.py", seeds=(1,), init_seed=0, size="small", device="cuda"), limits=Limits(timeout_s=5),
                        backend="cuda", lock=lock)
        assert len(runs) == 1 + reruns and Lock.alone == reruns, (method, runs)
        if reruns:
            assert runs[-1] and "device-wide figure" in res.reran_alone  # the second run holds no shared lock
        else:
            assert res.reran_alone == ""


def test_per_process_figures_nvml_cannot_give_fall_back_too():
    q = FakeQueries({0: [(11, None)]}, used=GiB)
    meter = M.PerProcess(q, visible=lambda p: True)
    w, _ = _watch(M.candidate_budget(GiB, 500 * MiB, device="0"), {}, meter)
    w.poll()
    assert "no per-process figure" in w.meter.method


def test_device_meter_without_nvml_says_why():
    def missing():
        raise N.NvmlError("libnvidia-ml.so.1 cannot be loaded (test)")

    meter = M.device_meter("0", queries=missing)
    if isinstance(meter, M.NoDevice):  # no CUDA here either: nothing measured, and the method says why
        assert meter.method.startswith("not measured") and "libnvidia-ml.so.1" in meter.method
    else:
        assert "cudaMemGetInfo" in meter.method and "device-wide" in meter.method
    assert isinstance(M.device_meter("0", queries=lambda: FakeQueries({0: []})), M.PerProcess)


# ---------------------------------------------------------------- NVML's ctypes layer, with a fake library


class FakeNvml:
    """Speaks NVML's C calling convention as ctypes passes it (byref pointers, arrays of the structs)."""

    def __init__(self, procs: list[tuple[int, int]], *, versions=("_v3", "_v2", ""), grow: int = 0):
        self.procs, self.grow, self.calls = procs, grow, []
        for v in versions:
            setattr(self, "nvmlDeviceGetComputeRunningProcesses" + v, self._processes)

    def nvmlInit_v2(self):
        return 0

    def nvmlDeviceGetCount_v2(self, count):
        count._obj.value = 2
        return 0

    def nvmlDeviceGetHandleByIndex_v2(self, index, handle):
        handle._obj.value = 0x1000 + index.value
        return 0 if index.value < 2 else 2

    def nvmlDeviceGetHandleByUUID(self, uuid, handle):
        handle._obj.value = 0x2000
        return 0 if uuid.startswith(b"GPU-") else 2

    def nvmlDeviceGetMemoryInfo(self, handle, mem):
        mem._obj.total, mem._obj.free, mem._obj.used = 80 * GiB, 70 * GiB, 10 * GiB
        return 0

    def _processes(self, handle, count, infos):
        self.calls.append(count._obj.value)
        need = len(self.procs) + self.grow
        if count._obj.value < need:
            count._obj.value = need
            return N.NVML_ERROR_INSUFFICIENT_SIZE
        for i, (pid, used) in enumerate(self.procs):
            infos[i].pid, infos[i].usedGpuMemory = pid, used
        count._obj.value = len(self.procs)
        return 0


def test_nvml_layer_decodes_processes_and_memory():
    lib = FakeNvml([(41, 3 * GiB), (42, N.NVML_VALUE_NOT_AVAILABLE)])
    q = N.Nvml(lib)
    assert q.device_count() == 2
    h = q.handle("1")
    assert h.value == 0x1001 and q.handle("GPU-1234").value == 0x2000
    with pytest.raises(N.NvmlError):
        q.handle("MIG-abc")
    with pytest.raises(N.NvmlError, match="error 2"):
        q.handle("7")
    assert q.processes(h) == [(41, 3 * GiB), (42, None)]
    assert q.memory(h) == (80 * GiB, 10 * GiB)
    assert ctypes.sizeof(N.ProcessInfo) == 24 and ctypes.sizeof(N.ProcessInfoV1) == 16


def test_nvml_layer_asks_again_with_room_for_a_longer_list():
    lib = FakeNvml([(i, MiB) for i in range(50)])
    assert len(N.Nvml(lib).processes(0)) == 50
    assert lib.calls[0] == 32 and lib.calls[-1] >= 50


def test_nvml_layer_uses_the_oldest_call_with_its_own_struct():
    lib = FakeNvml([(7, 5 * MiB)], versions=("",))
    q = N.Nvml(lib)
    assert q._proc_call[0] == "nvmlDeviceGetComputeRunningProcesses" and q._proc_call[2] is N.ProcessInfoV1
    assert q.processes(0) == [(7, 5 * MiB)]
    with pytest.raises(N.NvmlError, match="no nvmlDeviceGetComputeRunningProcesses"):
        N.Nvml(FakeNvml([], versions=()))


# ---------------------------------------------------------------- real processes


def test_the_watch_sees_a_real_process_tree():
    """A shell (the root, as the supervisor is) whose child holds 400 MB: the watch finds and measures it."""
    code = ("b = bytearray(400 << 20); import sys; sys.stdout.write('x'); sys.stdout.flush(); "
            "import time; time.sleep(30)")
    p = subprocess.Popen(["sh", "-c", f"{sys.executable} -c \"{code}\"; true"], stdout=subprocess.PIPE,
                         start_new_session=True)
    try:
        assert p.stdout.read(1) == b"x"
        w = M.MemoryWatch(M.MemoryBudget(host_bytes=300 * MiB, device_bytes=None, basis="test"), p.pid)
        why = w.poll()
        assert w.pids and w.host_peak >= 400 * MiB
        assert "of host memory" in why and "budget of 0.29 GiB" in why
    finally:
        os.killpg(p.pid, signal.SIGKILL)  # the shell and its child: the group this test started
        p.wait()


TRANSIENT_HOG = r"""
#include "ke_abi.h"
#include <stdlib.h>
#include <string.h>
// a correct ReLU that takes 3 GiB for each call and frees it before returning: no poll need catch it live
extern "C" int ke_launch(const ke_tensor* in, int n_in, ke_tensor* out, int n_out, const double* attrs,
                         int n_attrs, void* workspace, int64_t workspace_bytes, void* stream) {
  if (n_in != 1 || n_out != 1 || in[0].dtype != KE_F32) return 1;
  char* scratch = (char*)malloc(3ull << 30);
  if (!scratch) return 2;
  memset(scratch, 1, 3ull << 30);
  const float* x = (const float*)in[0].data;
  float* y = (float*)out[0].data;
  const int64_t n = ke_numel(&in[0]);
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.f ? x[i] + 0.f * scratch[i % 4096] : 0.f;
  free(scratch);
  return 0;
}
"""


def test_a_transient_hog_is_rejected_for_memory():
    from harness.candidate import load_candidate
    from harness.judge.verify import verify
    from harness.task import load_task

    task = load_task("level1/relu")
    v = verify(load_candidate(TRANSIENT_HOG, task, format="K"), backend="cpu", size="small", seeds=2, timing=False,
               compile_baseline=False, timeout_s=60.0, static_checks=False)
    assert v.status == "rejected" and "memory" in v.flags, (v.status, v.error)
    mem = next(c for c in v.checks if c.name == "memory")
    assert mem.outcome == "fail" and "of host memory" in mem.reason and "budget of" in mem.reason


def test_an_honest_kernel_reports_its_peak_and_budget():
    from harness.candidate import load_candidate
    from harness.judge.verify import verify
    from harness.task import load_task

    task = load_task("level1/relu")
    honest = TRANSIENT_HOG.replace("3ull << 30", "4096")
    v = verify(load_candidate(honest, task, format="K"), backend="cpu", size="small", seeds=2, timing=False,
               compile_baseline=False, timeout_s=60.0, static_checks=False)
    assert v.status == "verified", (v.status, v.error)
    mem = next(c for c in v.checks if c.name == "memory")
    assert mem.outcome == "pass" and "host peak" in mem.reason and "budget" in mem.reason and "polls" in mem.reason


def test_a_task_past_the_reference_bound_is_a_clear_task_error(monkeypatch: pytest.MonkeyPatch):
    from harness.candidate import load_candidate
    from harness.judge import reference
    from harness.judge.verify import verify
    from harness.task import load_task

    monkeypatch.setenv("KERNEL_EVOLVE_REFERENCE_MEMORY_GB", "0.05")  # 50 MB: less than torch itself
    reference.clear_cache()
    task = load_task("level1/relu")
    t0 = time.monotonic()
    v = verify(load_candidate(TRANSIENT_HOG.replace("3ull << 30", "4096"), task, format="K"), backend="cpu",
               size="small", seeds=1, timing=False, compile_baseline=False, timeout_s=60.0, static_checks=False)
    assert time.monotonic() - t0 < 120
    assert v.status == "runtime_error"
    ref = next(c for c in v.checks if c.name == "reference")
    assert "too large to judge" in ref.reason and "the task's reference used" in ref.reason
    assert "KERNEL_EVOLVE_REFERENCE_MEMORY_GB" in ref.reason
    reference.clear_cache()


# ---------------------------------------------------------------- on a GPU (the lead's H100 run)


@pytest.mark.gpu
def test_the_watch_stops_a_process_tree_holding_device_memory():
    """NVML through ctypes on the real driver: a shell's child that holds 1 GiB on the GPU goes past a 0.5 GiB
    device budget; the reason names the method (per process, or device-wide where NVML cannot tell)."""
    q = N.load()
    assert q.device_count() >= 1
    total, used = q.memory(q.handle("0"))
    assert total > used >= 0
    code = ("import torch, sys; x = torch.empty(1 << 28, device='cuda'); torch.cuda.synchronize(); "
            "sys.stdout.write('x'); sys.stdout.flush(); import time; time.sleep(60)")
    p = subprocess.Popen(["sh", "-c", f"{sys.executable} -c \"{code}\"; true"], stdout=subprocess.PIPE,
                         start_new_session=True, env={**os.environ, "CUDA_VISIBLE_DEVICES": "0"})
    try:
        w = M.MemoryWatch(M.MemoryBudget(host_bytes=None, device_bytes=GiB // 2, basis="test", device="0"), p.pid)
        assert p.stdout.read(1) == b"x"
        deadline = time.monotonic() + 10
        while not w.poll() and time.monotonic() < deadline:
            time.sleep(0.1)
        r = w.report()
        assert r.over == "device" and "of device memory" in r.exceeded, (r, q.processes(q.handle("0")))
        assert r.device_peak >= GiB
        print("device memory measured by:", r.device_method)
    finally:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
