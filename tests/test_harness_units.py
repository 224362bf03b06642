"""Fast harness tests that compile nothing: task and candidate parsing, the wire format, comparisons, timing."""
from __future__ import annotations

import io
import json
import struct

import pytest
import torch

from harness.judge import compare as cmp
from harness.worker import wire
from harness.build.cache import trim_compiler_output
from harness.candidate import CandidateError, detect_format
from harness.task import TaskError, builtin_tasks, load_task, parse_task_source
from harness.judge.timing import plausibility, stats
from harness.types import Check, Env, Stats, Timing, Verdict


def test_malformed_tasks_name_what_is_missing() -> None:
    with pytest.raises(TaskError, match="get_inputs"):
        parse_task_source("import torch\nclass Model: pass\ndef get_init_inputs(): return []\n")
    with pytest.raises(TaskError, match="syntax error at line 1"):
        parse_task_source("def (:\n")
    with pytest.raises(TaskError, match="empty"):
        parse_task_source("   ")
    with pytest.raises(TaskError, match="no task"):
        load_task("level9/not_a_task")


def test_builtin_tasks_are_functional_with_metadata() -> None:
    ids = builtin_tasks()
    assert len(ids) >= 24
    t = load_task("level1/relu")
    assert t.functional and t.level == 1 and t.op_name == "relu" and len(t.sha256) == 64


def test_detect_format() -> None:
    assert detect_format('#include <torch/extension.h>\nPYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {}') == "A"
    assert detect_format("import torch\nclass ModelNew(torch.nn.Module):\n    pass\n") == "B"
    assert detect_format('extern "C" int ke_launch(const float* x) { return 0; }') == "K"
    with pytest.raises(CandidateError, match="cannot tell"):
        detect_format("Sure! Here is your kernel: it is very fast.")


def test_wire_round_trip_and_garbage() -> None:
    buf = io.BytesIO()
    t = {"a": torch.randn(3, 4), "b": torch.arange(5), "c": torch.randn(2).to(torch.bfloat16),
         "empty": torch.empty(0, 3), "scalar": torch.tensor(2.5, dtype=torch.float64),
         "flags": torch.tensor([True, False]), "strided": torch.randn(4, 6).t()}
    wire.send(buf, "case", {"id": "seed1"}, t)
    buf.seek(0)
    [(kind, meta, got)] = list(wire.receive(buf, max_bytes=1 << 20))
    assert kind == "case" and meta == {"id": "seed1"}
    assert all(got[k].dtype == t[k].dtype and got[k].shape == t[k].shape and torch.equal(got[k], t[k]) for k in t)
    cut = io.BytesIO()
    wire.send(cut, "case", None, {"x": torch.randn(100)})
    with pytest.raises(wire.WireError, match="truncated"):
        list(wire.receive(io.BytesIO(cut.getvalue()[:-10]), max_bytes=1 << 20))
    liar = json.dumps({"type": "case", "tensors": [{"name": "x", "dtype": "float32", "shape": [4],
                                                    "nbytes": 12}]}).encode()
    with pytest.raises(wire.WireError, match="bytes for shape"):
        list(wire.receive(io.BytesIO(struct.pack("<Q", len(liar)) + liar + bytes(12)), max_bytes=1 << 20))
    with pytest.raises(wire.WireError):
        list(wire.receive(io.BytesIO(b"verified!\n" * 10), max_bytes=1 << 20))
    header = json.dumps({"type": "case", "tensors": [{"name": "x", "dtype": "float32", "shape": [4],
                                                      "nbytes": 1 << 30}]}).encode()
    with pytest.raises(wire.WireError, match="more than"):
        list(wire.receive(io.BytesIO(struct.pack("<Q", len(header)) + header), max_bytes=1 << 20))


def test_compare_catches_nan_partial_writes_and_downgrades() -> None:
    torch.manual_seed(0)
    ref = torch.randn(1000, dtype=torch.float64)
    eager = ref.float()
    assert cmp.compare([eager.clone()], [eager], [ref]).ok
    half = eager.clone()
    half[500:] = float("nan")
    assert "NaN" in cmp.compare([half], [eager], [ref]).reason
    big = torch.randn(1_000_000, dtype=torch.float64)
    one_off = big.float()
    one_off[3] += 5e-4  # far too small to move the norm-wise error, but one element is wrong
    r = cmp.compare([one_off], [big.float()], [big])
    assert not r.ok and "flat index 3" in r.reason
    downgraded = eager.half().float()
    assert not cmp.compare([downgraded], [eager], [ref]).ok
    assert "shape" in cmp.compare([eager[:10]], [eager], [ref]).reason


def test_determinism_and_degenerate_reference() -> None:
    a = [torch.randn(100)]
    assert cmp.same_result(a, [a[0].clone()], 1e-4)[0]
    assert not cmp.same_result(a, [a[0] + 1e-3], 1e-4)[0]
    zeros = {"seed1": [torch.zeros(10, dtype=torch.float64)]}
    assert "zero" in cmp.degenerate(zeros, ["seed1"])
    const = {"seed1": [torch.full((10,), 3.0, dtype=torch.float64)]}
    assert "constant" in cmp.degenerate(const, ["seed1"])
    x = torch.randn(10, dtype=torch.float64)
    same = {"seed1": [x], "seed2": [x.clone()]}
    assert "every seed" in cmp.degenerate(same, ["seed1", "seed2"])
    assert cmp.degenerate({"seed1": [x], "seed2": [x + 1]}, ["seed1", "seed2"]) == ""


