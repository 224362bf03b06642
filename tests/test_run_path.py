"""The run path's throughput mechanisms, on the CPU: each test fails without the mechanism it names.

- tensors cross through a sealed shared-memory arena (and through the pipe, said in the verdict, where the
  host refuses one); the arena's seals hold and a worker cannot point the parent outside it;
- the profile runs with the correctness work, so the exclusive timing slot holds only the timed loop;
- small outputs are judged with no device lock;
- a default-size verification screens at the task's small size first;
- executors are sized to the host and every front end builds them through one option.
"""
from __future__ import annotations

import fcntl
import io
import os

import pytest
import torch

import harness.judge.verify as verify_mod
from harness.candidate import load_candidate
from harness.executors.factory import ExecutorOptions, host_sizes, make_executor
from harness.executors.gpu_pool import GpuPoolExecutor
from harness.executors.local import LocalExecutor
from harness.judge.verify import verify
from harness.sandbox import process
from harness.task import load_task
from harness.worker import wire

FAST = dict(backend="cpu", seeds=2, compile_baseline=False, repeats=5, warmup=1)
K_LAYERNORM = os.path.join(os.path.dirname(__file__), "kernels", "k", "layernorm_cpu.cpp")
K_SKIP_TAIL = os.path.join(os.path.dirname(__file__), "kernels", "k", "skip_tail_cpu.cpp")


def _layernorm(path: str = K_LAYERNORM):
    task = load_task("level1/layernorm")
    return load_candidate(path, task)


def _check(v, name: str):
    return next((c for c in v.checks if c.name == name), None)


# ---------------------------------------------------------------- the arena


def test_arena_round_trip_and_the_pages_are_freed() -> None:
    arena, why = wire.Arena.create(64 << 20)
    assert arena is not None, why
    w = wire.ArenaWriter(arena.fd, arena.capacity)
    sent = {"a": torch.randn(300, 7), "b": torch.arange(5) > 2, "c": torch.empty(0), "d": torch.randn(9).bfloat16()}
    buf = io.BytesIO()
    wire.send(buf, "case", {"id": "x"}, sent, arena=w)
    assert len(buf.getvalue()) < 1024  # the bytes did not go through the stream
    buf.seek(0)
    [(kind, meta, got)] = list(wire.receive(buf, max_bytes=1 << 30, arena=arena))
    assert kind == "case" and all(torch.equal(got[k], sent[k]) for k in sent)
    arena.close()


def test_the_arena_is_sealed_against_shrinking_and_growing() -> None:
    arena, why = wire.Arena.create(1 << 20)
    assert arena is not None, why
    for size in (0, 4 << 20):  # what a worker would do to make the parent's reads fault
        with pytest.raises(OSError):
            os.ftruncate(arena.fd, size)
    assert fcntl.fcntl(arena.fd, getattr(fcntl, "F_GET_SEALS", 1034)) & 7 == 7
    arena.close()


@pytest.mark.parametrize("offset", [-4096, 1, 1 << 40])
def test_an_offset_outside_the_arena_is_a_wire_error(offset: int) -> None:
    arena, _ = wire.Arena.create(1 << 20)
    spec = {"name": "out0", "dtype": "float32", "shape": [4], "nbytes": 16, "at": offset}
    header = b'{"type": "case", "meta": {}, "tensors": [' + str(spec).replace("'", '"').encode() + b"]}"
    buf = io.BytesIO(len(header).to_bytes(8, "little") + header + b"\x01")
    with pytest.raises(wire.WireError, match="outside the arena"):
        list(wire.receive(buf, max_bytes=1 << 30, arena=arena))
    arena.close()


def test_an_arena_tensor_never_committed_is_a_wire_error() -> None:
    arena, _ = wire.Arena.create(1 << 20)
    header = b'{"type": "case", "meta": {}, "tensors": [{"name": "o", "dtype": "float32", "shape": [4], ' \
             b'"nbytes": 16, "at": 0}]}'
    with pytest.raises(wire.WireError, match="never committed"):
        list(wire.receive(io.BytesIO(len(header).to_bytes(8, "little") + header), max_bytes=1 << 30, arena=arena))
    with pytest.raises(wire.WireError, match="does not have"):  # and no arena at all
        list(wire.receive(io.BytesIO(len(header).to_bytes(8, "little") + header + b"\x01"), max_bytes=1 << 30))
    arena.close()


def test_outputs_cross_through_shared_memory_or_the_pipe_and_the_verdict_says_which(monkeypatch) -> None:
    v = verify(_layernorm(), **FAST)
    assert v.status == "verified", v.error
    assert "shared memory" in _check(v, "transfer").reason
    monkeypatch.setattr(process, "make_arena", lambda limits: (None, "memfd refused by this host (test)"))
    v2 = verify(_layernorm(), **FAST)
    assert v2.status == "verified", v2.error
    assert "pipe (memfd refused by this host (test))" in _check(v2, "transfer").reason
    assert [(c.name, c.outcome) for c in v.checks if c.name != "transfer"] == \
        [(c.name, c.outcome) for c in v2.checks if c.name != "transfer"]


