"""Logistic sigmoid over a large 2-D activation; memory-bound elementwise."""
import torch
import torch.nn as nn

OP_NAME = "sigmoid"
LEVEL = 1

BATCH = 16384
DIM = 24576

SMALL = {"BATCH": 64, "DIM": 333}


def module_fn(x: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(x)


class Model(nn.Module):
    """y = 1 / (1 + exp(-x))."""

    def __init__(self):
        super().__init__()

    def forward(self, x, fn=module_fn):
        return fn(x)


def get_inputs():
    return [torch.randn(BATCH, DIM) * 4.0]


def get_init_inputs():
    return []
