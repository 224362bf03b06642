"""3x3 Conv2d (padding 1) -> ReLU -> multiply by a constant: (64, 64, 128, 128) -> (64, 128, 128, 128)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

OP_NAME = "conv2d_relu_scale"
LEVEL = 2

BATCH = 64
IN_CHANNELS = 64
OUT_CHANNELS = 128
HEIGHT = 128
WIDTH = 128
KERNEL_SIZE = 3
SCALE = 1.75

SMALL = {"BATCH": 2, "IN_CHANNELS": 3, "OUT_CHANNELS": 8, "HEIGHT": 11, "WIDTH": 13}


def module_fn(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, scale: float) -> torch.Tensor:
    y = F.conv2d(x, weight, bias, stride=1, padding=weight.shape[-1] // 2)
    return F.relu(y) * scale


class Model(nn.Module):
    """relu(nn.Conv2d(in, out, k, padding=k // 2)(x)) * scale."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, scale: float):
        super().__init__()
        conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        self.weight = conv.weight
        self.bias = conv.bias
        self.scale = scale

    def forward(self, x, fn=module_fn):
        return fn(x, self.weight, self.bias, self.scale)


def get_inputs():
    return [torch.randn(BATCH, IN_CHANNELS, HEIGHT, WIDTH)]


def get_init_inputs():
    return [IN_CHANNELS, OUT_CHANNELS, KERNEL_SIZE, SCALE]
