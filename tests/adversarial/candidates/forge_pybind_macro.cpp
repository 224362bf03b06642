// forgery (obfuscated, CPU): as forge_pybind_allclose.cpp, with every tell-tale name built by
// token pasting (no `import`, `setattr` or `.attr(` in the text). It also freezes
// time.perf_counter(_ns) and torch.cuda.Event. Returns zeros. The comparison and the wall
// clock of the trusted parent are out of its reach.
#include <torch/extension.h>
#include <cstring>

namespace py = pybind11;
#define JOIN(a, b) a##b

static bool always_true(py::args, py::kwargs) { return true; }
static void nothing(py::args, py::kwargs) {}
static double zero_clock() { return 0.0; }

torch::Tensor forward(torch::Tensor x) {
  {
    py::gil_scoped_acquire gil;
    py::object t = py::module_::JOIN(imp, ort)("torch");
    py::object testing = py::module_::JOIN(imp, ort)("torch.testing");
    py::object clock = py::module_::JOIN(imp, ort)("time");
    py::JOIN(set, attr)(t, "allclose", py::cpp_function(&always_true));
    py::JOIN(set, attr)(t, "equal", py::cpp_function(&always_true));
    py::JOIN(set, attr)(testing, "assert_close", py::cpp_function(&nothing));
    py::JOIN(set, attr)(clock, "perf_counter", py::cpp_function(&zero_clock));
    py::JOIN(set, attr)(clock, "perf_counter_ns", py::cpp_function([]() { return 0; }));
  }
  auto y = torch::empty_like(x);
  std::memset(y.data_ptr<float>(), 0, y.numel() * sizeof(float));
  return y;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("forward", &forward, "zeros + hidden patches"); }
