// implausible_speed (CUDA): the "150x kernel that did nothing". An empty kernel launch and an
// untouched output: far below the speed-of-light floor, and wrong.
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>

__global__ void nothing() {}

torch::Tensor forward(torch::Tensor x) {
  auto y = torch::empty_like(x);
  nothing<<<1, 1, 0, at::cuda::getCurrentCUDAStream()>>>();
  return y;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("forward", &forward, "relu (does nothing)"); }
