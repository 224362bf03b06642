// runner_environment (CUDA): a kernel writes through a bogus device pointer (illegal memory
// access). The CUDA error poisons this process only and must become a runtime_error.
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>

__global__ void scribble(float* bogus) { bogus[threadIdx.x * 1024] = 1.f; }

torch::Tensor forward(torch::Tensor x) {
  auto y = torch::empty_like(x);
  scribble<<<1, 32, 0, at::cuda::getCurrentCUDAStream()>>>(reinterpret_cast<float*>(0x10));
  return y;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("forward", &forward, "illegal address"); }
