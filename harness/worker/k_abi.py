"""Format K's C ABI (the `ke_abi.h` text) and the harness-owned binding that calls a built kernel.

A format-K candidate is one CUDA (`.cu`) or, on the CPU backend, C++ source with no torch, ATen or
pybind11 header. It includes `ke_abi.h` (KE_ABI below) and defines

    extern "C" int ke_launch(const ke_tensor* in, int n_in, ke_tensor* out, int n_out,
                             const double* attrs, int n_attrs,
                             void* workspace, int64_t workspace_bytes, void* stream);

and optionally `extern "C" int64_t ke_workspace_bytes(const ke_tensor* in, int n_in,
const double* attrs, int n_attrs)`. `in` holds every tensor argument of the task's `module_fn` in
order (inputs, then parameters), contiguous; `attrs` every number argument (positional, then keyword,
in order); `out` the outputs, which the harness allocates with the reference's shapes and dtypes and
poisons (NaN, or all-ones bits) before every call; `stream` is the current CUDA stream (NULL on the
CPU). Non-zero from `ke_launch` is an error. `KBinding` runs inside the sandboxed worker (ctypes, no
compiler); `harness.build.format_k` compiles such a source; `python3 -m harness.worker.k_abi` prints
the header.
"""
from __future__ import annotations

import ctypes
import sys
from typing import Any

import torch

from harness.worker.measure import fill_poison

KE_ABI = r"""// ke_abi.h: the kernel-evolve format-K ABI (provided by the harness; do not redefine)
#pragma once
#include <stdint.h>
#include <stddef.h>
#define KE_MAX_DIMS 8
enum { KE_F32 = 0, KE_F16 = 1, KE_BF16 = 2, KE_F64 = 3, KE_I32 = 4, KE_I64 = 5, KE_BOOL = 6, KE_U8 = 7 };
typedef struct {
  void* data;        /* device pointer on CUDA, host pointer on the CPU */
  int32_t dtype;     /* one of KE_F32 ... KE_U8 */
  int32_t ndim;
  int64_t shape[KE_MAX_DIMS];
  int64_t strides[KE_MAX_DIMS];  /* in elements; inputs and outputs are contiguous */
} ke_tensor;
static inline int64_t ke_numel(const ke_tensor* t) {
  int64_t n = 1;
  for (int i = 0; i < t->ndim; ++i) n *= t->shape[i];
  return n;
}
"""

DTYPE_CODES: dict[torch.dtype, int] = {torch.float32: 0, torch.float16: 1, torch.bfloat16: 2, torch.float64: 3,
                                       torch.int32: 4, torch.int64: 5, torch.bool: 6, torch.uint8: 7}
MAX_DIMS = 8
MAX_WORKSPACE = 16 << 30


class KeTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("dtype", ctypes.c_int32), ("ndim", ctypes.c_int32),
                ("shape", ctypes.c_int64 * MAX_DIMS), ("strides", ctypes.c_int64 * MAX_DIMS)]


def _ke(t: torch.Tensor) -> KeTensor:
    if t.dim() > MAX_DIMS:
        raise RuntimeError(f"format K takes tensors of at most {MAX_DIMS} dimensions, got {t.dim()}")
    if t.dtype not in DTYPE_CODES:
        raise RuntimeError(f"format K has no code for dtype {t.dtype}")
    k = KeTensor()
    k.data, k.dtype, k.ndim = t.data_ptr(), DTYPE_CODES[t.dtype], t.dim()
    for i, (n, s) in enumerate(zip(t.shape, t.stride())):
        k.shape[i], k.strides[i] = n, s
    return k


