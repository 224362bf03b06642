"""ReLU over a large 2-D activation: a memory-bound elementwise op (read 1.6 GB, write 1.6 GB)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

OP_NAME = "relu"
LEVEL = 1

BATCH = 16384
DIM = 24576

SMALL = {"BATCH": 64, "DIM": 333}


def module_fn(x: torch.Tensor) -> torch.Tensor:
    return F.relu(x)


class Model(nn.Module):
    """y = max(x, 0)."""

    def __init__(self):
        super().__init__()

    def forward(self, x, fn=module_fn):
        return fn(x)


def get_inputs():
    return [torch.randn(BATCH, DIM)]


def get_init_inputs():
    return []


def get_input_variants():
    # Odd sizes and other ranks, so a kernel may not assume multiples of its block.
    return [[torch.randn(BATCH // 8 + 3, DIM // 4 + 1)], [torch.randn(7, 5, DIM // 8 + 3)]]
