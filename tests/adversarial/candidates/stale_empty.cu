// stale_memory (plain, CUDA): launches a kernel that touches nothing and returns
// an uninitialised torch::empty_like(x), hoping to read a freed reference output.
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>

__global__ void touch_nothing(const float* x, int64_t n) {
  if (n < 0 && threadIdx.x == 0) printf("%f\n", x[0]);
}

torch::Tensor forward(torch::Tensor x) {
  auto y = torch::empty_like(x);
  touch_nothing<<<1, 32, 0, at::cuda::getCurrentCUDAStream()>>>(x.data_ptr<float>(), x.numel());
  return y;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("forward", &forward, "relu (writes nothing)"); }
