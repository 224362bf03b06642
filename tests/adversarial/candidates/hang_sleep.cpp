// runner_environment (CPU): sleeps for a day. The parent's wall-clock timeout must end it
// and kill its process group (status timeout).
#include <torch/extension.h>
#include <chrono>
#include <thread>

torch::Tensor forward(torch::Tensor x) {
  std::this_thread::sleep_for(std::chrono::hours(24));
  return x;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("forward", &forward, "sleep forever"); }
