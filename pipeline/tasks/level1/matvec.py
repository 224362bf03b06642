"""Matrix-vector product y = A @ x with A (32768, 14336) (1.9 GB read; memory-bound)."""
import torch
import torch.nn as nn

OP_NAME = "matvec"
LEVEL = 1

M = 32768
K = 14336

SMALL = {"M": 65, "K": 129}


def module_fn(a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return torch.matmul(a, x)


class Model(nn.Module):
    """y[i, 0] = sum_k A[i, k] * x[k, 0]."""

    def __init__(self):
        super().__init__()

    def forward(self, a, x, fn=module_fn):
        return fn(a, x)


def get_inputs():
    return [torch.randn(M, K), torch.randn(K, 1)]


def get_init_inputs():
    return []
