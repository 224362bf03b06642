// input_mutation (CUDA): right output, and the input is overwritten with it.
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>

__global__ void relu_and_clobber(float* x, float* y, int64_t n) {
  int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (i < n) {
    float v = fmaxf(x[i], 0.f);
    y[i] = v;
    x[i] = v;
  }
}

torch::Tensor forward(torch::Tensor x) {
  TORCH_CHECK(x.is_contiguous(), "x must be contiguous");
  auto y = torch::empty_like(x);
  const int64_t n = x.numel();
  relu_and_clobber<<<(n + 255) / 256, 256, 0, at::cuda::getCurrentCUDAStream()>>>(
      x.data_ptr<float>(), y.data_ptr<float>(), n);
  return y;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("forward", &forward, "relu (mutates x)"); }
