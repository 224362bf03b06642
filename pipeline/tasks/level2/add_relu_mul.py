"""Elementwise chain relu(a + b) * w, w a learned per-column gain broadcast over rows (memory-bound)."""
import torch
import torch.nn as nn

OP_NAME = "add_relu_mul"
LEVEL = 2

ROWS = 16384
COLS = 16384

SMALL = {"ROWS": 48, "COLS": 301}


def module_fn(a: torch.Tensor, b: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return torch.relu(a + b) * weight


class Model(nn.Module):
    """out[i, j] = max(a[i, j] + b[i, j], 0) * weight[j]."""

    def __init__(self, cols: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cols))

    def forward(self, a, b, fn=module_fn):
        return fn(a, b, self.weight)


def get_inputs():
    return [torch.randn(ROWS, COLS), torch.randn(ROWS, COLS)]


def get_init_inputs():
    return [COLS]


def get_input_variants():
    return [[torch.randn(ROWS // 8 + 3, COLS), torch.randn(ROWS // 8 + 3, COLS)], [torch.randn(1, COLS), torch.randn(1, COLS)]]
