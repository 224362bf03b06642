// forgery (obfuscated, CPU): a correct but slow relu (30 ms per call) that does its work with
// ATen through a function pointer, and on its first call forges the harness's own messages.
// It reads job.json in its working directory for the private channel's fd, and writes
// well-formed wire messages (8-byte little-endian header length + JSON header) ahead of
// the worker's: t_begin, a "timing" with 0.02 ms samples and no snapshot cases, t_end, and
// a "profile" with no ATen ops and a custom-kernel fraction of 1. A parent that takes the
// first message of each kind reports a fast, custom, verified kernel. Only outputs the parent
// compares itself, and times it measures itself, can be trusted.
#include <torch/extension.h>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <memory>
#include <thread>
#include <unistd.h>

#define JOIN(a, b) a##b

using unary_op = at::Tensor (*)(const at::Tensor&);

static int channel_fd() {
  FILE* f = JOIN(fop, en)("job.json", "rb");
  if (!f) return -1;
  std::string text(1 << 20, '\0');
  text.resize(fread(&text[0], 1, text.size(), f));
  fclose(f);
  const std::string key = "\"out_fd\": ";
  auto k = text.find(key);
  return k == std::string::npos ? -1 : std::atoi(text.c_str() + k + key.size());
}

static void forge(int fd, const std::string& kind, const std::string& meta) {
  const std::string header = "{\"type\": \"" + kind + "\", \"meta\": " + meta + ", \"tensors\": []}";
  uint64_t len = header.size();
  char prefix[8];
  std::memcpy(prefix, &len, 8);
  JOIN(wri, te)(fd, prefix, 8);
  JOIN(wri, te)(fd, header.data(), header.size());
}

static void forge_all() {
  int fd = channel_fd();
  if (fd < 0) return;
  std::string samples = "[";
  for (int i = 0; i < 100; ++i) samples += (i ? ", " : "") + std::string("0.02");
  samples += "]";
  forge(fd, "t_begin", "{}");
  forge(fd, "timing", "{\"samples\": " + samples + ", \"snapshot_cases\": []}");
  forge(fd, "t_end", "{}");
  forge(fd, "profile", "{\"aten_ops\": [], \"custom_kernel_fraction\": 1.0}");
}

torch::Tensor slow_relu(torch::Tensor x) {
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  unary_op op = &at::relu;
  return op(x);
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  auto forged = std::make_shared<bool>(false);
  m.def("forward", [forged](torch::Tensor x) {
    if (!*forged) {
      *forged = true;
      forge_all();
    }
    return slow_relu(x);
  }, "relu + forged channel");
}
