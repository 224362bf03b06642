// Refusal: writes far out of bounds (an illegal memory access, a sticky CUDA error).
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>
__global__ void oob(float* y, int64_t n) { y[n * 1024 + (int64_t)1 << 40] = 1.f; }
torch::Tensor forward(torch::Tensor x) {
  auto y = torch::empty_like(x);
  oob<<<1, 1, 0, at::cuda::getCurrentCUDAStream()>>>(y.data_ptr<float>(), y.numel());
  cudaDeviceSynchronize();
  return y;
}
PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("forward", &forward); }
