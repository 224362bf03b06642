// implausible_speed (obfuscated, CUDA): right for the first few calls (the correctness
// phase), then it only recomputes every 16th call and otherwise hands back the last output.
// The timed loop looks ~16x faster than the work it claims. State lives in a closure, so
// the static filter sees no cache; rotating inputs across timed calls and spot-checking
// their outputs must catch it.
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>
#include <memory>

struct State {
  int64_t calls = 0;
  torch::Tensor last;
};

__global__ void relu_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t n) {
  int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (i < n) y[i] = fmaxf(x[i], 0.f);
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  auto st = std::make_shared<State>();
  m.def("forward", [st](torch::Tensor x) {
    const int64_t k = st->calls++;
    if (k >= 4 && (k % 16) != 0 && st->last.defined() && st->last.sizes() == x.sizes()) return st->last;
    auto xc = x.contiguous();
    auto y = torch::empty_like(xc);
    const int64_t n = xc.numel();
    relu_kernel<<<(n + 255) / 256, 256, 0, at::cuda::getCurrentCUDAStream()>>>(
        xc.data_ptr<float>(), y.data_ptr<float>(), n);
    st->last = y;
    return y;
  }, "relu (skips work once warmed up)");
}
