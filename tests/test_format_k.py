"""Format K end to end: a plain C-ABI kernel built in about a second, judged by every check, exported to format A."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.build.cache import build
from harness.candidate import load_candidate
from harness.export import ExportError, export_candidate
from harness.static.check import static_check
from harness.task import load_task
from harness.judge.verify import verify

K = Path(__file__).resolve().parent / "kernels" / "k"
LAYERNORM = load_task("level1/layernorm")
HEAD = '#include "ke_abi.h"\nextern "C" int ke_launch(const ke_tensor* in, int n_in, ke_tensor* out, int n_out, ' \
       'const double* attrs, int n_attrs, void* ws, int64_t ws_bytes, void* stream) {\n'


def _verify(source: str | Path, backend: str = "cpu"):
    return verify(load_candidate(source, LAYERNORM), backend=backend, seeds=2, size="small", compile_baseline=False,
                  repeats=10, warmup=2)


def test_k_kernel_is_verified_and_timed() -> None:
    v = _verify(K / "layernorm_cpu.cpp")
    assert v.status == "verified", v.error
    assert v.format == "K" and v.timing is not None and v.timing.kernel.n == 10
    assert {c.name for c in v.checks} >= {"compile", "timed_outputs", "plausibility", "isolation"}


def test_k_outputs_are_poisoned_so_an_unwritten_row_fails() -> None:
    v = _verify(K / "skip_tail_cpu.cpp")
    assert v.status == "incorrect" and "NaN" in v.error, v.error


def test_k_kernel_that_stops_writing_after_its_first_call_fails() -> None:
    src = (K / "layernorm_cpu.cpp").read_text().replace(
        "  const float* x = (const float*)in[0].data;", "  static int calls = 0;\n  if (calls++ > 0) return 0;\n"
        "  const float* x = (const float*)in[0].data;", 1)
    v = _verify(src)
    assert v.status == "incorrect", v.error


def test_k_kernel_that_writes_its_input_fails() -> None:
    src = (K / "layernorm_cpu.cpp").read_text().replace(
        "  return 0;\n}", "  ((float*)in[0].data)[0] = 7.0f;\n  return 0;\n}", 1)
    v = _verify(src)
    assert v.status == "incorrect" and "input" in v.error, v.error


def test_k_nonzero_return_is_a_runtime_error() -> None:
    v = _verify(HEAD + "  return 3;\n}\n")
    assert v.status == "runtime_error" and "ke_launch returned 3" in v.error, v.error


def test_k_compile_error_is_cut_to_the_line() -> None:
    v = _verify(HEAD + "  return undefined_thing_42;\n}\n")
    assert v.status == "compile_error" and "undefined_thing_42" in v.error and "kernel.cpp:3" in v.error, v.error


def test_k_with_torch_headers_is_rejected() -> None:
    src = "#include <torch/extension.h>\n" + (K / "layernorm_cpu.cpp").read_text()
    assert static_check(src, format="K", backend="cpu").rejected
    assert _verify(src).status == "rejected"


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="needs nvcc")
def test_k_cuda_kernel_builds_with_nvcc_alone() -> None:
    b = build((K / "layernorm_cuda.cu").read_text(), backend="cuda", format="K", arch="9.0")
    assert b.ok, b.error
    bad = build(HEAD.replace("ke_tensor* out", "ke_tensor* out") + "  return nope;\n}\n", backend="cuda", format="K",
                arch="9.0")
    assert not bad.ok and "nope" in bad.error


def test_export_to_format_a_verifies_as_format_a() -> None:
    src = export_candidate((K / "layernorm_cpu.cpp").read_text(), LAYERNORM, backend="cpu")
    assert "PYBIND11_MODULE" in src and "#include \"ke_abi.h\"" not in src
    v = _verify(src)
    assert v.format == "A" and v.status == "verified", v.error


def test_export_refuses_a_task_without_a_functional_form() -> None:
    from harness.export import export_format_a

    with pytest.raises(ExportError, match="no module_fn arguments"):
        export_format_a("", LAYERNORM, fn_args={}, out_shapes={"seed1": [([2], "float32")]}, backend="cpu")


@pytest.mark.gpu
def test_k_cuda_kernel_is_verified_on_the_gpu() -> None:
    v = verify(load_candidate(K / "layernorm_cuda.cu", LAYERNORM), backend="cuda", seeds=2, size="small")
    assert v.status == "verified", v.error
    assert v.timing is not None and v.timing.custom_kernel_fraction is not None


_CUDA_LAUNCH = "  layernorm_rows<<<(unsigned)rows, 256"
_CUDA_EXPLOITS = {  # name -> (source edit of layernorm_cuda.cu, expected status, a word the error must name)
    # the last row is never written: the harness's poisoned output shows through
    "unwritten_row": (lambda s: s.replace(_CUDA_LAUNCH, "  layernorm_rows<<<(unsigned)(rows - 1), 256", 1),
                      "incorrect", "NaN"),
    # correct once, then returns without launching: the timed calls' outputs are checked too
    "stale_after_first_call": (lambda s: s.replace(_CUDA_LAUNCH, "  static int calls = 0;\n  if (calls++ > 0) return 0;\n"
                                                   + _CUDA_LAUNCH, 1), "incorrect", ""),
    # zeroes its input after computing: the inputs are compared with their clones
    "writes_its_input": (lambda s: s.replace("  return cudaGetLastError()", "  cudaMemsetAsync(in[0].data, 0, 4, "
                                             "(cudaStream_t)stream);\n  return cudaGetLastError()", 1),
                         "incorrect", "input"),
}


@pytest.mark.gpu
@pytest.mark.parametrize("name", sorted(_CUDA_EXPLOITS))
def test_k_cuda_exploits_are_refused_on_the_gpu(name: str) -> None:
    """Format K's own doors on CUDA: the harness allocates, poisons and checks every output it hands the launcher."""
    edit, status, word = _CUDA_EXPLOITS[name]
    src = edit((K / "layernorm_cuda.cu").read_text())
    assert src != (K / "layernorm_cuda.cu").read_text(), f"{name}: the edit did not apply"
    v = _verify(src, backend="cuda")
    assert v.status == status and word in v.error, (name, v.status, v.error)
