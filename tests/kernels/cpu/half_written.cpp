// Refusal: writes only the first half of its output.
#include <torch/extension.h>
torch::Tensor forward(torch::Tensor x) {
  auto xc = x.contiguous();
  auto y = torch::empty_like(xc);
  const float* a = xc.data_ptr<float>();
  float* b = y.data_ptr<float>();
  const int64_t n = xc.numel();
  for (int64_t i = 0; i < n / 2; ++i) b[i] = a[i] > 0.f ? a[i] : 0.f;
  return y;
}
PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("forward", &forward); }
