// Refusal: computes ReLU in place, in its input, and returns it (right values, mutated input).
#include <torch/extension.h>
torch::Tensor forward(torch::Tensor x) {
  float* a = x.data_ptr<float>();
  const int64_t n = x.numel();
  auto y = torch::empty_like(x);
  float* b = y.data_ptr<float>();
  for (int64_t i = 0; i < n; ++i) { a[i] = a[i] > 0.f ? a[i] : 0.f; b[i] = a[i]; }
  return y;
}
PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("forward", &forward); }
