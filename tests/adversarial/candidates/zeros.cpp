// degenerate_task (CPU): the task's reference is identically zero, so writing zeros is
// "correct" and arbitrarily fast. The harness must flag the task, not crown the kernel.
#include <torch/extension.h>
#include <cstring>

torch::Tensor forward(torch::Tensor x) {
  auto y = torch::empty_like(x);
  std::memset(y.data_ptr<float>(), 0, y.numel() * sizeof(float));
  return y;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("forward", &forward, "zeros"); }
