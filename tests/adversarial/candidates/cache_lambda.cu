// result_caching (obfuscated, CUDA): the memo lives in a lambda capture, keyed on numel.
// Passes the static filter.
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>
#include <memory>

struct Memo {
  int64_t numel = -1;
  torch::Tensor out;
};

__global__ void relu_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t n) {
  int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (i < n) y[i] = fmaxf(x[i], 0.f);
}

torch::Tensor relu_cuda(torch::Tensor x) {
  auto xc = x.contiguous();
  auto y = torch::empty_like(xc);
  const int64_t n = xc.numel();
  relu_kernel<<<(n + 255) / 256, 256, 0, at::cuda::getCurrentCUDAStream()>>>(
      xc.data_ptr<float>(), y.data_ptr<float>(), n);
  return y;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  auto memo = std::make_shared<Memo>();
  m.def("forward", [memo](torch::Tensor x) {
    if (memo->out.defined() && memo->numel == x.numel()) return memo->out;
    memo->numel = x.numel();
    memo->out = relu_cuda(x);
    return memo->out;
  }, "relu (memoised in a closure)");
}
