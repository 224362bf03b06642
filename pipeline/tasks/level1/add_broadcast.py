"""Add a row vector to every row of a matrix (broadcast over the leading dim); memory-bound."""
import torch
import torch.nn as nn

OP_NAME = "add_broadcast"
LEVEL = 1

ROWS = 16384
COLS = 24576

SMALL = {"ROWS": 48, "COLS": 301}


def module_fn(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return a + b


class Model(nn.Module):
    """out[i, j] = a[i, j] + b[j]."""

    def __init__(self):
        super().__init__()

    def forward(self, a, b, fn=module_fn):
        return fn(a, b)


def get_inputs():
    return [torch.randn(ROWS, COLS), torch.randn(COLS)]


def get_init_inputs():
    return []


def get_input_variants():
    return [[torch.randn(ROWS // 8 + 1, COLS // 4 + 3), torch.randn(COLS // 4 + 3)]]
