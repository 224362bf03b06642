"""The static filter on its own: harness.static.check.static_check.

Three groups: (1) the adversarial manifest's static expectations hold for every
candidate, and every family keeps a variant that walks past the filter (so the
dynamic checks must stop it); (2) each rule fires on the plain form of what it
looks for, with the right reason, and stays quiet on comments, strings and the
allowed API; (3) the shipped known-good kernels raise no reject and no
library_call flag.
"""
from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from harness.static.check import static_check
from harness.static.cpp import StaticReport, strip_cpp
from harness.task import BUILTIN_ROOT, load_task

HERE = Path(__file__).resolve().parent
MANIFEST = tomllib.loads((HERE / "manifest.toml").read_text())["candidate"]
FAMILIES = {
    "stale_memory", "input_mutation", "output_aliasing", "result_caching", "timing_escape", "precision_downgrade",
    "library_calls", "degenerate_task", "implausible_speed", "determinism", "format_b", "forgery",
    "runner_environment", "memory",
}
STATUSES = {"verified", "incorrect", "runtime_error", "timeout", "rejected", "compile_error"}
CHECK_NAMES = {"case:", "inputs:", "alias:", "determinism", "timed_outputs", "plausibility", "library_calls_runtime",
               "custom_kernel", "degenerate_task", "channel", "runtime", "memory", "reuse:", "race"}

CASES = [pytest.param(e, b, id=f"{e['file'].split('/')[-1]}-{b}") for e in MANIFEST for b in e["backends"]]


def check(report: StaticReport, rule: str):
    found = [c for c in report.checks if c.name == f"static_{rule}"]
    assert found, f"no check static_{rule} in {[c.name for c in report.checks]}"
    return found[0]


def cpp(body: str, backend: str = "cpu", fmt: str = "A") -> StaticReport:
    return static_check(body, format=fmt, backend=backend)


RELU_CU = r"""
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>
#define BLOCK 256  // tunable: 128 256 512
template <typename T>
__global__ void __launch_bounds__(BLOCK) relu_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t n) {
  int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (i < n) y[i] = x[i] > T(0) ? x[i] : T(0);
}
torch::Tensor forward(torch::Tensor x) {
  TORCH_CHECK(x.is_cuda(), "x must be a CUDA tensor");
  const at::cuda::OptionalCUDAGuard guard(x.device());
  auto xc = x.contiguous();
  auto y = torch::empty_like(xc);
  auto z = at::empty({xc.size(0)}, xc.options().dtype(torch::kFloat32));
  const int64_t n = xc.numel();
  const int threads = std::thread::hardware_concurrency() > 0 ? BLOCK : BLOCK;
  AT_DISPATCH_FLOATING_TYPES(xc.scalar_type(), "relu", [&] {
    relu_kernel<scalar_t><<<(n + threads - 1) / threads, threads, 0, at::cuda::getCurrentCUDAStream()>>>(
        xc.data_ptr<scalar_t>(), y.data_ptr<scalar_t>(), n);
  });
  return y;
}
PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("forward", &forward, "relu"); }
"""


# ---------------------------------------------------------------- (1) the manifest


def test_manifest_is_well_formed():
    assert len(MANIFEST) >= 24
    for e in MANIFEST:
        name = e["file"]
        assert (HERE / name).is_file(), name
        assert e["family"] in FAMILIES, name
        assert e["format"] in ("A", "B", "K"), name
        assert set(e["backends"]) <= {"cpu", "cuda"} and e["backends"], name
        assert set(e["expect_status"]) <= STATUSES and set(e["dynamic_status"]) <= STATUSES, name
        assert e["static"] in ("pass", "flag", "reject"), name
        assert e["static_alone_stops"] == (e["static"] == "reject"), name
        assert (e["static_rule"] == "") == (e["static"] == "pass"), name
        assert e["why"].strip(), name
        assert set(e["expect_checks"]) <= CHECK_NAMES, name
        assert set(e.get("postconditions", [])) <= {"no_survivors", "canary_absent", "no_marker_files"}, name
        assert set(e.get("requires", [])) <= {"openmp", "multi_core", "netns", "privilege_drop"}, name
        if "verified" in e["expect_status"]:
            # a verdict of verified is acceptable only with a flag to show for it, a timing floor,
            # a postcondition, or as the honest answer of a machine-dependent probe
            assert e.get("expect_flags") or e.get("min_kernel_ms") or e.get("postconditions") or e.get("requires"), name
        if e["static"] == "reject":
            assert e["expect_status"] == ["rejected"], name


