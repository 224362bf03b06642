"""format_b (plain): carries a copy of the reference and inherits from it, so the "new"
model's forward is PyTorch's. The extension is built but never called."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.cpp_extension import load_inline

CPP_SRC = r"""
#include <torch/extension.h>
torch::Tensor forward(torch::Tensor x) { return x; }
"""

ext = load_inline(name="adv_inherit", cpp_sources=CPP_SRC, functions=["forward"], verbose=False)


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        return F.relu(x)


class ModelNew(Model):
    pass
