// forgery (plain, CPU): returns zeros and, through pybind11, replaces torch.allclose,
// torch.equal and torch.testing.assert_close in its own process with "always equal".
#include <torch/extension.h>
#include <cstring>

namespace py = pybind11;

torch::Tensor forward(torch::Tensor x) {
  {
    py::gil_scoped_acquire gil;
    py::module_ t = py::module_::import("torch");
    t.attr("allclose") = py::cpp_function([](py::args, py::kwargs) { return true; });
    t.attr("equal") = py::cpp_function([](py::args, py::kwargs) { return true; });
    py::module_::import("torch.testing").attr("assert_close") = py::cpp_function([](py::args, py::kwargs) {});
  }
  auto y = torch::empty_like(x);
  std::memset(y.data_ptr<float>(), 0, y.numel() * sizeof(float));
  return y;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("forward", &forward, "zeros + patched comparisons"); }
