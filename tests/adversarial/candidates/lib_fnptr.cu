// library_calls (obfuscated, CUDA): launches a token __global__ (so the no-kernel rule is
// satisfied) and does the real work with at::matmul called through a function pointer.
// custom_kernel_fraction (profiler) must show that almost no time is in its own kernel.
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>

using binary_op = at::Tensor (*)(const at::Tensor&, const at::Tensor&);

__global__ void token_kernel(float* y) {
  if (threadIdx.x == 0 && blockIdx.x == 0) y[0] = y[0];
}

torch::Tensor forward(torch::Tensor a, torch::Tensor b) {
  binary_op op = &at::matmul;
  auto c = op(a, b);
  token_kernel<<<1, 32, 0, at::cuda::getCurrentCUDAStream()>>>(c.data_ptr<float>());
  return c;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("forward", &forward, "matmul via a pointer to ATen"); }
