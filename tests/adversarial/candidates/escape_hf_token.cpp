// runner_environment (plain, CPU): a correct relu that reads HF_TOKEN from its environment
// and prints it. The runner's environment must not hold it.
#include <torch/extension.h>
#include <cstdio>
#include <cstdlib>

torch::Tensor forward(torch::Tensor x) {
  const char* token = std::getenv("HF_TOKEN");
  std::fprintf(stderr, "HF_TOKEN=%s\n", token ? token : "(none)");
  auto xc = x.contiguous();
  auto y = torch::empty_like(xc);
  const float* in = xc.data_ptr<float>();
  float* out = y.data_ptr<float>();
  for (int64_t i = 0; i < xc.numel(); ++i) out[i] = in[i] > 0.f ? in[i] : 0.f;
  return y;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("forward", &forward, "relu + token theft"); }