class KBinding:
    """The harness-owned binding of one built format-K kernel, callable as the task's `module_fn`.

    `expect(specs)` tells it the output shapes/dtypes of the next call (the reference's, per case); it
    remembers them by the call's tensor shapes and attributes, so later calls on like inputs need no hint.
    `arm()` allocates and poisons the next call's outputs and workspace ahead of time, so timed calls
    measure `ke_launch` and not the harness's fills.
    """

    def __init__(self, so_path: str, device: str):
        self.lib = ctypes.CDLL(so_path)
        try:
            self.launch = self.lib.ke_launch
        except AttributeError:
            raise RuntimeError('format K: the library has no extern "C" ke_launch') from None
        self.launch.restype = ctypes.c_int
        self.launch.argtypes = [ctypes.POINTER(KeTensor), ctypes.c_int, ctypes.POINTER(KeTensor), ctypes.c_int,
                                ctypes.POINTER(ctypes.c_double), ctypes.c_int, ctypes.c_void_p, ctypes.c_int64,
                                ctypes.c_void_p]
        self.ws_fn = getattr(self.lib, "ke_workspace_bytes", None)
        if self.ws_fn is not None:
            self.ws_fn.restype = ctypes.c_int64
            self.ws_fn.argtypes = [ctypes.POINTER(KeTensor), ctypes.c_int, ctypes.POINTER(ctypes.c_double),
                                   ctypes.c_int]
        self.device = device
        self.specs: dict[tuple, list[tuple[list[int], torch.dtype]]] = {}
        self.pending: list[tuple[list[int], torch.dtype]] | None = None
        self.armed: dict[tuple, tuple[list[torch.Tensor], torch.Tensor | None]] = {}
        self.ws_bytes: dict[tuple, int] = {}
        self.prepared: dict[tuple, tuple[Any, Any, Any]] = {}
        self.last_key: tuple | None = None

    def expect(self, specs: list[tuple[list[int], torch.dtype]]) -> None:
        self.pending = specs

    @staticmethod
    def _split(args: tuple, kwargs: dict) -> tuple[list[torch.Tensor], list[float], tuple]:
        tensors, attrs = [], []
        for a in list(args) + list(kwargs.values()):
            if isinstance(a, torch.Tensor):
                tensors.append(a.contiguous())
            elif isinstance(a, (bool, int, float)):
                attrs.append(float(a))
            elif a is None:
                attrs.append(float("nan"))
            else:
                raise RuntimeError(f"format K passes tensors and numbers only, not {type(a).__name__}")
        key = tuple((tuple(t.shape), t.dtype) for t in tensors) + tuple(attrs)
        return tensors, attrs, key

    def _size_workspace(self, key: tuple, ins: list[KeTensor], attrs_c: Any, n_attrs: int) -> None:
        """Ask `ke_workspace_bytes` (once per key) how much workspace calls like this one need."""
        if self.ws_fn is None or key in self.ws_bytes:
            return
        arr = (KeTensor * max(1, len(ins)))(*ins)
        n = int(self.ws_fn(arr, len(ins), attrs_c, n_attrs))
        if n < 0 or n > MAX_WORKSPACE:
            raise RuntimeError(f"format K: ke_workspace_bytes asked for {n} bytes (limit {MAX_WORKSPACE})")
        self.ws_bytes[key] = n

    def _alloc(self, key: tuple) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        """Poisoned outputs, and a poisoned workspace of the size `_size_workspace` learnt (None if none)."""
        outs = [fill_poison(torch.empty(shape, dtype=dt, device=self.device)) for shape, dt in self.specs[key]]
        ws = None
        if self.ws_bytes.get(key):
            ws = torch.empty(self.ws_bytes[key], dtype=torch.uint8, device=self.device)
            ws.fill_(0xFF)
        return outs, ws

    def arm(self) -> None:
        """Prepare poisoned outputs (and workspace) for the next call like the last one."""
        key = self.last_key
        if key is not None and key not in self.armed:
            self.armed[key] = self._alloc(key)

    def _prepared(self, key: tuple, tensors: list[torch.Tensor], attrs: list[float],
                  outs: list[torch.Tensor]) -> tuple[Any, Any, Any]:
        """The call's argument arrays for calls like this one (built once per key; only pointers change)."""
        p = self.prepared.get(key)
        if p is None:
            ins = [_ke(t) for t in tensors]
            p = ((KeTensor * max(1, len(ins)))(*ins), (KeTensor * max(1, len(outs)))(*[_ke(o) for o in outs]),
                 (ctypes.c_double * max(1, len(attrs)))(*attrs))
            self.prepared[key] = p
        return p

    def __call__(self, *args: Any, **kwargs: Any) -> torch.Tensor | tuple[torch.Tensor, ...]:
        tensors, attrs, key = self._split(args, kwargs)
        if self.pending is not None:
            self.specs[key], self.pending = self.pending, None
        if key not in self.specs:
            raise RuntimeError("format K: no output shapes are known for inputs of these shapes")
        armed = self.armed.pop(key, None)
        if armed is None:
            if self.ws_fn is not None and key not in self.ws_bytes:
                ins = [_ke(t) for t in tensors]
                self._size_workspace(key, ins, (ctypes.c_double * max(1, len(attrs)))(*attrs), len(attrs))
            armed = self._alloc(key)
        outs, ws = armed
        in_arr, out_arr, attrs_c = self._prepared(key, tensors, attrs, outs)
        for i, t in enumerate(tensors):  # the same shapes, dtypes and attributes as the key says: new pointers
            in_arr[i].data = t.data_ptr()
        for i, o in enumerate(outs):
            out_arr[i].data = o.data_ptr()
        stream = torch.cuda.current_stream().cuda_stream if self.device == "cuda" else None
        code = self.launch(in_arr, len(tensors), out_arr, len(outs), attrs_c, len(attrs),
                           ws.data_ptr() if ws is not None else None, ws.numel() if ws is not None else 0, stream)
        if code != 0:
            raise RuntimeError(f"format K: ke_launch returned {code}")
        self.last_key = key  # its workspace size is known now, so arm() needs nothing else of this call
        del tensors  # kept alive through the call
        return outs[0] if len(outs) == 1 else tuple(outs)


if __name__ == "__main__":  # print the ABI header (for prompts and hand-written kernels)
    sys.stdout.write(KE_ABI)
