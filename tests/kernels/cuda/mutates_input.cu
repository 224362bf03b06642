// Refusal: computes ReLU in place in its input, then copies it out.
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>
__global__ void relu_inplace(float* x, float* y, int64_t n) {
  int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (i < n) { x[i] = x[i] > 0.f ? x[i] : 0.f; y[i] = x[i]; }
}
torch::Tensor forward(torch::Tensor x) {
  auto y = torch::empty_like(x); int64_t n = x.numel();
  relu_inplace<<<(n + 255) / 256, 256, 0, at::cuda::getCurrentCUDAStream()>>>(x.data_ptr<float>(), y.data_ptr<float>(), n);
  return y;
}
PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("forward", &forward); }
