// Refusal: a kernel that spins for far longer than any timeout.
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>
__global__ void spin(float* y) { for (;;) { __nanosleep(1000000); if (y == nullptr) break; } }
torch::Tensor forward(torch::Tensor x) {
  auto y = torch::empty_like(x);
  spin<<<1, 1, 0, at::cuda::getCurrentCUDAStream()>>>(y.data_ptr<float>());
  cudaDeviceSynchronize();
  return y;
}
PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("forward", &forward); }
