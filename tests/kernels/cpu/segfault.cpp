// Refusal: dereferences a bad pointer.
#include <torch/extension.h>
torch::Tensor forward(torch::Tensor x) {
  volatile float* p = reinterpret_cast<float*>(x.numel() * 0 + 16);
  p[0] = 1.f;
  return x;
}
PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("forward", &forward); }
