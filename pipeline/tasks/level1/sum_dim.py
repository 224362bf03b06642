"""Sum over the middle dim of a (B, R, C) tensor: a strided reduction (1.9 GB read)."""
import torch
import torch.nn as nn

OP_NAME = "sum_dim"
LEVEL = 1

BATCH = 128
REDUCE = 4096
COLS = 896
DIM = 1

SMALL = {"BATCH": 4, "REDUCE": 37, "COLS": 19}


def module_fn(x: torch.Tensor, dim: int) -> torch.Tensor:
    return torch.sum(x, dim=dim)


class Model(nn.Module):
    """out = x.sum(dim) with the reduced dim dropped."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, x, fn=module_fn):
        return fn(x, self.dim)


def get_inputs():
    return [torch.randn(BATCH, REDUCE, COLS)]


def get_init_inputs():
    return [DIM]


def get_input_variants():
    return [
        [torch.randn(BATCH // 2 + 1, REDUCE // 4 + 5, COLS // 2 + 3)],
        [torch.randn(BATCH // 4 + 1, REDUCE // 2 + 7, 1)],
    ]
