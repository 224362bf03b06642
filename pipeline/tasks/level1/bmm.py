"""Batched matrix product: (B, M, K) @ (B, K, N) with B = 32, M = N = 1024, K = 2048 (137 GFLOP)."""
import torch
import torch.nn as nn

OP_NAME = "bmm"
LEVEL = 1

BATCH = 32
M = 1024
K = 2048
N = 1024

SMALL = {"BATCH": 3, "M": 17, "K": 33, "N": 19}


def module_fn(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.bmm(a, b)


class Model(nn.Module):
    """C[b] = A[b] @ B[b]."""

    def __init__(self):
        super().__init__()

    def forward(self, a, b, fn=module_fn):
        return fn(a, b)


def get_inputs():
    return [torch.randn(BATCH, M, K), torch.randn(BATCH, K, N)]


def get_init_inputs():
    return []