def test_plausibility_flags() -> None:
    k = stats([0.1] * 50)
    eager = stats([2.0] * 50)
    p = plausibility(k, eager=eager, sol_ms=0.5, bytes_moved=1 << 30, loop_wall_ms=None, idle_ms_per_call=None,
                     warmup=0, max_speedup=10)
    assert "implausible" in p.flags and len(p.reasons) == 2
    # 50 calls of 1 ms plus 0.2 ms of loop overhead each, as the parent saw them: honest
    ok = plausibility(stats([1.0] * 50), eager=eager, sol_ms=0.5, bytes_moved=1 << 30, loop_wall_ms=61.0,
                      idle_ms_per_call=0.2, warmup=0, max_speedup=10)
    assert ok.flags == ()
    # the same claims, but the loop took 10 ms a call: work escaped the timed region
    escape = plausibility(stats([1.0] * 50), eager=eager, sol_ms=None, bytes_moved=0, loop_wall_ms=500.0,
                          idle_ms_per_call=0.2, warmup=0, max_speedup=10)
    assert escape.flags == ("timing_escape",)


def test_trim_compiler_output_keeps_errors_only() -> None:
    log = ("[1/2] c++ -MMD -c /tmp/x/kernel.cpp -o kernel.o\nFAILED: kernel.o\n"
           "/tmp/x/kernel.cpp:3:5: error: 'foo' was not declared in this scope\n    3 |     foo();\n"
           "      |     ^~~\nninja: build stopped: subcommand failed.\n")
    out = trim_compiler_output(log, "/tmp/x")
    assert out.startswith("kernel.cpp:3:5: error: 'foo' was not declared")
    assert "ninja" not in out and "-MMD" not in out


def test_verdict_round_trip() -> None:
    s = Stats(1.0, 0.1, 0.9, 1.2, 100)
    v = Verdict(status="verified", task_id="t", task_sha256="a", kernel_sha256="b", format="A",
                checks=(Check("x", "pass", "ok"),), flags=("library_call",),
                env=Env("cpu", "cpu", "2", ""), timing=Timing(s, s, None, 1.0, None, "m"), seconds={"run": 1.0})
    assert Verdict.from_json(v.to_json()) == v


def test_reference_cache_keeps_recent_references_within_its_byte_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """A many-task run must not hold every task's GB-sized reference: least recently used go first."""
    from harness.judge import reference as R
    from harness.types import TaskRef

    computed: list[str] = []

    def fake_compute(task, **kw):
        computed.append(task.task_id)
        t = torch.zeros(256 * 1024, dtype=torch.float32)  # 1 MiB of eager + 1 MiB of float64-role outputs
        return R.Reference(seeds=[1], init_seed=2, cases={"c0": R.RefCase([t], [t.clone()], "sha", 0, False)})

    monkeypatch.setattr(R, "_compute", fake_compute)
    monkeypatch.setenv("KERNEL_EVOLVE_REFERENCE_CACHE_GB", str(5 / 1024))  # 5 MiB: two 2 MiB references fit, three don't
    R.clear_cache()
    tasks = [TaskRef(f"t{i}", "", f"src{i}", f"sha{i}", 1, "op", True) for i in range(3)]
    get = lambda t: R.get_reference(t, backend="cpu", seeds=1, size="small", timing=False,  # noqa: E731
                                    compile_baseline=False)
    a, b = get(tasks[0]), get(tasks[1])
    assert get(tasks[0]) is a and computed == ["t0", "t1"]   # cached; t0 is now the most recently used
    get(tasks[2])                                             # over budget: t1, the least recently used, goes
    assert computed == ["t0", "t1", "t2"]
    assert get(tasks[0]) is a and len(computed) == 3
    assert get(tasks[1]) is not b and computed[-1] == "t1"   # computed again
    monkeypatch.setenv("KERNEL_EVOLVE_REFERENCE_CACHE_GB", "0")          # even a zero budget keeps the newest one
    c = get(tasks[2])
    assert get(tasks[2]) is c
    monkeypatch.setenv("KERNEL_EVOLVE_REFERENCE_CACHE_GB", "lots")
    with pytest.raises(ValueError, match="KERNEL_EVOLVE_REFERENCE_CACHE_GB"):
        R.cache_budget_bytes()
    R.clear_cache()


def test_timers_are_bound_before_candidate_code_can_rebind_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """A format-B candidate that rebinds time.perf_counter_ns / torch.cuda.Event after the harness loaded
    still gets its true time (the rebinding is what b_patch_timer.py does)."""
    import time as _time

    from harness.worker.measure import time_calls
    from harness.worker.protocol import TimingSpec

    def slow(_s):
        _time.sleep(0.004)
        return torch.zeros(1)

    monkeypatch.setattr(_time, "perf_counter_ns", lambda: 0)
    monkeypatch.setattr(_time, "perf_counter", lambda: 0.0)
    monkeypatch.setattr(torch.cuda, "Event", None)
    samples, _ = time_calls(slow, [()], TimingSpec(warmup=1, repeats=5, flush_bytes=1024), "cpu")
    assert len(samples) == 5 and min(samples) >= 3.5, samples
