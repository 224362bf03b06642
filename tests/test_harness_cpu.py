"""The harness on the CPU backend: known-good kernels verify, format B verifies, and refusals get the right status."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.candidate import load_candidate
from harness.task import builtin_tasks, known_good_kernel, load_task
from harness.verify import verify

HERE = Path(__file__).parent
KERNELS = HERE / "kernels" / "cpu"
KNOWN_GOOD = [t for t in builtin_tasks() if known_good_kernel(load_task(t), "cpu")]
FAST = dict(backend="cpu", size="small", compile_baseline=False, timeout_s=60.0, repeats=10, warmup=2)


def _verify(task: str, kernel: Path, **kw):
    opts = dict(FAST, **kw)
    return verify(load_candidate(kernel, load_task(task)), **opts)


@pytest.mark.parametrize("task_id", KNOWN_GOOD)
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


# (kernel, expected status, the check that must fail). Every one runs with static checks off too:
# none of these may be stopped by the static filter alone.
REFUSALS = [
    ("empty.cpp", "incorrect", "case:"),
    ("half_written.cpp", "incorrect", "case:"),
    ("mutates_input.cpp", "incorrect", "inputs:"),
    ("sleeps.cpp", "timeout", "runtime"),
    ("segfault.cpp", "runtime_error", "runtime"),
    ("exits.cpp", "runtime_error", "runtime"),
    ("forges_stdout.cpp", None, None),
    ("stale_after_first.cpp", "incorrect", "case:"),
]


@pytest.mark.parametrize("kernel,status,check", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refusal_dynamic(kernel: str, status: str | None, check: str | None) -> None:
    v = _verify("level1/relu", KERNELS / kernel, static_checks=False, timeout_s=20.0)
    assert v.status != "verified"
    if status is not None:
        assert v.status == status, (v.error, v.checks)
        assert any(c.outcome == "fail" and c.name.startswith(check) for c in v.checks), v.checks
    else:  # forging on every descriptor: its garbage either breaks the channel or its real (empty) output fails
        assert v.status in ("incorrect", "runtime_error")


def test_static_filter_rejects_plain_exit_before_running() -> None:
    v = _verify("level1/relu", KERNELS / "exits.cpp")
    assert v.status == "rejected" and v.checks[-1].name == "static"
    assert "build" not in v.seconds


def test_setsid_grandchild_is_killed(tmp_path: Path) -> None:
    import uuid

    tag = "ke" + uuid.uuid4().hex[:10]  # the escaping grandchild renames itself, so we can find it
    src = tmp_path / "escape.cpp"
    src.write_text(r'''
#include <torch/extension.h>
#include <unistd.h>
#include <time.h>
#include <sys/prctl.h>
torch::Tensor forward(torch::Tensor x) {
  if (fork() == 0) { setsid(); if (fork() == 0) { prctl(PR_SET_NAME, "TAG", 0, 0, 0);
      for (;;) { struct timespec t{0, 50000000}; nanosleep(&t, nullptr); } } _exit(0); }
  struct timespec t{3600, 0}; nanosleep(&t, nullptr);
  return x;
}
PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("forward", &forward); }
'''.replace("TAG", tag))
    v = _verify("level1/relu", src, static_checks=False, timeout_s=10.0)
    assert v.status == "timeout"
    alive = []
    for p in Path("/proc").iterdir():
        try:
            if p.name.isdigit() and (p / "comm").read_text().strip() == tag:
                alive.append(p.name)
        except OSError:
            pass
    assert not alive, f"escaped processes still running: {alive}"


def test_cli_verify_exit_codes(tmp_path: Path) -> None:
    relu = known_good_kernel(load_task("level1/gelu"), "cpu") if known_good_kernel(load_task("level1/gelu"), "cpu") \
        else None
    cmd = [sys.executable, "-m", "pipeline.cli", "verify", "level1/relu", str(KERNELS / "half_written.cpp"),
           "--backend", "cpu", "--size", "small", "--no-timing", "--json", "--seeds", "1"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 1, r.stderr
    assert json.loads(r.stdout)["status"] == "incorrect"
    bad = subprocess.run([sys.executable, "-m", "pipeline.cli", "verify", "level1/nope", str(tmp_path / "x.cpp")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "no task" in bad.stdout
    if relu is not None:
        ok = subprocess.run([sys.executable, "-m", "pipeline.cli", "verify", "level1/gelu", str(relu), "--backend",
                             "cpu", "--size", "small", "--no-compile-baseline", "--seeds", "1"],
                            capture_output=True, text=True, timeout=600)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert "VERIFIED" in ok.stdout
