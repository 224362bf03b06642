"""Inclusive prefix sum along dim 1 of a large matrix (a scan; read 1.6 GB, write 1.6 GB)."""
import torch
import torch.nn as nn

OP_NAME = "cumsum"
LEVEL = 1

ROWS = 65536
COLS = 6144
DIM = 1

SMALL = {"ROWS": 17, "COLS": 257}


def module_fn(x: torch.Tensor, dim: int) -> torch.Tensor:
    return torch.cumsum(x, dim=dim)


class Model(nn.Module):
    """out[i, j] = sum_{t <= j} x[i, t]."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, x, fn=module_fn):
        return fn(x, self.dim)


def get_inputs():
    return [torch.randn(ROWS, COLS)]


def get_init_inputs():
    return [DIM]


def get_input_variants():
    return [[torch.randn(ROWS // 16 + 3, COLS // 2 + 5)]]
