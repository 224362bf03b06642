"""Square matrix product C = A @ B, N = 4096 (137 GFLOP)."""
import torch
import torch.nn as nn

OP_NAME = "matmul"
LEVEL = 1

N = 4096

SMALL = {"N": 70}


def module_fn(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.matmul(a, b)


class Model(nn.Module):
    """C[i, j] = sum_k A[i, k] * B[k, j]."""

    def __init__(self):
        super().__init__()

    def forward(self, a, b, fn=module_fn):
        return fn(a, b)


def get_inputs():
    return [torch.randn(N, N), torch.randn(N, N)]


def get_init_inputs():
    return []


def get_input_variants():
    # Non-square shapes that are not multiples of any tile size.
    m, k, n = N // 2 + 3, N // 4 + 5, N // 2 + 1
    return [[torch.randn(m, k), torch.randn(k, n)], [torch.randn(1, k), torch.randn(k, n // 3 + 2)]]
