"""The CUDA format-K seeds (`pipeline/tasks/levelN/<op>.k.cu`, issue 17), on a machine without a GPU: every
built-in task has one, it declares the tunables the offline `tune` operator searches, it passes the static
filter clean, and it compiles for sm_90 with nvcc through the harness's own sandboxed format-K build (the
same call the GPU host makes). Running them needs a GPU: `pytest -m gpu` and scripts/gpu_next.sh do that.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.build.cache import build
from harness.static.check import static_check
from harness.task import builtin_tasks, known_good_kernel, load_task
from pipeline.operators.tune import tunables

TASK_IDS = builtin_tasks()
needs_nvcc = pytest.mark.skipif(shutil.which("nvcc") is None and not Path("/usr/local/cuda/bin/nvcc").is_file(),
                                reason="nvcc is not installed (CUDA toolkit)")


def _seed(tid: str) -> Path:
    p = known_good_kernel(load_task(tid), "cuda", format="K")
    assert p is not None and p.name.endswith(".k.cu"), f"{tid}: no CUDA format-K seed (<op>.k.cu)"
    return p


def test_every_builtin_task_has_a_cuda_k_seed_and_it_is_the_preferred_one() -> None:
    for tid in TASK_IDS:
        assert known_good_kernel(load_task(tid), "cuda") == _seed(tid)


@pytest.mark.parametrize("tid", TASK_IDS)
def test_cuda_seed_declares_tunables_and_passes_the_static_filter(tid: str) -> None:
    src = _seed(tid).read_text()
    assert tunables(src), f"{tid}: the seed declares no `#define NAME VALUE  // tunable: ...`"
    rep = static_check(src, format="K", backend="cuda")
    assert not rep.rejected and not rep.flags, (rep.reason, rep.flags)
    assert rep.kernel_names, f"{tid}: no __global__ kernel found"


@needs_nvcc
@pytest.mark.parametrize("tid", TASK_IDS)
def test_cuda_seed_compiles_for_sm90(tid: str) -> None:
    b = build(_seed(tid).read_text(), backend="cuda", arch="9.0", format="K")
    assert b.ok, b.error
    assert Path(b.so_path).stat().st_size > 0 and b.path == "format K"