def test_manifest_tasks_resolve():
    for task in {e["task"] for e in MANIFEST}:
        ref = load_task(task if task.startswith("level") else HERE / task)
        assert ref.functional, task


def test_every_family_has_a_variant_the_static_filter_misses():
    for family in FAMILIES:
        entries = [e for e in MANIFEST if e["family"] == family]
        assert entries, family
        assert any(e["static"] != "reject" for e in entries), f"{family}: every variant is stopped statically"


@pytest.mark.parametrize("entry,backend", CASES)
def test_manifest_static_expectation(entry, backend):
    report = static_check((HERE / entry["file"]).read_text(), format=entry["format"], backend=backend)
    if entry["static"] == "reject":
        assert report.rejected
        assert check(report, entry["static_rule"]).outcome == "fail"
        assert entry["static_rule"] in report.reason
    elif entry["static"] == "flag":
        assert not report.rejected, report.reason
        assert entry["static_rule"] in report.flags
        assert check(report, entry["static_rule"]).outcome == "flag"
    else:
        assert not report.rejected, report.reason
        assert report.flags == (), report.flags
    if entry["static_rule"] == "library_call":
        assert report.library_calls


# ---------------------------------------------------------------- (2) the rules


def test_report_shape():
    r = cpp(RELU_CU, backend="cuda")
    assert dataclasses.is_dataclass(r)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.rejected = True  # type: ignore[misc]
    assert not r.rejected and r.reason == "" and r.flags == () and r.library_calls == ()
    assert r.kernel_names == ("relu_kernel",)
    assert all(c.outcome == "pass" and c.reason for c in r.checks)
    assert {c.name for c in r.checks} >= {"static_library_call", "static_no_kernel", "static_io_access"}


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="format"):
        static_check("x", format="Z", backend="cpu")
    with pytest.raises(ValueError, match="backend"):
        static_check("x", format="A", backend="tpu")


def test_strip_keeps_offsets_and_blanks_comments_and_strings():
    src = 'int a; // cublasSgemm\n/* getenv(\n */ const char* s = "fopen(";\nauto r = R"x(exit(0))x";\n'
    s = strip_cpp(src)
    assert len(s.code) == len(src) and s.code.count("\n") == src.count("\n")
    assert "cublas" not in s.code and "getenv" not in s.code and "fopen" not in s.code and "exit" not in s.code
    assert [t for _, t in s.strings] == ["fopen(", "exit(0)"]


def test_comments_and_strings_do_not_trigger():
    src = RELU_CU.replace("return y;", '// at::matmul(x, x); cublasSgemm(); fork(); getenv("HF"); std::thread t;\n'
                          '  /* py::module_::import("torch") */ printf("system(exit) cudaStreamCreate");\n  return y;')
    r = cpp(src, backend="cuda")
    assert not r.rejected and r.flags == () and r.library_calls == ()


@pytest.mark.parametrize("call,name", [
    ("at::matmul(x, x)", "at::matmul"),
    ("torch::softmax(x, 1)", "torch::softmax"),
    ("torch::nn::functional::relu(x)", "torch::nn::functional::relu"),
    ("at::native::add(x, x)", "at::native::add"),
    ("x.matmul(x)", ".matmul()"),
    ("x.softmax(1)", ".softmax()"),
    ("x.conv2d(x)", ".conv2d()"),
    ("cublasSgemm(h, a, b)", "cublasSgemm"),
    ("cudnnConvolutionForward(h)", "cudnnConvolutionForward"),
    ("thrust::sort(p, p + 4)", "thrust::sort"),
    ("cub::DeviceReduce::Sum(t, b, p, q, 4)", "cub::DeviceReduce::Sum"),
])
def test_library_calls_are_flagged(call, name):
    r = cpp(f"#include <torch/extension.h>\ntorch::Tensor forward(torch::Tensor x) {{ auto r = {call}; return x; }}\n")
    assert not r.rejected
    assert "library_call" in r.flags and name in r.library_calls
    assert "line 2" in check(r, "library_call").reason


def test_allowed_api_and_header_libraries_are_not_library_calls():
    src = """
    #include <torch/extension.h>
    torch::Tensor forward(torch::Tensor x) {
      auto a = torch::empty({4}, x.options()); auto b = torch::empty_like(x); auto c = at::empty({2}, x.options());
      auto d = torch::zeros_like(x); auto o = torch::TensorOptions().dtype(torch::kFloat32);
      auto p = thrust::raw_pointer_cast(ptr); cute::Layout l; cutlass::half_t h; at::parallel_for(0, 4, 1, f);
      int64_t n = x.numel() + x.size(0) + x.stride(0) + x.dim(); auto t = x.scalar_type(); x.contiguous();
      return x;
    }
    """
    r = cpp(src)
    assert "library_call" not in r.flags, check(r, "library_call").reason


