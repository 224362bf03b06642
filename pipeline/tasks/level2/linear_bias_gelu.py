"""Linear layer (with bias) followed by exact GELU: (4096, 4096) @ (4096, 4096)^T + b (137 GFLOP)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

OP_NAME = "linear_bias_gelu"
LEVEL = 2

BATCH = 4096
IN_FEATURES = 4096
OUT_FEATURES = 4096

SMALL = {"BATCH": 33, "IN_FEATURES": 70, "OUT_FEATURES": 45}


def module_fn(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    return F.gelu(F.linear(x, weight, bias))


class Model(nn.Module):
    """gelu(nn.Linear(in_features, out_features)(x))."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        linear = nn.Linear(in_features, out_features)
        self.weight = linear.weight
        self.bias = linear.bias

    def forward(self, x, fn=module_fn):
        return fn(x, self.weight, self.bias)


def get_inputs():
    return [torch.randn(BATCH, IN_FEATURES)]


def get_init_inputs():
    return [IN_FEATURES, OUT_FEATURES]


def get_input_variants():
    return [[torch.randn(BATCH // 4 + 3, IN_FEATURES)], [torch.randn(1, IN_FEATURES)]]
