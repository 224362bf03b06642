"""A degenerate task on purpose: the output is 3.0 everywhere, whatever the input.

Used by the adversarial suite: a kernel that fills a constant "wins" here, so
the harness must flag the task as unfit for judging speedups.
"""
import torch
import torch.nn as nn

OP_NAME = "constant_out"
LEVEL = 1

BATCH = 4096
DIM = 4096

SMALL = {"BATCH": 32, "DIM": 129}


def module_fn(x: torch.Tensor) -> torch.Tensor:
    return x * 0.0 + 3.0


class Model(nn.Module):
    """y = 3."""

    def __init__(self):
        super().__init__()

    def forward(self, x, fn=module_fn):
        return fn(x)


def get_inputs():
    return [torch.rand(BATCH, DIM)]


def get_init_inputs():
    return []
