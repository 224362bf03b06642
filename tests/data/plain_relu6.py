"""A plain KernelBench-format task (no functional form): clamp(x, 0, 6) * scale."""
import torch
import torch.nn as nn

N = 4096
SMALL = {"N": 300}


class Model(nn.Module):
    def __init__(self, scale: float):
        super().__init__()
        self.scale = scale

    def forward(self, x):
        return torch.clamp(x, 0.0, 6.0) * self.scale


def get_inputs():
    return [torch.randn(N, 64) * 4]


def get_init_inputs():
    return [1.5]
