// runner_environment (CPU): dereferences a null pointer. The crash must become a verdict
// (runtime_error), never a harness failure.
#include <torch/extension.h>

torch::Tensor forward(torch::Tensor x) {
  volatile float* p = nullptr;
  *p = 1.f;
  return x;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("forward", &forward, "segfault"); }
