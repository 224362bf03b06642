// Refusal: launches a kernel that writes nothing; returns torch::empty (poisoned memory).
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>
__global__ void nothing(float* y, int64_t n) {}
torch::Tensor forward(torch::Tensor x) {
  auto y = torch::empty_like(x);
  nothing<<<1, 32, 0, at::cuda::getCurrentCUDAStream()>>>(y.data_ptr<float>(), y.numel());
  return y;
}
PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("forward", &forward); }
