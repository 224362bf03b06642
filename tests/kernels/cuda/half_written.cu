// Refusal: writes only the first half of the output.
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>
__global__ void relu_half(const float* x, float* y, int64_t n) {
  int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (i < n / 2) y[i] = x[i] > 0.f ? x[i] : 0.f;
}
torch::Tensor forward(torch::Tensor x) {
  auto xc = x.contiguous(); auto y = torch::empty_like(xc); int64_t n = xc.numel();
  relu_half<<<(n + 255) / 256, 256, 0, at::cuda::getCurrentCUDAStream()>>>(xc.data_ptr<float>(), y.data_ptr<float>(), n);
  return y;
}
PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("forward", &forward); }
