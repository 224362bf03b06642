"""Linear layer -> sigmoid -> sum over features: (4096, 4096) @ (4096, 4096)^T (137 GFLOP) to (4096, 1)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

OP_NAME = "gemm_sigmoid_sum"
LEVEL = 2

BATCH = 4096
IN_FEATURES = 4096
OUT_FEATURES = 4096

SMALL = {"BATCH": 33, "IN_FEATURES": 70, "OUT_FEATURES": 45}


def module_fn(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(F.linear(x, weight, bias)).sum(dim=1, keepdim=True)


class Model(nn.Module):
    """sigmoid(nn.Linear(in, out)(x)).sum(dim=1, keepdim=True)."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        linear = nn.Linear(in_features, out_features)
        self.weight = linear.weight
        self.bias = linear.bias

    def forward(self, x, fn=module_fn):
        return fn(x, self.weight, self.bias)


def get_inputs():
    # Rows with different scales, so the per-row sums spread out instead of all sitting near OUT/2.
    return [torch.randn(BATCH, IN_FEATURES) * (torch.rand(BATCH, 1) * 4.0) + torch.randn(BATCH, 1)]


def get_init_inputs():
    return [IN_FEATURES, OUT_FEATURES]
