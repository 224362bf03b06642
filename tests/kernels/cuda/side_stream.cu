// Refusal: does the work on a side stream with a slow spin first, returning before it is done (timing escape).
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>
__global__ void relu_slow(const float* x, float* y, int64_t n) {
  int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (i == 0) __nanosleep(100000);
  if (i < n) y[i] = x[i] > 0.f ? x[i] : 0.f;
}
torch::Tensor forward(torch::Tensor x) {
  static cudaStream_t s = nullptr;
  if (!s) cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
  auto xc = x.contiguous(); auto y = torch::empty_like(xc); int64_t n = xc.numel();
  relu_slow<<<(n + 255) / 256, 256, 0, s>>>(xc.data_ptr<float>(), y.data_ptr<float>(), n);
  return y;
}
PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("forward", &forward); }
