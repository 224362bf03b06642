"""BatchNorm2d in inference mode (running statistics as buffers) over an NCHW activation."""
import torch
import torch.nn as nn
import torch.nn.functional as F

OP_NAME = "batchnorm"
LEVEL = 1

BATCH = 64
CHANNELS = 64
HEIGHT = 320
WIDTH = 320
EPS = 1e-5

SMALL = {"BATCH": 3, "CHANNELS": 5, "HEIGHT": 9, "WIDTH": 11}


def module_fn(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    running_mean: torch.Tensor,
    running_var: torch.Tensor,
    eps: float,
) -> torch.Tensor:
    return F.batch_norm(x, running_mean, running_var, weight, bias, training=False, momentum=0.0, eps=eps)


class Model(nn.Module):
    """nn.BatchNorm2d(channels).eval(), with random affine parameters and running statistics."""

    def __init__(self, channels: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(1.0 + 0.2 * torch.randn(channels))
        self.bias = nn.Parameter(0.2 * torch.randn(channels))
        self.register_buffer("running_mean", 0.5 * torch.randn(channels))
        self.register_buffer("running_var", 0.5 + torch.rand(channels))
        self.eps = eps

    def forward(self, x, fn=module_fn):
        return fn(x, self.weight, self.bias, self.running_mean, self.running_var, self.eps)


def get_inputs():
    return [torch.randn(BATCH, CHANNELS, HEIGHT, WIDTH)]


def get_init_inputs():
    return [CHANNELS, EPS]