# ---------------------------------------------------------------- the timing slot and the judge's locks


def test_profile_comes_before_the_timing_slot_and_small_outputs_take_no_lock(monkeypatch) -> None:
    runs, shared = [], []
    real_run, real_shared = verify_mod.run_job, verify_mod.device_shared

    def spy_run(*a, **k):
        res = real_run(*a, **k)
        runs.append(res)
        return res

    def spy_shared(*a, **k):
        shared.append(a)
        return real_shared(*a, **k)

    monkeypatch.setattr(verify_mod, "run_job", spy_run)
    monkeypatch.setattr(verify_mod, "device_shared", spy_shared)
    v = verify(_layernorm(), **FAST)
    assert v.status == "verified", v.error
    kinds = runs[-1].kinds()
    assert kinds.index("profile") < kinds.index("ready") < kinds.index("timing")
    assert shared == []  # the parent judged the small outputs without holding the device
    monkeypatch.setattr(verify_mod, "HEAVY_COMPARE_BYTES", 0)  # every output counts as large now
    assert verify(_layernorm(), **FAST).status == "verified" and shared == [("cpu", None)]


# ---------------------------------------------------------------- the screen


def test_a_default_size_verification_screens_at_the_small_size_first(monkeypatch) -> None:
    sizes = []
    real = verify_mod.get_reference

    def spy(task, **kw):
        sizes.append(kw["size"])
        return real(task, **kw)

    monkeypatch.setattr(verify_mod, "get_reference", spy)
    # skip_tail leaves the last row unwritten: wrong at any size, found at the small one
    v = verify(_layernorm(K_SKIP_TAIL), **dict(FAST, size="default"))
    assert v.status == "incorrect", (v.status, v.error)
    assert _check(v, "screen").outcome == "fail" and "small size" in _check(v, "screen").reason
    assert sizes == ["small"]  # no default-size reference, no default-size run
    assert "screen.run" in v.seconds


# ---------------------------------------------------------------- executors


def test_host_sizes() -> None:
    assert host_sizes("cuda", cpus=16, gpus=1) == host_sizes("cuda", cpus=16)
    h = host_sizes("cuda", cpus=16, gpus=1)
    assert (h.per_device, h.warm, h.workers) == (8, 10, 8)
    assert host_sizes("cuda", cpus=16, gpus=4).per_device == 2
    c2 = host_sizes("cpu", cpus=2)
    assert (c2.workers, c2.warm) == (2, 0)  # on 2 cores a refill would compete with the runs it hides
    c16 = host_sizes("cpu", cpus=16)
    assert (c16.workers, c16.warm) == (8, 8)


def test_one_option_builds_every_front_end_s_executor(monkeypatch) -> None:
    import harness.executors.factory as factory

    monkeypatch.setattr(factory.os, "cpu_count", lambda: 2)
    ex = ExecutorOptions().make("cpu")
    assert isinstance(ex, LocalExecutor) and ex.warm_pool is None and ex._pool._max_workers == 2
    ex.shutdown()
    ex = make_executor("local", backend="cpu", workers=3, warm=0)
    assert ex._pool._max_workers == 3
    ex.shutdown()
    made = []
    monkeypatch.setattr(factory, "GpuPoolExecutor", lambda devs, **kw: made.append((devs, kw)) or "gpu")
    monkeypatch.setattr(factory, "resolve_backend", lambda b: "cuda")
    monkeypatch.setattr(factory.os, "cpu_count", lambda: 16)
    assert make_executor("local", backend="cuda", devices=["0"]) == "gpu"
    assert made == [(["0"], {"build_workers": 8, "per_device": 8, "warm": 10})]
    assert GpuPoolExecutor is not None


def test_the_pipeline_run_builds_its_executor_from_the_options(tmp_path, monkeypatch) -> None:
    from pipeline.run import Run, RunConfig

    got = []
    monkeypatch.setattr("pipeline.run.ExecutorOptions.make", lambda self, backend: got.append((self, backend)) or
                        LocalExecutor(max_workers=1))
    from pipeline.operators.tune import TuneOperator

    run = Run(RunConfig(tasks=("level1/relu",), backend="cpu", executor="local", workers=3, warm=0), tmp_path / "r",
              operator=TuneOperator(), store=object())
    assert got and got[0][0] == ExecutorOptions(kind="local", workers=3, warm=0) and got[0][1] == "cpu"
    run.executor.shutdown()
