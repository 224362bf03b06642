"""Row softmax over the last dim of a large matrix (read 1.6 GB, write 1.6 GB)."""
import torch
import torch.nn as nn

OP_NAME = "softmax"
LEVEL = 1

BATCH = 65536
DIM = 6144

SMALL = {"BATCH": 37, "DIM": 300}


def module_fn(x: torch.Tensor, dim: int) -> torch.Tensor:
    return torch.softmax(x, dim=dim)


class Model(nn.Module):
    """out = softmax(x, dim) with dim = -1."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, x, fn=module_fn):
        return fn(x, self.dim)


def get_inputs():
    return [torch.randn(BATCH, DIM) * 4.0]


def get_init_inputs():
    return [-1]


def get_input_variants():
    return [
        [torch.randn(BATCH // 8 + 1, DIM + 17) * 4.0],
        [torch.randn(3, 5, DIM // 4 + 1) * 4.0],
        [torch.randn(BATCH // 4 + 3, 7) * 4.0],
    ]
