"""Mean over the last dim of a large matrix: a row reduction (1.9 GB read)."""
import torch
import torch.nn as nn

OP_NAME = "mean_dim"
LEVEL = 1

ROWS = 16384
COLS = 28672
DIM = -1

SMALL = {"ROWS": 33, "COLS": 129}


def module_fn(x: torch.Tensor, dim: int) -> torch.Tensor:
    return torch.mean(x, dim=dim)


class Model(nn.Module):
    """out = x.mean(dim)."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, x, fn=module_fn):
        return fn(x, self.dim)


def get_inputs():
    # Offset so that the means are far from zero and differ from row to row.
    return [torch.randn(ROWS, COLS) + torch.randn(ROWS, 1)]


def get_init_inputs():
    return [DIM]
