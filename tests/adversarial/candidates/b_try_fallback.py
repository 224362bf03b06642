"""format_b (plain): if the extension fails to build or to run, quietly fall back to PyTorch."""
import torch
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

CPP_SRC = r"""
#include <torch/extension.h>
torch::Tensor forward(torch::Tensor x) {
  TORCH_CHECK(false, "this kernel always fails");
  return x;
}
"""

try:
    ext = load_inline(name="adv_try_fallback", cpp_sources=CPP_SRC, functions=["forward"], verbose=False)
except Exception:
    ext = None


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        try:
            return ext.forward(x)
        except Exception:
            return torch.relu(x)
