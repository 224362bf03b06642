"""Max (values only, torch.amax) over the leading dim of a large matrix: a column reduction."""
import torch
import torch.nn as nn

OP_NAME = "max_dim"
LEVEL = 1

ROWS = 8192
COLS = 57344
DIM = 0

SMALL = {"ROWS": 41, "COLS": 97}


def module_fn(x: torch.Tensor, dim: int) -> torch.Tensor:
    return torch.amax(x, dim=dim)


class Model(nn.Module):
    """out = x.amax(dim)."""

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
    return [[torch.randn(ROWS // 4 + 3, COLS // 8 + 1)]]
