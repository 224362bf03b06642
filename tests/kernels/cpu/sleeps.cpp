// Refusal: sleeps past any timeout (through nanosleep, which no static rule names).
#include <torch/extension.h>
#include <time.h>
torch::Tensor forward(torch::Tensor x) {
  struct timespec t{3600, 0};
  nanosleep(&t, nullptr);
  return x;
}
PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("forward", &forward); }
