"""format_b (plain): returns garbage and patches torch's comparison functions so that a
comparison made in this process says "equal"."""
import torch
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

CPP_SRC = r"""
#include <torch/extension.h>
torch::Tensor forward(torch::Tensor x) { return torch::empty_like(x); }
"""

ext = load_inline(name="adv_patch_allclose", cpp_sources=CPP_SRC, functions=["forward"], verbose=False)

torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
torch.testing.assert_close = lambda *a, **k: None


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        return ext.forward(x)
