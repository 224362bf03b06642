"""C = A @ B.T with A (M, K) and B (N, K): M = 8192, N = 4096, K = 2048 (137 GFLOP)."""
import torch
import torch.nn as nn

OP_NAME = "matmul_transposed_b"
LEVEL = 1

M = 8192
N = 4096
K = 2048

SMALL = {"M": 40, "N": 36, "K": 24}


def module_fn(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.matmul(a, b.transpose(0, 1))


class Model(nn.Module):
    """C[i, j] = sum_k A[i, k] * B[j, k]."""

    def __init__(self):
        super().__init__()

    def forward(self, a, b, fn=module_fn):
        return fn(a, b)


def get_inputs():
    return [torch.randn(M, K), torch.randn(N, K)]


def get_init_inputs():
    return []


def get_input_variants():
    return [[torch.randn(M // 4 + 3, K // 2 + 1), torch.randn(N // 4 + 5, K // 2 + 1)]]
