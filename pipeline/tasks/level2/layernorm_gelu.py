"""LayerNorm over the last dim (D = 4096) followed by exact GELU, on a (B, S, D) activation."""
import torch
import torch.nn as nn
import torch.nn.functional as F

OP_NAME = "layernorm_gelu"
LEVEL = 2

BATCH = 96
SEQ = 1024
HIDDEN = 4096
EPS = 1e-5

SMALL = {"BATCH": 3, "SEQ": 17, "HIDDEN": 96}


def module_fn(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float) -> torch.Tensor:
    return F.gelu(F.layer_norm(x, weight.shape, weight, bias, eps))


class Model(nn.Module):
    """gelu(nn.LayerNorm(hidden, eps)(x)) with random affine parameters."""

    def __init__(self, hidden: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(1.0 + 0.2 * torch.randn(hidden))
        self.bias = nn.Parameter(0.2 * torch.randn(hidden))
        self.eps = eps

    def forward(self, x, fn=module_fn):
        return fn(x, self.weight, self.bias, self.eps)


def get_inputs():
    return [torch.randn(BATCH, SEQ, HIDDEN) * 2.0 + torch.randn(BATCH, SEQ, 1)]


def get_init_inputs():
    return [HIDDEN, EPS]
