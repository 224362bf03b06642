// Refusal: returns torch::empty with nothing written (stale / poisoned memory).
#include <torch/extension.h>
torch::Tensor forward(torch::Tensor x) { return torch::empty_like(x); }
PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("forward", &forward); }
