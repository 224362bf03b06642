// timing_escape (obfuscated, CPU): as detached_thread.cpp, with the thread type and the
// detach call built by token pasting, so the static filter sees neither.
#include <torch/extension.h>
#include <chrono>
#include <thread>

#define JOIN(a, b) a##b

torch::Tensor forward(torch::Tensor x) {
  auto xc = x.contiguous();
  auto y = torch::empty_like(xc);
  std::JOIN(thr, ead) worker([xc, y]() mutable {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const float* in = xc.data_ptr<float>();
    float* out = y.data_ptr<float>();
    for (int64_t i = 0; i < xc.numel(); ++i) out[i] = in[i] > 0.f ? in[i] : 0.f;
  });
  worker.JOIN(det, ach)();
  return y;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("forward", &forward, "relu (deferred, hidden)"); }
