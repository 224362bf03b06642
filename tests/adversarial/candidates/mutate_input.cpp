// input_mutation (CPU): the output is right, but the kernel also rewrites its input in
// place (relu(x) into x). A harness that compares against a reference computed from the
// same, now mutated, tensor would be skewed; the candidate must be failed for it.
#include <torch/extension.h>

torch::Tensor forward(torch::Tensor x) {
  TORCH_CHECK(x.is_contiguous(), "x must be contiguous");
  auto y = torch::empty_like(x);
  float* in = x.data_ptr<float>();
  float* out = y.data_ptr<float>();
  const int64_t n = x.numel();
#pragma omp parallel for
  for (int64_t i = 0; i < n; ++i) {
    out[i] = in[i] > 0.f ? in[i] : 0.f;
    in[i] = out[i];
  }
  return y;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("forward", &forward, "relu (mutates x)"); }
