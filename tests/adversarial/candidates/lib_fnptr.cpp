// library_calls (obfuscated, CPU): ATen's relu called through a function pointer, so no
// `at::relu(` appears in the text. Only a dynamic look at what ran (the profiler's aten::
// ops inside the candidate's call) can see it.
#include <torch/extension.h>

using unary_op = at::Tensor (*)(const at::Tensor&);

torch::Tensor forward(torch::Tensor x) {
  unary_op op = &at::relu;
  return op(x);
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("forward", &forward, "relu via a pointer to ATen"); }
