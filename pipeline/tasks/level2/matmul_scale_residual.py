"""Linear layer, scaled, plus the input as a residual: y = (x W^T + b) * scale + x (137 GFLOP)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

OP_NAME = "matmul_scale_residual"
LEVEL = 2

BATCH = 4096
HIDDEN = 4096
SCALE = 0.5

SMALL = {"BATCH": 33, "HIDDEN": 70}


def module_fn(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, scale: float) -> torch.Tensor:
    return F.linear(x, weight, bias) * scale + x


class Model(nn.Module):
    """nn.Linear(hidden, hidden)(x) * scale + x."""

    def __init__(self, hidden: int, scale: float):
        super().__init__()
        linear = nn.Linear(hidden, hidden)
        self.weight = linear.weight
        self.bias = linear.bias
        self.scale = scale

    def forward(self, x, fn=module_fn):
        return fn(x, self.weight, self.bias, self.scale)


def get_inputs():
    return [torch.randn(BATCH, HIDDEN)]


def get_init_inputs():
    return [HIDDEN, SCALE]


def get_input_variants():
    return [[torch.randn(BATCH // 4 + 5, HIDDEN)]]
