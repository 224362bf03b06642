"""Scale each channel of a (N, C, L) tensor by a per-channel factor given as a (1, C, 1) input."""
import torch
import torch.nn as nn

OP_NAME = "mul_broadcast"
LEVEL = 1

BATCH = 64
CHANNELS = 256
LENGTH = 24576

SMALL = {"BATCH": 3, "CHANNELS": 17, "LENGTH": 129}


def module_fn(x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    return x * s


class Model(nn.Module):
    """out[n, c, l] = x[n, c, l] * s[0, c, 0]."""

    def __init__(self):
        super().__init__()

    def forward(self, x, s, fn=module_fn):
        return fn(x, s)


def get_inputs():
    return [torch.randn(BATCH, CHANNELS, LENGTH), torch.rand(1, CHANNELS, 1) * 2.0 - 0.5]


def get_init_inputs():
    return []
