// runner_environment (CUDA): a kernel that never ends (it waits for a flag nobody sets).
// The host blocks in the next synchronize; the parent's timeout must kill the process.
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>

__global__ void wait_forever(volatile int* flag) {
  while (flag[0] == 0) {}
}

torch::Tensor forward(torch::Tensor x) {
  auto flag = torch::zeros({1}, x.options().dtype(torch::kInt32));
  wait_forever<<<1, 1, 0, at::cuda::getCurrentCUDAStream()>>>(flag.data_ptr<int>());
  return torch::empty_like(x);
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("forward", &forward, "spin forever"); }