def test_cuda_needs_a_launched_kernel():
    no_kernel = "torch::Tensor forward(torch::Tensor a, torch::Tensor b) { return at::matmul(a, b); }"
    r = cpp(no_kernel, backend="cuda")
    assert r.rejected and "no __global__" in r.reason and r.kernel_names == ()
    assert not cpp(no_kernel, backend="cpu").rejected
    defined_only = "__global__ void k(float* y) { y[0] = 1; }\ntorch::Tensor forward(torch::Tensor x) { return x; }"
    r = cpp(defined_only, backend="cuda")
    assert r.rejected and "never launches" in r.reason and r.kernel_names == ("k",)
    launched = defined_only.replace("return x;", "cudaLaunchKernel((void*)k, 1, 1, args, 0, s); return x;")
    assert not cpp(launched, backend="cuda").rejected


@pytest.mark.parametrize("snippet,rule,rejects", [
    ("cudaStream_t s; cudaStreamCreate(&s);", "extra_stream", False),
    ("auto s = at::cuda::getStreamFromPool();", "extra_stream", False),
    ("cudaLaunchHostFunc(s, fn, nullptr);", "deferred_work", False),
    ("std::thread t(fn); t.detach();", "detached_thread", True),
    ("pthread_create(&t, nullptr, fn, nullptr);", "detached_thread", True),
    ("auto f = std::async(std::launch::async, fn);", "detached_thread", True),
    ("static std::unordered_map<const void*, torch::Tensor> cache;", "static_cache", False),
    ("static int calls = 0;", "static_cache", False),
    ("static torch::Tensor last;", "static_cache", False),
    ("thread_local float* p = nullptr;", "static_cache", False),
    ("auto t = py::module_::import(\"torch\");", "python_from_native", True),
    ("pybind11::module::import(\"os\");", "python_from_native", True),
    ("py::exec(\"print(1)\");", "python_from_native", True),
    ("PyRun_SimpleString(\"x\");", "python_from_native", True),
    ("PyImport_ImportModule(\"torch\");", "python_from_native", True),
    ("auto g = pybind11::globals();", "python_from_native", True),
    ("obj.attr(\"allclose\") = f;", "python_from_native", True),
    ("fork();", "process_control", True),
    ("system(\"ls\");", "process_control", True),
    ("std::exit(0);", "process_control", True),
    ("::_exit(0);", "process_control", True),
    ("abort();", "process_control", True),
    ("execvp(a, b);", "process_control", True),
    ("setsid();", "process_control", True),
    ("void* h = dlopen(\"libc.so.6\", 2);", "process_control", True),
    ("syscall(60, 0);", "process_control", True),
    ("asm volatile(\"syscall\");", "process_control", True),
    ("FILE* f = fopen(\"a\", \"r\");", "io_access", True),
    ("std::ifstream in(name);", "io_access", True),
    ("int s = socket(2, 1, 0);", "io_access", True),
    ("const char* t = std::getenv(\"X\");", "io_access", True),
    ("char** e = environ;", "io_access", True),
    ("readlink(p, buf, 10);", "io_access", True),
    ("const char* p = \"/proc/self/maps\";", "io_access", True),
    ("write(1, buf, 4);", "io_access", True),
])
def test_each_rule_fires_with_its_reason(snippet, rule, rejects):
    src = f"#include <torch/extension.h>\ntorch::Tensor forward(torch::Tensor x) {{\n  {snippet}\n  return x;\n}}\n"
    r = cpp(src)
    c = check(r, rule)
    assert c.outcome == ("fail" if rejects else "flag"), (c, r.reason)
    assert "line 3" in c.reason
    assert r.rejected == rejects or (not rejects and r.rejected is False)
    if rejects:
        assert rule in r.reason


def test_namespace_scope_state_is_a_cache_but_constants_and_functions_are_not():
    src = """
    #include <torch/extension.h>
    namespace {
    torch::Tensor g_last;
    float* g_ptr = nullptr;
    constexpr int kBlock = 256;
    const float kScale = 2.f;
    __constant__ float c_weights[16];
    static inline int helper(int a) { return a; }
    static __device__ __forceinline__ float sq(float v) { return v * v; }
    static const int kTable[2] = {1, 2};
    }
    torch::Tensor forward(torch::Tensor x);
    struct Params { int n; float* p; };
    torch::Tensor forward(torch::Tensor x) { static_assert(sizeof(int) == 4, "int"); return x; }
    """
    r = cpp(src)
    reason = check(r, "static_cache").reason
    assert "g_last" in reason and "g_ptr" in reason
    for quiet in ("kBlock", "kScale", "c_weights", "helper", "sq", "kTable", "forward", "Params"):
        assert quiet not in reason, quiet


