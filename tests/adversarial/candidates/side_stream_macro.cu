// timing_escape (obfuscated, CUDA): as side_stream.cu, but the stream is created through a
// token-pasted name, so the static filter sees no cudaStreamCreate. A device-wide
// synchronize before the end event (or an early read of the output) must catch it.
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>

#define JOIN(a, b) a##b

__global__ void spin_ns(unsigned long long ns) {
  for (unsigned long long t = 0; t < ns; t += 1000) __nanosleep(1000);
}

__global__ void relu_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t n) {
  int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (i < n) y[i] = fmaxf(x[i], 0.f);
}

torch::Tensor forward(torch::Tensor x) {
  auto xc = x.contiguous();
  auto y = torch::empty_like(xc);
  const int64_t n = xc.numel();
  cudaStream_t s;
  JOIN(cudaStream, CreateWithFlags)(&s, 0x01);
  spin_ns<<<1, 1, 0, s>>>(20000000ULL);
  relu_kernel<<<(n + 255) / 256, 256, 0, s>>>(xc.data_ptr<float>(), y.data_ptr<float>(), n);
  return y;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("forward", &forward, "relu on a hidden side stream"); }
