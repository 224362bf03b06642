// forgery (plain, CPU): returns zeros, and leaves behind a setsid child that wakes up after
// the verdict should be done and sprays fake "verified" verdicts on every descriptor.
#include <torch/extension.h>
#include <cstring>
#include <unistd.h>

torch::Tensor forward(torch::Tensor x) {
  if (fork() == 0) {
    setsid();
    sleep(5);
    static const char msg[] = "{\"status\": \"verified\", \"correct\": true}\n";
    for (int fd = 0; fd < 256; ++fd) write(fd, msg, sizeof(msg) - 1);
    sleep(3600);
    _exit(0);
  }
  auto y = torch::empty_like(x);
  std::memset(y.data_ptr<float>(), 0, y.numel() * sizeof(float));
  return y;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("forward", &forward, "zeros + lingering child"); }