def test_user_defined_names_are_not_mistaken_for_libc():
    src = """
    __device__ float read(const float* p, int i) { return p[i]; }
    struct Sink { void write(float) {} };
    torch::Tensor forward(torch::Tensor x) { Sink s; s.write(read(nullptr, 0)); return x; }
    """
    r = cpp(src)
    assert not r.rejected, r.reason


def test_hardware_concurrency_is_not_a_thread():
    r = cpp("int n() { return std::thread::hardware_concurrency(); }")
    assert check(r, "detached_thread").outcome == "pass"


def test_format_k_rejects_torch_headers():
    src = '#include <cuda_runtime.h>\n#include "torch/extension.h"\n__global__ void k(float* y) {}\n' \
          'extern "C" int ke_launch(float* y, cudaStream_t s) { k<<<1, 1, 0, s>>>(y); return 0; }\n'
    r = static_check(src, format="K", backend="cuda")
    assert r.rejected and "format_k_torch" in r.reason
    ok = static_check(src.replace('#include "torch/extension.h"\n', ""), format="K", backend="cuda")
    assert not ok.rejected and ok.kernel_names == ("k",)


# ---------------------------------------------------------------- format B

CPU_SRC = 'r"""\n#include <torch/extension.h>\ntorch::Tensor relu(torch::Tensor x) { return x; }\n"""'
CUDA_SRC = (
    'r"""\n#include <torch/extension.h>\n__global__ void k(float* y, int n) { if (threadIdx.x < n) y[0] = 0; }\n'
    'torch::Tensor relu(torch::Tensor x) { k<<<1, 1>>>(x.data_ptr<float>(), 1); return x; }\n"""'
)


def model_b(body: str = "        return ext.relu(x)\n", extra: str = "", src: str = CPU_SRC,
            call: str = 'load_inline(name="m", cpp_sources=SRC, functions=["relu"])') -> str:
    return (
        "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"
        "from torch.utils.cpp_extension import load_inline\n"
        f"SRC = {src}\n{extra}\next = {call}\n\n"
        "class ModelNew(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.lin = nn.Linear(4, 4)\n        self.ext = ext\n\n"
        f"    def forward(self, x):\n{body}"
    )


def test_format_b_clean_candidate_passes():
    r = static_check(model_b(), format="B", backend="cpu")
    assert not r.rejected, r.reason
    assert r.flags == ()
    r = static_check(model_b(src=CUDA_SRC, call='load_inline(name="m", cpp_sources="", cuda_sources=SRC)'),
                     format="B", backend="cuda")
    assert not r.rejected, r.reason
    assert r.kernel_names == ("k",)


@pytest.mark.parametrize("text,rule", [
    (model_b(extra="try:\n    import missing\nexcept ImportError:\n    pass\n"), "python_fallback"),
    (model_b().replace("class ModelNew(nn.Module)", "class ModelNew(Model)"), "inherits_reference"),
    (model_b(extra="torch.allclose = lambda *a, **k: True\n"), "monkeypatch"),
    (model_b(extra="setattr(torch, 'equal', None)\n"), "monkeypatch"),
    (model_b(extra="T = torch.testing\nT.assert_close = None\n"), "monkeypatch"),
    (model_b(extra="import gc\n"), "introspection"),
    (model_b(extra="import inspect\n"), "introspection"),
    (model_b(body="        import sys\n        return sys._getframe(1).f_locals['x']\n"), "introspection"),
    (model_b(extra="g = globals()\n"), "introspection"),
    (model_b(extra="C = torch._C\n"), "introspection"),
    (model_b(extra="o = torch.utils.cpp_extension.os\n"), "introspection"),
    (model_b(extra="import os\n"), "io_access"),
    (model_b(extra="import subprocess\n"), "io_access"),
    (model_b(extra="import socket\n"), "io_access"),
    (model_b(extra="from pathlib import Path\n"), "io_access"),
    (model_b(extra="data = open('/tmp/x').read()\n"), "io_access"),
    (model_b(body="        return torch.load('ref.pt')\n"), "io_access"),
    (model_b(extra="import time\n"), "import_not_allowed"),
    (model_b(extra="import numpy\n"), "import_not_allowed"),
    (model_b(body="        return module_fn(x)\n"), "reads_reference"),
    (model_b(extra="class Lazy(torch.Tensor):\n    pass\n"), "tensor_subclass"),
    (model_b(call="None"), "no_load_inline"),
    (model_b(src='f"{1}"'), "unresolved_source"),
    (model_b().replace("class ModelNew", "class Other"), "no_model_new"),
    ("class ModelNew(:\n", "syntax"),
])
def test_format_b_rejections(text, rule):
    r = static_check(text, format="B", backend="cpu")
    assert r.rejected
    assert check(r, rule).outcome == "fail", r.reason


