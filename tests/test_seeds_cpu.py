"""The CPU format-K seeds (`pipeline/tasks/levelN/<op>.k.cpp`, issue 17): every built-in task has one, it declares
the tunables the offline `tune` operator searches, it passes the static filter clean, and it verifies on the CPU
backend through the whole harness (sandboxed build and run, several seeds, every input variant, poisoned outputs,
a repeat for races, timed outputs spot-checked).

One verify per task, with a short timed loop: about 5 s of CPU per task (the build is one ~0.5 s `g++` call; most
of the rest is starting the sandboxed reference and candidate processes), 8-25 s of wall time depending on how
busy the cores are (28 tasks: ~2.5 min of CPU in all). The verifications are marked `slow`; `-m "not slow"` keeps
only the text checks.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from harness.candidate import load_candidate
from harness.static.check import static_check
from harness.task import builtin_tasks, load_task
from harness.judge.verify import verify
from pipeline.operators.tune import tunables

TASK_IDS = builtin_tasks()


def _seed(tid: str) -> Path:
    task = load_task(tid)
    assert task.path, f"{tid} has no file"
    return Path(task.path).with_suffix(".k.cpp")


def test_every_builtin_task_has_a_cpu_k_seed() -> None:
    missing = [tid for tid in TASK_IDS if not _seed(tid).is_file()]
    assert not missing, f"tasks without a CPU format-K seed (<op>.k.cpp): {missing}"
    assert len(TASK_IDS) >= 24


@pytest.mark.parametrize("tid", TASK_IDS)
def test_seed_declares_tunables_and_passes_the_static_filter(tid: str) -> None:
    src = _seed(tid).read_text()
    assert '#include "ke_abi.h"' in src and 'extern "C" int ke_launch(' in src
    found = tunables(src)
    assert found, f"{tid}: the seed declares no `#define NAME VALUE  // tunable: V1 V2 ...`"
    for t in found:
        assert len(t.choices) >= 2, f"{tid}: tunable {t.name} offers fewer than two values"
        assert t.value in t.choices, f"{tid}: tunable {t.name} = {t.value} is not one of its own choices {t.choices}"
    report = static_check(src, format="K", backend="cpu")
    assert not report.rejected, report.reason
    assert not report.flags and not report.library_calls, (report.flags, report.library_calls)


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("tid", TASK_IDS)
def test_seed_verifies_on_cpu(tid: str) -> None:
    task = load_task(tid)
    v = verify(load_candidate(_seed(tid), task), backend="cpu", seeds=2, size="auto", compile_baseline=False,
               repeats=8, warmup=2, timeout_s=300.0)
    assert v.status == "verified", f"{tid}: {v.status}: {v.error}"
    assert v.format == "K"
    assert v.timing is not None and v.timing.kernel.n == 8
    assert not v.flags, v.flags
