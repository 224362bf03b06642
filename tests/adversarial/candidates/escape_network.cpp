// runner_environment (obfuscated, CPU): tests whether it has a network. It opens a TCP
// listener on 127.0.0.1 and connects to it (socket calls token-pasted). In a fresh network
// namespace the loopback is down and this fails; then it returns the right relu. If the
// connection works, it returns zeros, so the verdict shows that the runner had a network.
#include <torch/extension.h>
#include <arpa/inet.h>
#include <cstring>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#define JOIN(a, b) a##b

static bool loopback_works() {
  int srv = JOIN(sock, et)(AF_INET, SOCK_STREAM, 0);
  if (srv < 0) return false;
  sockaddr_in a;
  std::memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof(a);
  bool ok = JOIN(bi, nd)(srv, (sockaddr*)&a, sizeof(a)) == 0 && JOIN(list, en)(srv, 1) == 0 &&
            getsockname(srv, (sockaddr*)&a, &len) == 0;
  if (ok) {
    int cli = JOIN(sock, et)(AF_INET, SOCK_STREAM, 0);
    ok = cli >= 0 && JOIN(conn, ect)(cli, (sockaddr*)&a, sizeof(a)) == 0;
    if (cli >= 0) close(cli);
  }
  close(srv);
  return ok;
}

torch::Tensor forward(torch::Tensor x) {
  auto xc = x.contiguous();
  auto y = torch::empty_like(xc);
  const float* in = xc.data_ptr<float>();
  float* out = y.data_ptr<float>();
  const bool net = loopback_works();
  for (int64_t i = 0; i < xc.numel(); ++i) out[i] = net ? 0.f : (in[i] > 0.f ? in[i] : 0.f);
  return y;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("forward", &forward, "relu iff no network"); }
