"""Attention-score softmax: softmax(scores * scale, dim=-1) over (B, H, Sq, Sk) = (32, 16, 768, 1024)."""
import torch
import torch.nn as nn

OP_NAME = "scale_softmax"
LEVEL = 2

BATCH = 32
HEADS = 16
SEQ_Q = 768
SEQ_K = 1024
SCALE = 0.125

SMALL = {"BATCH": 2, "HEADS": 3, "SEQ_Q": 5, "SEQ_K": 77}


def module_fn(scores: torch.Tensor, scale: float) -> torch.Tensor:
    return torch.softmax(scores * scale, dim=-1)


class Model(nn.Module):
    """softmax(scores * scale) over the key dim (dropout-free, as at inference)."""

    def __init__(self, scale: float):
        super().__init__()
        self.scale = scale

    def forward(self, scores, fn=module_fn):
        return fn(scores, self.scale)


def get_inputs():
    return [torch.randn(BATCH, HEADS, SEQ_Q, SEQ_K) * 16.0]


def get_init_inputs():
    return [SCALE]
