// stale_memory (plain, CPU): computes only the first half of the output and leaves
// the rest uninitialised.
#include <torch/extension.h>

torch::Tensor forward(torch::Tensor x) {
  auto xc = x.contiguous();
  auto y = torch::empty_like(xc);
  const float* in = xc.data_ptr<float>();
  float* out = y.data_ptr<float>();
  const int64_t half = xc.numel() / 2;
#pragma omp parallel for
  for (int64_t i = 0; i < half; ++i) out[i] = in[i] > 0.f ? in[i] : 0.f;
  return y;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("forward", &forward, "relu (half written)"); }
