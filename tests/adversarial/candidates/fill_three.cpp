// degenerate_task (CPU): the task's output is 3.0 whatever the input; so is this kernel's.
#include <torch/extension.h>

torch::Tensor forward(torch::Tensor x) {
  auto y = torch::empty_like(x);
  float* out = y.data_ptr<float>();
  const int64_t n = y.numel();
#pragma omp parallel for
  for (int64_t i = 0; i < n; ++i) out[i] = 3.f;
  return y;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("forward", &forward, "threes"); }
