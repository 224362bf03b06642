"""A degenerate task on purpose: relu(-|x|) is zero for every input.

The adversarial suite uses it to check that the harness flags a task whose
reference output does not depend on its inputs (an all-zero "kernel" must not
be reported as a speedup).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

OP_NAME = "zero_out"
LEVEL = 1

BATCH = 4096
DIM = 4096

SMALL = {"BATCH": 32, "DIM": 129}


def module_fn(x: torch.Tensor) -> torch.Tensor:
    return F.relu(-torch.abs(x))


class Model(nn.Module):
    """y = relu(-|x|) == 0."""

    def __init__(self):
        super().__init__()

    def forward(self, x, fn=module_fn):
        return fn(x)


def get_inputs():
    return [torch.randn(BATCH, DIM)]


def get_init_inputs():
    return []
