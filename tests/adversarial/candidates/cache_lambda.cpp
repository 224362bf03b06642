// result_caching (obfuscated, CPU): no `static`, no global. The cache lives in a lambda
// capture created when the module is defined, keyed on the input's data pointer and size.
// Passes the static filter; changing inputs between calls must catch it.
#include <torch/extension.h>
#include <memory>

struct Memo {
  const void* ptr = nullptr;
  int64_t numel = -1;
  torch::Tensor out;
};

torch::Tensor relu_cpu(torch::Tensor x) {
  auto xc = x.contiguous();
  auto y = torch::empty_like(xc);
  const float* in = xc.data_ptr<float>();
  float* out = y.data_ptr<float>();
  const int64_t n = xc.numel();
#pragma omp parallel for
  for (int64_t i = 0; i < n; ++i) out[i] = in[i] > 0.f ? in[i] : 0.f;
  return y;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  auto memo = std::make_shared<Memo>();
  m.def("forward", [memo](torch::Tensor x) {
    if (memo->out.defined() && (memo->ptr == x.data_ptr() || memo->numel == x.numel())) return memo->out;
    memo->ptr = x.data_ptr();
    memo->numel = x.numel();
    memo->out = relu_cpu(x);
    return memo->out;
  }, "relu (memoised in a closure)");
}
