"""format_b (obfuscated, CPU): a correct kernel that sleeps 30 ms per call, and freezes the
timers without importing `time`: it reaches sys.modules through operator.attrgetter on a
torch submodule, then patches time.perf_counter(_ns) and torch.cuda.Event. The harness
must time with clocks bound before the candidate loads, and cross-check with the wall
time the parent saw: a verdict may be "verified" only with an honest (>= 25 ms) time."""
import operator

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

ext = load_inline(name="adv_timer_via_operator", cpp_sources=CPP_SRC, functions=["forward"], verbose=False)

_mods = operator.attrgetter("utils.cpp_extension.sys.modules")(torch)
_clock = _mods["time"]
_clock.perf_counter = lambda: 0.0
_clock.perf_counter_ns = lambda: 0
_clock.monotonic = lambda: 0.0
_clock.monotonic_ns = lambda: 0
_clock.time = lambda: 0.0


class _FrozenEvent:
    def __init__(self, *a, **k):
        pass

    def record(self, *a, **k):
        pass

    def synchronize(self):
        pass

    def elapsed_time(self, other):
        return 0.001


_t = [torch][0]
_t.cuda.Event = _FrozenEvent


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        return ext.forward(x)
