"""GELU (exact, erf-based: torch's default) over a large 2-D activation; memory-bound elementwise."""
import torch
import torch.nn as nn
import torch.nn.functional as F

OP_NAME = "gelu"
LEVEL = 1

BATCH = 16384
DIM = 24576

SMALL = {"BATCH": 64, "DIM": 333}


def module_fn(x: torch.Tensor) -> torch.Tensor:
    return F.gelu(x)


class Model(nn.Module):
    """y = x * Phi(x), Phi the standard normal CDF."""

    def __init__(self):
        super().__init__()

    def forward(self, x, fn=module_fn):
        return fn(x)


def get_inputs():
    return [torch.randn(BATCH, DIM) * 3.0]


def get_init_inputs():
    return []


def get_input_variants():
    return [[torch.randn(BATCH // 8 + 3, DIM // 4 + 1) * 3.0], [torch.randn(DIM // 2 + 5) * 3.0]]
