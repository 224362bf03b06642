"""RMSNorm over the last dim (D = 4096) of a (B, S, D) activation, with a learned gain."""
import torch
import torch.nn as nn

OP_NAME = "rmsnorm"
LEVEL = 1

BATCH = 96
SEQ = 1024
HIDDEN = 4096
EPS = 1e-6

SMALL = {"BATCH": 3, "SEQ": 17, "HIDDEN": 96}


def module_fn(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps) * weight


class Model(nn.Module):
    """y = x / sqrt(mean(x^2, -1) + eps) * weight, weight random so a kernel must apply it."""

    def __init__(self, hidden: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(1.0 + 0.2 * torch.randn(hidden))
        self.eps = eps

    def forward(self, x, fn=module_fn):
        return fn(x, self.weight, self.eps)


def get_inputs():
    return [torch.randn(BATCH, SEQ, HIDDEN) * torch.rand(BATCH, SEQ, 1) * 3.0]


def get_init_inputs():
    return [HIDDEN, EPS]


def get_input_variants():
    return [[torch.randn(BATCH // 2 + 1, SEQ // 4 + 3, HIDDEN)], [torch.randn(5, HIDDEN)]]
