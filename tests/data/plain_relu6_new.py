"""A format-B (KernelBench ModelNew) candidate for plain_relu6, built with load_inline on the CPU."""
import torch
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

cpp_source = r"""
#include <torch/extension.h>
torch::Tensor relu6_scale(torch::Tensor x, double scale) {
  auto xc = x.contiguous();
  auto y = torch::empty_like(xc);
  const float* a = xc.data_ptr<float>();
  float* b = y.data_ptr<float>();
  const int64_t n = xc.numel();
  const float s = static_cast<float>(scale);
  #pragma omp parallel for
  for (int64_t i = 0; i < n; ++i) {
    float v = a[i] < 0.f ? 0.f : (a[i] > 6.f ? 6.f : a[i]);
    b[i] = v * s;
  }
  return y;
}
"""

ext = load_inline(name="relu6_scale_ext", cpp_sources=[cpp_source], functions=["relu6_scale"],
                  extra_cflags=["-O2", "-fopenmp"], extra_ldflags=["-fopenmp"], verbose=False)


class ModelNew(nn.Module):
    def __init__(self, scale: float):
        super().__init__()
        self.scale = scale

    def forward(self, x):
        return ext.relu6_scale(x, self.scale)
