"""The harness on the CPU backend: known-good kernels verify, format B verifies, and refusals get the right status."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.candidate import load_candidate
from harness.task import builtin_tasks, known_good_kernel, load_task
from harness.judge.verify import verify

HERE = Path(__file__).parent
KERNELS = HERE / "kernels" / "cpu"
KNOWN_GOOD = [t for t in builtin_tasks() if known_good_kernel(load_task(t), "cpu")]
FAST = dict(backend="cpu", size="small", compile_baseline=False, timeout_s=60.0, repeats=10, warmup=2)


def _verify(task: str, kernel: Path, **kw):
    opts = dict(FAST, **kw)
    return verify(load_candidate(kernel, load_task(task)), **opts)


# One format-A CPU kernel of each kind is built in CI (each build compiles torch/extension.h, ~30 s on 2 cores); the
# format-K seeds of all 28 tasks are verified in test_seeds_cpu.py. `pytest --every-kernel` verifies the rest too.
ONE_OF_EACH_KIND = {"level1/gelu", "level1/add_broadcast", "level1/sum_dim", "level1/softmax", "level1/layernorm",
                    "level1/cumsum", "level1/matmul", "level1/conv2d", "level2/linear_bias_gelu", "level2/scale_softmax"}


@pytest.mark.parametrize("task_id", [t if t in ONE_OF_EACH_KIND else pytest.param(t, marks=pytest.mark.every_kernel)
                                     for t in KNOWN_GOOD])
def test_known_good_cpu_kernel_verifies(task_id: str) -> None:
    task = load_task(task_id)
    v = _verify(task_id, known_good_kernel(task, "cpu"))
    assert v.status == "verified", (v.error, v.checks)
    names = {c.name for c in v.checks}
    assert {"compile", "determinism", "timed_outputs", "plausibility"} <= names
    assert sum(n.startswith("case:seed") for n in names) == 3
    assert v.rel_error is not None and v.rel_error <= 1e-4
    assert v.timing is not None and v.timing.kernel.n == 10 and v.timing.speedup_eager > 0
    assert "library_call" not in v.flags


def test_verdict_json_round_trip_and_fields() -> None:
    v = _verify("level1/relu", KERNELS / "half_written.cpp", timing=False)
    d = json.loads(v.to_json())
    assert {"status", "flags", "checks", "timing", "env"} <= set(d)
    assert d["env"]["harness_version"] and d["env"]["torch_version"]
    assert all({"name", "outcome", "reason"} <= set(c) for c in d["checks"])
    assert type(v).from_json(v.to_json()) == v


def test_plain_task_verifies_format_b_candidate() -> None:
    task = load_task(HERE / "data" / "plain_relu6.py")
    assert not task.functional
    v = verify(load_candidate(HERE / "data" / "plain_relu6_new.py", task), **FAST)
    assert v.format == "B"
    assert v.status == "verified", (v.error, v.checks)


def test_format_a_on_plain_task_is_refused_clearly() -> None:
    from harness.candidate import CandidateError

    with pytest.raises(CandidateError, match="functional form"):
        load_candidate(KNOWN_GOOD and known_good_kernel(load_task(KNOWN_GOOD[0]), "cpu"),
                       load_task(HERE / "data" / "plain_relu6.py"))


# The issue's refusal list, each with the corpus candidate that proves it (tests/adversarial runs them all
# through the harness with the static filter off, and checks status, failed check and leftovers).
REFUSALS = {
    "torch::empty returned with nothing written": ("stale_empty.cpp", "incorrect"),
    "half the output written": ("stale_half.cpp", "incorrect"),
    "input mutated": ("mutate_input.cpp", "incorrect"),
    "sleeps past the timeout": ("hang_sleep.cpp", "timeout"),
    "segfault": ("crash_segfault.cpp", "runtime_error"),
    "exit(0)": ("forge_exit0_macro.cpp", "runtime_error"),
    "fake 'verified' printed to stdout": ("forge_fd_spray_macro.cpp", "incorrect"),
    "right for the first calls, stale afterwards": ("cache_lambda.cpp", "incorrect"),
}


def test_issue_refusals_are_in_the_adversarial_corpus() -> None:
    import tomllib

    manifest = tomllib.loads((HERE / "adversarial" / "manifest.toml").read_text())["candidate"]
    by_file = {Path(c["file"]).name: c for c in manifest if "cpu" in c["backends"]}
    for what, (name, status) in REFUSALS.items():
        assert name in by_file, what
        assert status in by_file[name]["dynamic_status"] and "verified" not in by_file[name]["dynamic_status"], what


def test_static_filter_rejects_plain_exit_before_running(tmp_path: Path) -> None:
    src = tmp_path / "exits.cpp"
    src.write_text('#include <torch/extension.h>\n#include <cstdlib>\n'
                   'torch::Tensor forward(torch::Tensor x) { exit(0); return x; }\n'
                   'PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("forward", &forward); }\n')
    v = _verify("level1/relu", src)
    assert v.status == "rejected" and v.checks[-1].name == "static"
    assert "build" not in v.seconds


def test_cli_verify_exit_codes(tmp_path: Path) -> None:
    gelu = known_good_kernel(load_task("level1/gelu"), "cpu")
    assert gelu is not None
    cmd = [sys.executable, "-m", "pipeline.cli", "verify", "level1/relu", str(KERNELS / "half_written.cpp"),
           "--backend", "cpu", "--size", "small", "--no-timing", "--json", "--seeds", "1"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 1, r.stderr
    assert json.loads(r.stdout)["status"] == "incorrect"
    bad = subprocess.run([sys.executable, "-m", "pipeline.cli", "verify", "level1/nope", str(tmp_path / "x.cpp")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "no task" in bad.stdout
    ok = subprocess.run([sys.executable, "-m", "pipeline.cli", "verify", "level1/gelu", str(gelu), "--backend",
                         "cpu", "--size", "small", "--no-compile-baseline", "--seeds", "1"],
                        capture_output=True, text=True, timeout=600)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "VERIFIED" in ok.stdout


def test_torch_compile_baseline_is_timed_in_the_same_run() -> None:
    task = load_task("level1/gelu")
    v = _verify("level1/gelu", known_good_kernel(task, "cpu"), compile_baseline=True, timeout_s=120.0)
    assert v.status == "verified", (v.error, v.checks)
    t = v.timing
    assert t is not None and t.compiled is not None and t.compiled.n > 0 and t.eager is not None
    assert t.speedup_compile == pytest.approx(t.compiled.median_ms / t.kernel.median_ms)
    assert t.speedup_eager == pytest.approx(t.eager.median_ms / t.kernel.median_ms)


def test_out_of_device_memory_while_sharing_is_judged_again_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CUDA OOM can be another run's doing while runs share a GPU: the candidate runs once more with the
    device to itself (ungated, so the same protocol without a slot), and the verdict says so."""
    import harness.sandbox.runner as R
    from harness.sandbox.process import RunResult
    from harness.sandbox.runner import out_of_device_memory
    from harness.worker import protocol as P

    calls: list[bool] = []

    def first_time_oom(res: RunResult) -> bool:  # the candidate's first run (the reference's runs say no)
        if "repeat" not in res.kinds():
            return False
        calls.append(True)
        return len(calls) == 1

    monkeypatch.setattr(R, "out_of_device_memory", first_time_oom)
    task = load_task("level1/gelu")
    v = verify(load_candidate(known_good_kernel(task, "cpu"), task), seeds=2, **FAST)
    assert len(calls) == 1 and v.status == "verified", v.error
    assert [c.outcome for c in v.checks if c.name == "device_memory"] == ["skip"]
    assert [c.outcome for c in v.checks if c.name == "channel"] == ["pass"] and v.timing is not None
    msg = P.Error(message="OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB")
    oom = RunResult(exit_code=1, timed_out=False, messages=[(msg, {})], log_tail="", wall_s=1.0)
    fine = RunResult(exit_code=0, timed_out=False, messages=[(P.Done(), {})], log_tail="", wall_s=1.0)
    assert out_of_device_memory(oom) and not out_of_device_memory(fine)
