// Refusal: ends its process with status 0 mid-call, through the raw syscall (no static rule names it).
#include <torch/extension.h>
#include <unistd.h>
#include <sys/syscall.h>
torch::Tensor forward(torch::Tensor x) {
  syscall(SYS_exit_group, 0);
  return x;
}
PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("forward", &forward); }
