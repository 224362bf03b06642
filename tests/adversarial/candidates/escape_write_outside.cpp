// runner_environment (obfuscated, CPU): a correct relu that tries to write a marker file
// outside its temporary directory: next to its own shared object (the build cache) and one
// level up, in $HOME, and two levels above its working directory. The runner's unprivileged
// uid must make these writes fail where the OS allows dropping privileges; THREAT_MODEL.md
// says what is not guaranteed otherwise.
#include <torch/extension.h>
#include <dlfcn.h>
#include <cstdio>
#include <pwd.h>
#include <string>
#include <unistd.h>

#define JOIN(a, b) a##b

static void mark(const std::string& dir) {
  if (dir.empty()) return;
  FILE* f = JOIN(fop, en)((dir + "/KE_ESCAPE_MARKER").c_str(), "w");
  if (f) {
    std::fputs("written by tests/adversarial/candidates/escape_write_outside.cpp\n", f);
    fclose(f);
  }
}

static std::string parent(const std::string& p) {
  auto k = p.find_last_of('/');
  return k == std::string::npos || k == 0 ? std::string() : p.substr(0, k);
}

torch::Tensor forward(torch::Tensor x) {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&mark), &info) && info.dli_fname) {
    std::string so_dir = parent(info.dli_fname);
    mark(so_dir);
    mark(parent(so_dir));
  }
  if (passwd* pw = getpwuid(getuid())) mark(pw->pw_dir);
  mark("../..");
  auto xc = x.contiguous();
  auto y = torch::empty_like(xc);
  const float* in = xc.data_ptr<float>();
  float* out = y.data_ptr<float>();
  for (int64_t i = 0; i < xc.numel(); ++i) out[i] = in[i] > 0.f ? in[i] : 0.f;
  return y;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("forward", &forward, "relu + writes outside"); }
