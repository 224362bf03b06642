// runner_environment (obfuscated, CUDA): launches half of the work, then leaves the process
// with status 0 through a token-pasted _Exit. No output ever reaches the parent: the
// verdict must be runtime_error.
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>
#include <cstdlib>

#define JOIN(a, b) a##b

__global__ void relu_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t n) {
  int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (i < n) y[i] = fmaxf(x[i], 0.f);
}

torch::Tensor forward(torch::Tensor x) {
  auto xc = x.contiguous();
  auto y = torch::empty_like(xc);
  const int64_t half = xc.numel() / 2;
  relu_kernel<<<(half + 255) / 256, 256, 0, at::cuda::getCurrentCUDAStream()>>>(
      xc.data_ptr<float>(), y.data_ptr<float>(), half);
  cudaDeviceSynchronize();
  JOIN(_Ex, it)(0);
  return y;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("forward", &forward, "_Exit(0) mid-call"); }
