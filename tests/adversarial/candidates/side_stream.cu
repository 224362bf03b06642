// timing_escape (plain, CUDA): the real work goes on a private non-blocking stream and the
// call returns at once, so events recorded on the current stream see nothing. The work
// starts with a ~20 ms spin, so its output is not ready when the call returns.
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>

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
  cudaStream_t side;
  cudaStreamCreateWithFlags(&side, cudaStreamNonBlocking);
  spin_ns<<<1, 1, 0, side>>>(20000000ULL);
  relu_kernel<<<(n + 255) / 256, 256, 0, side>>>(xc.data_ptr<float>(), y.data_ptr<float>(), n);
  // no sync, no event back to the current stream; the stream is never destroyed
  return y;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("forward", &forward, "relu on a side stream"); }
