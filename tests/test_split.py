"""Splitting CUDA format-A sources into a torch-free kernel unit and a host unit (the fast build path)."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.build.split import split_source
from harness.task import builtin_tasks, known_good_kernel, load_task

KNOWN_GOOD = [p for p in (known_good_kernel(load_task(t), "cuda", format="A") for t in builtin_tasks()) if p is not None]
SIMPLE = """#include <torch/extension.h>
#define N_PER 4  // tunable: 2 4
struct Pair { float a, b; };
__device__ float twice(float v) { return 2.f * v; }
__global__ void k(const float* x, float* y, int64_t n, Pair p) {
  int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (i < n) y[i] = twice(x[i]) * p.a + p.b;
}
torch::Tensor forward(torch::Tensor x) {
  auto y = torch::empty_like(x);
  k<<<(x.numel() + 255) / 256, 256>>>(x.data_ptr<float>(), y.data_ptr<float>(), x.numel(), Pair{1.f, 0.f});
  return y;
}
PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("forward", &forward); }
"""


@pytest.mark.parametrize("path", KNOWN_GOOD, ids=lambda p: p.stem)
def test_every_shipped_cuda_kernel_splits(path: Path) -> None:
    sp = split_source(path.read_text())
    assert sp is not None and sp.kernels
    assert not re.search(r"#\s*include\s*<(torch|ATen|c10|pybind11)", sp.kernel_cu)
    assert "__global__" not in sp.host_cpp and "<<<" not in sp.host_cpp and "PYBIND11_MODULE" in sp.host_cpp
    for k in sp.kernels:
        assert f'extern "C" void ke_split_launch_{k}(' in sp.kernel_cu and f"ke_split_launch_{k}(" in sp.host_cpp


def test_launch_rewrite_keeps_config_defaults_and_arguments() -> None:
    sp = split_source(SIMPLE)
    assert sp is not None and sp.kernels == ("k",)
    assert "ke_split_launch_k(dim3((x.numel() + 255) / 256), dim3(256), (size_t)(0), nullptr, x.data_ptr<float>()" \
        in sp.host_cpp
    assert "struct Pair" in sp.kernel_cu and "struct Pair" in sp.host_cpp and "#define N_PER 4" in sp.kernel_cu
    assert "__device__ float twice" in sp.kernel_cu and "twice" not in sp.host_cpp


@pytest.mark.parametrize("change", [
    ("__global__ void k(", "template <typename T> __global__ void k("),          # templated kernel
    ("if (i < n)", "if (i < n && torch::kFloat32 == torch::kFloat32)"),        # device code names torch
    ("struct Pair", "#ifdef FOO\n#endif\nstruct Pair"),                        # conditional compilation
    ("k<<<", "other<<<"),                                                      # launches what it cannot see
])
def test_what_it_does_not_recognise_is_built_whole(change: tuple[str, str]) -> None:
    assert split_source(SIMPLE.replace(*change, 1)) is None


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="needs nvcc")
def test_kernel_units_compile_with_nvcc_alone(tmp_path: Path) -> None:
    for p in KNOWN_GOOD[:2]:
        sp = split_source(p.read_text())
        (tmp_path / "k.cu").write_text(sp.kernel_cu)
        r = subprocess.run(["nvcc", "-c", "-O3", "-gencode=arch=compute_90,code=sm_90", "-Xcompiler", "-fPIC",
                            str(tmp_path / "k.cu"), "-o", str(tmp_path / "k.o")], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr[-2000:]


@pytest.mark.gpu
def test_split_build_is_used_and_verifies_on_the_gpu() -> None:
    from harness.build.cache import build
    from harness.candidate import load_candidate
    from harness.judge.verify import verify

    task = load_task("level1/softmax")
    src = known_good_kernel(task, "cuda", format="A").read_text() + "\n// split test\n"
    b = build(src, backend="cuda")
    assert b.ok and b.path == "split", (b.path, b.error)
    v = verify(load_candidate(src, task), backend="cuda", seeds=2, size="small")
    assert v.status == "verified", v.error
