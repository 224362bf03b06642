"""Several GPUs, simulated on the CPU: device lists, one measuring worker per device, builds before the GPU is held."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from harness.executors.local import LocalExecutor
from harness.executors.factory import make_executor
from harness.executors.gpu_pool import GpuPool, GpuPoolExecutor
from harness.sandbox.devices import child_env, visible_devices
from harness.task import load_task
from harness.types import Candidate, Env, Verdict

HERE = Path(__file__).parent


def _candidate(i: int) -> Candidate:
    return Candidate(task=load_task("level1/relu"), source=f"class ModelNew: pass  # {i}\n", format="B", name=str(i))


class FakeGpuVerify:
    """Stands in for verify(..., device_index=i): records which device ran what, and when, for a little while."""

    def __init__(self, devices: list[str], seconds: float = 0.15):
        self.devices, self.seconds = devices, seconds
        self.lock = threading.Lock()
        self.busy: dict[int, int] = {}
        self.max_busy_per_device = 0
        self.max_busy_total = 0
        self.seen_env: list[str] = []

    def __call__(self, candidate: Candidate, *, device_index: int, backend: str = "cuda", **kw) -> Verdict:
        env = child_env(device_index, self.devices)
        with self.lock:
            self.busy[device_index] = self.busy.get(device_index, 0) + 1
            self.max_busy_per_device = max(self.max_busy_per_device, self.busy[device_index])
            self.max_busy_total = max(self.max_busy_total, sum(self.busy.values()))
            self.seen_env.append(env["CUDA_VISIBLE_DEVICES"])
        time.sleep(self.seconds)
        with self.lock:
            self.busy[device_index] -= 1
        return Verdict(status="runtime_error", task_id=candidate.task.task_id, task_sha256=candidate.task.sha256,
                       kernel_sha256=candidate.sha256, format=candidate.format, checks=(), flags=(),
                       env=Env(device=f"fake-gpu-{env['CUDA_VISIBLE_DEVICES']}", backend=backend, torch_version="",
                               cuda_version=""))


def test_visible_devices_follow_cuda_visible_devices(monkeypatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert visible_devices() == ["2", "3"]
    assert child_env(1) == {"CUDA_VISIBLE_DEVICES": "3"}
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-1a2b, MIG-3c4d")
    assert visible_devices() == ["GPU-1a2b", "MIG-3c4d"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,-1,2")  # CUDA stops at the first invalid entry
    assert visible_devices() == ["0"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert visible_devices() == []
    with pytest.raises(ValueError, match="out of range"):
        child_env(0)


def test_pool_hands_each_device_to_one_holder() -> None:
    pool = GpuPool(["0", "1"])
    with pool.acquire() as a, pool.acquire() as b:
        assert {a, b} == {0, 1}
    with pytest.raises(ValueError, match="at least one device"):
        GpuPool([])


def test_one_measuring_worker_per_simulated_gpu() -> None:
    devices = ["4", "6", "7"]
    fake = FakeGpuVerify(devices)
    with GpuPoolExecutor(devices, build_workers=4, verify_fn=fake) as ex:
        futs = [ex.submit(_candidate(i), backend="cuda") for i in range(9)]
        verdicts = [f.result(timeout=60) for f in futs]
    assert [v.kernel_sha256 for v in verdicts] == [_candidate(i).sha256 for i in range(9)]
    assert fake.max_busy_per_device == 1          # never two runs on one GPU
    assert fake.max_busy_total == 3               # all GPUs worked at once
    assert set(fake.seen_env) == set(devices)     # each run saw exactly one device, every device was used
    assert sum(ex.runs_per_device) == 9 and all(n >= 1 for n in ex.runs_per_device)


def test_several_gpus_need_a_verify_that_takes_device_index() -> None:
    def old_verify(candidate, *, backend="auto"):
        raise AssertionError("must not be called")

    with pytest.raises(RuntimeError, match="device_index"):
        GpuPoolExecutor(["0", "1"], verify_fn=old_verify)
    GpuPoolExecutor(["0"], verify_fn=old_verify).shutdown()  # one GPU works without it


def test_make_executor_local_on_cpu() -> None:
    ex = make_executor("local", backend="cpu", workers=2)
    assert isinstance(ex, LocalExecutor)
    ex.shutdown()
    with pytest.raises(ValueError, match="unknown executor"):
        make_executor("slurm")
    with pytest.raises(ValueError, match="unknown option"):
        make_executor("local", backend="cpu", gpus_please=2)


def test_build_is_done_before_a_gpu_is_held(monkeypatch) -> None:
    import harness.build.cache
    from harness.candidate import load_candidate
    from harness.task import known_good_kernel

    gelu = load_task("level1/gelu")
    cand = load_candidate(known_good_kernel(gelu, "cpu"), gelu)
    events: list[str] = []
    monkeypatch.setattr(harness.build.cache, "build", lambda source, *, backend, **kw: events.append(f"build:{backend}"))
    fake = FakeGpuVerify(["0", "1"], seconds=0.0)

    def measure(candidate, *, device_index, **kw):
        events.append("measure")
        return fake(candidate, device_index=device_index, **kw)

    with GpuPoolExecutor(["0", "1"], verify_fn=measure) as ex:
        v = ex.submit(cand, backend="cpu").result(timeout=60)
        # a candidate the static filter rejects is never compiled
        exits = cand.source.replace("return", "exit(0); return", 1)
        ex.submit(Candidate(task=gelu, source=exits, format="A"), backend="cpu").result(timeout=60)
    assert v.kernel_sha256 == cand.sha256
    assert events == ["build:cpu", "measure", "measure"]


def test_per_device_runs_share_a_simulated_gpu() -> None:
    devices = ["0", "1"]
    fake = FakeGpuVerify(devices, seconds=0.2)
    with GpuPoolExecutor(devices, build_workers=2, verify_fn=fake, per_device=2) as ex:
        for f in [ex.submit(_candidate(i), backend="cuda") for i in range(8)]:
            f.result(timeout=60)
    assert fake.max_busy_per_device == 2 and fake.max_busy_total == 4
    with pytest.raises(ValueError, match="per_device"):
        GpuPool(devices, per_device=0)


def test_warm_pool_per_simulated_gpu_sees_only_its_gpu(monkeypatch) -> None:
    import harness.executors.gpu_pool

    made: list[dict] = []

    class FakeWarmPool:
        def __init__(self, size, *, backend, env):
            self.size, self.backend, self.env, self.closed = size, backend, env, False
            made.append(env)

        def close(self):
            self.closed = True

    monkeypatch.setattr(harness.executors.gpu_pool, "WarmPool", FakeWarmPool)
    seen: list[tuple[int, str]] = []

    def measure(candidate, *, device_index, pool, **kw):
        seen.append((device_index, pool.env["CUDA_VISIBLE_DEVICES"]))
        return FakeGpuVerify(["4", "6"], seconds=0.0)(candidate, device_index=device_index, **kw)

    ex = GpuPoolExecutor(["4", "6"], verify_fn=measure, warm=2)
    for f in [ex.submit(_candidate(i), backend="cuda") for i in range(6)]:
        f.result(timeout=60)
    ex.shutdown()
    assert made == [{"CUDA_VISIBLE_DEVICES": "4"}, {"CUDA_VISIBLE_DEVICES": "6"}]
    assert seen and all(["4", "6"][i] == dev for i, dev in seen)
    assert all(p.closed for p in ex.warm_pools)


def test_a_build_made_before_the_slot_keeps_its_time_and_words_in_the_verdict() -> None:
    """Verify sees only the cache hit the executor's build left; the verdict must still say the build was cold."""
    from harness.candidate import load_candidate
    from harness.types import Check

    task = load_task("level1/layernorm")
    src = (HERE / "kernels" / "k" / "layernorm_cpu.cpp").read_text() + f"\n// {time.time_ns()}\n"  # a new source: cold
    cand = load_candidate(src, task, format="K")

    def verify_saw_a_hit(candidate, *, device_index, backend="cpu", **kw) -> Verdict:
        return Verdict(status="verified", task_id=task.task_id, task_sha256=task.sha256, kernel_sha256=candidate.sha256,
                       format="K", checks=(Check("compile", "pass", "cached"), Check("case:seed0", "pass")), flags=(),
                       env=Env(device="cpu", backend=backend, torch_version="", cuda_version=""),
                       seconds={"build": 0.01, "run": 1.0})

    with GpuPoolExecutor(["0"], verify_fn=verify_saw_a_hit) as ex:
        cold = ex.submit(cand, backend="cpu").result(timeout=300)
        again = ex.submit(cand, backend="cpu").result(timeout=300)  # now the executor's build is a hit too
    reason = next(c.reason for c in cold.checks if c.name == "compile")
    assert reason.startswith("built in ") and "before a GPU slot was taken (format K)" in reason, reason
    assert cold.seconds["build"] > 0.05 and cold.seconds["run"] == 1.0
    assert next(c.reason for c in again.checks if c.name == "compile") == "cached"
    assert again.seconds["build"] == 0.01
