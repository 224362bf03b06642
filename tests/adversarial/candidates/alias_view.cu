// output_aliasing (CUDA): relu in place, then return a reshaped view of the input.
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>

__global__ void relu_inplace(float* x, int64_t n) {
  int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (i < n) x[i] = fmaxf(x[i], 0.f);
}

torch::Tensor forward(torch::Tensor x) {
  TORCH_CHECK(x.is_contiguous(), "x must be contiguous");
  const int64_t n = x.numel();
  relu_inplace<<<(n + 255) / 256, 256, 0, at::cuda::getCurrentCUDAStream()>>>(x.data_ptr<float>(), n);
  return x.view({-1}).view(x.sizes());
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("forward", &forward, "relu (returns a view of x)"); }
