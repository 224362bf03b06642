"""format_b (obfuscated, CPU): patches torch.allclose / torch.equal / torch.testing.assert_close
through an alias the static filter cannot follow (`[torch][0]`), and returns zeros. Only a
comparison made outside this process defeats it."""
import torch
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

CPP_SRC = r"""
#include <torch/extension.h>
#include <cstring>
torch::Tensor forward(torch::Tensor x) {
  auto y = torch::empty_like(x);
  std::memset(y.data_ptr<float>(), 0, y.numel() * sizeof(float));
  return y;
}
"""

ext = load_inline(name="adv_alias_patch", cpp_sources=CPP_SRC, functions=["forward"], verbose=False)

_t = [torch][0]
_t.allclose = lambda *a, **k: True
_t.equal = lambda *a, **k: True
_t.testing.assert_close = lambda *a, **k: None
_t.Tensor.allclose = lambda *a, **k: True


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        return ext.forward(x)
