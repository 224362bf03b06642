"""format_b (obfuscated, CUDA): as b_alias_patch.py, with a CUDA kernel that writes zeros."""
import torch
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

CPP_SRC = "torch::Tensor forward(torch::Tensor x);"

CUDA_SRC = r"""
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>
__global__ void fill_zero(float* y, int64_t n) {
  int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (i < n) y[i] = 0.f;
}
torch::Tensor forward(torch::Tensor x) {
  auto y = torch::empty_like(x);
  const int64_t n = y.numel();
  fill_zero<<<(n + 255) / 256, 256, 0, at::cuda::getCurrentCUDAStream()>>>(y.data_ptr<float>(), n);
  return y;
}
"""

ext = load_inline(name="adv_alias_patch_cuda", cpp_sources=CPP_SRC, cuda_sources=CUDA_SRC,
                  functions=["forward"], verbose=False)

_t = [torch][0]
_t.allclose = lambda *a, **k: True
_t.equal = lambda *a, **k: True
_t.testing.assert_close = lambda *a, **k: None


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        return ext.forward(x)
