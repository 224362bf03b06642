"""3x3 Conv2d, stride 1, padding 1, with bias: (64, 64, 128, 128) -> (64, 128, 128, 128) (155 GFLOP)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

OP_NAME = "conv2d"
LEVEL = 1

BATCH = 64
IN_CHANNELS = 64
OUT_CHANNELS = 128
HEIGHT = 128
WIDTH = 128
KERNEL_SIZE = 3
STRIDE = 1
PADDING = 1

SMALL = {"BATCH": 2, "IN_CHANNELS": 3, "OUT_CHANNELS": 8, "HEIGHT": 11, "WIDTH": 13}


def module_fn(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, stride: int, padding: int) -> torch.Tensor:
    return F.conv2d(x, weight, bias, stride=stride, padding=padding)


class Model(nn.Module):
    """nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding) with its default init."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int, padding: int):
        super().__init__()
        conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding)
        self.weight = conv.weight
        self.bias = conv.bias
        self.stride = stride
        self.padding = padding

    def forward(self, x, fn=module_fn):
        return fn(x, self.weight, self.bias, self.stride, self.padding)


def get_inputs():
    return [torch.randn(BATCH, IN_CHANNELS, HEIGHT, WIDTH)]


def get_init_inputs():
    return [IN_CHANNELS, OUT_CHANNELS, KERNEL_SIZE, STRIDE, PADDING]


def get_input_variants():
    return [[torch.randn(1, IN_CHANNELS, HEIGHT // 2 + 3, WIDTH // 4 + 5)]]