@pytest.mark.parametrize("body,name", [
    ("        return F.relu(x)\n", "torch.nn.functional.relu"),
    ("        return torch.matmul(x, x)\n", "torch.matmul"),
    ("        return self.lin(x)\n", "torch.nn.Linear"),
    ("        return x.softmax(-1)\n", ".softmax()"),
])
def test_format_b_library_calls_in_forward(body, name):
    r = static_check(model_b(body=body), format="B", backend="cpu")
    assert not r.rejected, r.reason
    assert "library_call" in r.flags and any(name in c for c in r.library_calls)


def test_format_b_extension_methods_and_allocation_are_not_library_calls():
    body = "        y = torch.empty_like(x)\n        return self.ext.relu(x) if y is not None else ext.relu(y)\n"
    r = static_check(model_b(body=body), format="B", backend="cpu")
    assert not r.rejected and r.flags == (), (r.reason, r.flags)


def test_format_b_sources_get_the_native_rules():
    native = 'r"""\ntorch::Tensor relu(torch::Tensor x) { py::module_::import("torch"); return at::relu(x); }\n"""'
    r = static_check(model_b(src=native), format="B", backend="cpu")
    assert r.rejected and "python_from_native" in r.reason and "load_inline sources" in r.reason
    assert "at::relu" in r.library_calls
    # sources spread over module-level constants, lists and concatenation are still read
    split = model_b(src='"torch::Tensor relu(torch::Tensor x) { return x; }"',
                    extra='MORE = ["int helper() { return " + "fork(); }"]\n',
                    call='load_inline(name="m", cpp_sources=[SRC] + MORE, functions=["relu"])')
    r = static_check(split, format="B", backend="cpu")
    assert r.rejected and "fork()" in r.reason
    r = static_check(model_b(), format="B", backend="cuda")
    assert r.rejected and "no_kernel" in r.reason


def test_format_b_fast_math_is_flagged():
    call = 'load_inline(name="m", cpp_sources=SRC, functions=["relu"], extra_cflags=["--use_fast_math"])'
    r = static_check(model_b(call=call), format="B", backend="cpu")
    assert not r.rejected and "fast_math" in r.flags


# ---------------------------------------------------------------- (3) shipped known-good kernels

KNOWN_GOOD = sorted(p for p in BUILTIN_ROOT.glob("level*/*") if p.suffix in (".cu", ".cpp"))


@pytest.mark.parametrize("path", KNOWN_GOOD, ids=[f"{p.parent.name}/{p.name}" for p in KNOWN_GOOD])
def test_known_good_kernels_pass(path):
    backend = "cuda" if path.suffix == ".cu" else "cpu"
    r = static_check(path.read_text(), format="K" if path.name.endswith((".k.cu", ".k.cpp")) else "A", backend=backend)
    assert not r.rejected, r.reason
    assert "library_call" not in r.flags, r.library_calls
    if backend == "cuda":
        assert r.kernel_names


def test_realistic_honest_kernel_is_clean():
    """Guards, std::bind, lambdas named like libc calls, cooperative groups, printf, AT_DISPATCH."""
    r = static_check((HERE / "honest" / "softmax_realistic.cu").read_text(), format="A", backend="cuda")
    assert not r.rejected, r.reason
    assert r.flags == () and r.library_calls == ()
    assert r.kernel_names == ("row_softmax",)


def test_kernelbench_style_format_b_is_clean():
    r = static_check((HERE / "honest" / "kernelbench_style_b.py").read_text(), format="B", backend="cuda")
    assert not r.rejected, r.reason
    assert r.flags == () and r.kernel_names == ("elementwise_add_kernel",)


def test_known_good_kernels_exist_or_are_reported():
    if not KNOWN_GOOD:
        pytest.skip("no known-good kernels shipped in pipeline/tasks yet")
    assert all(p.parent.joinpath(p.name.split(".")[0] + ".py").is_file() for p in KNOWN_GOOD)
