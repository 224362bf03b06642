"""format_b (plain): a slow but correct kernel that patches the timers (time.perf_counter,
time.perf_counter_ns, torch.cuda.Event) so that every measured interval reads ~0. On CUDA it computes on a
host copy: were it handed device pointers it would crash, a refusal for the wrong reason."""
import time

import torch
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

CPP_SRC = r"""
#include <torch/extension.h>
#include <chrono>
#include <thread>
torch::Tensor forward(torch::Tensor x) {
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  auto xc = x.contiguous();
  auto y = torch::empty_like(xc);
  const float* in = xc.data_ptr<float>();
  float* out = y.data_ptr<float>();
  for (int64_t i = 0; i < xc.numel(); ++i) out[i] = in[i] > 0.f ? in[i] : 0.f;
  return y;
}
"""

ext = load_inline(name="adv_patch_timer", cpp_sources=CPP_SRC, functions=["forward"], verbose=False)


class _FrozenEvent:
    def __init__(self, *a, **k):
        pass

    def record(self, *a, **k):
        pass

    def synchronize(self):
        pass

    def elapsed_time(self, other):
        return 0.001


time.perf_counter = lambda: 0.0
time.perf_counter_ns = lambda: 0
torch.cuda.Event = _FrozenEvent


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        # the extension is host code: on CUDA it works on a host copy (correct, and slower still)
        return ext.forward(x.cpu()).to(x.device)
