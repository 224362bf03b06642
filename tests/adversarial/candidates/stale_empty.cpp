// stale_memory (plain, CPU): returns torch::empty_like(x) and writes nothing,
// hoping the allocator hands back the block where a reference result used to be.
#include <torch/extension.h>

torch::Tensor forward(torch::Tensor x) {
  auto y = torch::empty_like(x);
  return y;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("forward", &forward, "relu (writes nothing)"); }
