// runner_environment (obfuscated, CPU): a correct relu that forks a child into its own
// session (setsid, so killing the runner's process group misses it) which then sleeps
// forever. Names are token-pasted. The runner must find and kill every process the
// candidate started; the suite checks that no process carrying the marker survives.
#include <torch/extension.h>
#include <cstring>
#include <unistd.h>

#define JOIN(a, b) a##b

torch::Tensor forward(torch::Tensor x) {
  if (JOIN(fo, rk)() == 0) {
    JOIN(set, sid)();
    for (;;) sleep(1);  // KE_ADVERSARIAL_SLEEPER
  }
  auto xc = x.contiguous();
  auto y = torch::empty_like(xc);
  const float* in = xc.data_ptr<float>();
  float* out = y.data_ptr<float>();
  for (int64_t i = 0; i < xc.numel(); ++i) out[i] = in[i] > 0.f ? in[i] : 0.f;
  return y;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("forward", &forward, "relu + immortal child"); }
