"""Judging outputs in the trusted parent: error against float64, tolerances per dtype, degenerate references.

A candidate's output is compared element by element with the float64
reference. It may be about as far from float64 as eager PyTorch is in the
task's own dtype (a small multiple), and never further than the dtype's
tolerance. The tolerance belongs to the dtype, never to the kernel.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

# relative tolerance by dtype: fp32 ~1e-4, half types ~1e-2
DTYPE_TOL = {torch.float64: 1e-9, torch.float32: 1e-4, torch.float16: 1e-2, torch.bfloat16: 1e-2,
             torch.complex64: 1e-4, torch.complex128: 1e-9}
EAGER_MULTIPLE = 8.0


@dataclass(frozen=True)
class Comparison:
    ok: bool
    reason: str
    max_abs_diff: float
    rel_error: float
    eager_rel_error: float


def tolerance(dtype: torch.dtype) -> float:
    return DTYPE_TOL.get(dtype, 0.0)


def _rel(diff: torch.Tensor, ref: torch.Tensor) -> float:
    den = float(ref.norm())
    num = float(diff.norm())
    return num / den if den > 0 else (0.0 if num == 0 else float("inf"))


def compare(out: list[torch.Tensor], eager: list[torch.Tensor], ref64: list[torch.Tensor], *,
            device: str | None = None) -> Comparison:
    """Candidate outputs vs the float64 reference, allowing eager's own error times a small multiple.

    `device` (say "cuda:0") does the arithmetic there: the trusted parent's own GPU work, far faster than
    the host for GB-sized outputs; it falls back to the host if the device lacks the memory.
    """
    if device and device != "cpu":
        try:
            return compare([_to(t, device) for t in out], [_to(t, device) for t in eager],
                           [_to(t, device) for t in ref64])
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
    if len(out) != len(ref64):
        return Comparison(False, f"returned {len(out)} output(s), the task returns {len(ref64)}", float("inf"),
                          float("inf"), 0.0)
    worst_abs, worst_rel, worst_eager = 0.0, 0.0, 0.0
    for i, (o, e, r) in enumerate(zip(out, eager, ref64)):
        if tuple(o.shape) != tuple(e.shape):
            return Comparison(False, f"output {i} has shape {tuple(o.shape)}, expected {tuple(e.shape)}",
                              float("inf"), float("inf"), 0.0)
        if o.dtype != e.dtype:
            return Comparison(False, f"output {i} has dtype {o.dtype}, expected {e.dtype}", float("inf"),
                              float("inf"), 0.0)
        if not (o.is_floating_point() or o.is_complex()):
            bad = int((o != e).sum())
            if bad:
                return Comparison(False, f"output {i}: {bad} of {o.numel()} integer elements differ", float(bad),
                                  1.0, 0.0)
            continue
        o64, e64, r64 = o.to(torch.complex128 if o.is_complex() else torch.float64), \
            e.to(r.dtype), r
        finite_ref = torch.isfinite(r64)
        bad = (~torch.isfinite(o64)) & finite_ref
        if bool(bad.any()):
            n = int(bad.sum())
            return Comparison(False, f"output {i}: {n} of {o.numel()} elements are NaN/Inf where the reference is "
                              "finite (unwritten or uninitialised output?)", float("inf"), float("inf"), 0.0)
        mismatch_nonfinite = (~finite_ref) & ~((o64 == r64) | (torch.isnan(o64) & torch.isnan(r64)))
        if bool(mismatch_nonfinite.any()):
            return Comparison(False, f"output {i}: differs from the reference where the reference is NaN/Inf",
                              float("inf"), float("inf"), 0.0)
        o64, e64, r64 = o64[finite_ref], e64[finite_ref], r64[finite_ref]
        diff = (o64 - r64).abs()
        ediff = (e64 - r64).abs()
        tol = tolerance(o.dtype)
        rel = _rel(o64 - r64, r64)
        erel = _rel(e64 - r64, r64)
        mad = float(diff.max()) if diff.numel() else 0.0
        worst_abs, worst_rel, worst_eager = max(worst_abs, mad), max(worst_rel, rel), max(worst_eager, erel)
        if rel > tol:
            return Comparison(False, f"output {i}: relative error {rel:.3g} exceeds the {o.dtype} tolerance "
                              f"{tol:g} (eager's own error is {erel:.3g})", worst_abs, worst_rel, worst_eager)
        if rel > max(EAGER_MULTIPLE * erel, tol / 100):
            return Comparison(False, f"output {i}: relative error {rel:.3g} is more than {EAGER_MULTIPLE:g}x eager's "
                              f"{erel:.3g} in the same dtype (precision downgrade?)", worst_abs, worst_rel, worst_eager)
        scale = float(r64.abs().mean()) if r64.numel() else 0.0
        allowed = tol * (r64.abs() + scale) + EAGER_MULTIPLE * ediff
        over = diff > allowed
        if bool(over.any()):
            n = int(over.sum())
            idx = int(torch.nonzero(over.flatten())[0])
            return Comparison(False, f"output {i}: {n} of {o.numel()} elements are off (first at flat index {idx}: "
                              f"got {float(o64.flatten()[idx]):.6g}, expected {float(r64.flatten()[idx]):.6g})",
                              worst_abs, worst_rel, worst_eager)
    return Comparison(True, "", worst_abs, worst_rel, worst_eager)


def _to(t: torch.Tensor, device: str) -> torch.Tensor:
    return t.to(device, non_blocking=False)


def same_result(a: list[torch.Tensor], b: list[torch.Tensor], dtype_tol: float, *,
                device: str | None = None) -> tuple[bool, str]:
    """Two runs on the same inputs: identical up to rounding (a small fraction of the dtype tolerance)."""
    if device and device != "cpu":
        try:
            return same_result([_to(t, device) for t in a], [_to(t, device) for t in b], dtype_tol)
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
    if len(a) != len(b):
        return False, "a different number of outputs on the second call"
    for i, (x, y) in enumerate(zip(a, b)):
        if x.shape != y.shape or x.dtype != y.dtype:
            return False, f"output {i} changed shape/dtype between calls"
        if not (x.is_floating_point() or x.is_complex()):
            if not torch.equal(x, y):
                return False, f"output {i} changed between two calls on the same inputs"
            continue
        x64, y64 = x.double() if not x.is_complex() else x.cdouble(), y.double() if not y.is_complex() else y.cdouble()
        both_nan = torch.isnan(x64) & torch.isnan(y64)
        d = (x64 - y64).abs()
        d = torch.where(both_nan, torch.zeros_like(d), d)
        rel = _rel(d, x64.nan_to_num())
        if rel > dtype_tol / 10 or bool(torch.isnan(d).any()):
            return False, (f"output {i} moved by {rel:.3g} (relative) between two calls on the same inputs: "
                           "a race or hidden state")
    return True, ""


def degenerate(refs: dict[str, list[torch.Tensor]], seed_cases: list[str]) -> str:
    """Why a task's reference is unfit for judging ("" if it is fit): near zero, constant, or input-independent."""
    for cid, outs in refs.items():
        for i, r in enumerate(outs):
            if not (r.is_floating_point() or r.is_complex()) or r.numel() == 0:
                continue
            finite = r[torch.isfinite(r)]
            if finite.numel() == 0:
                return f"{cid} output {i} has no finite element"
            mag = float(finite.abs().max())
            if mag < 1e-6:
                return f"{cid} output {i} is zero to within 1e-6"
            if finite.numel() > 1 and float((finite - finite.flatten()[0]).abs().max()) <= 1e-9 * max(mag, 1e-30):
                return f"{cid} output {i} is constant ({float(finite.flatten()[0]):.6g})"
    seeds = [refs[c] for c in seed_cases if c in refs]
    if len(seeds) >= 2 and all(
            len(s) == len(seeds[0]) and all(a.shape == b.shape and torch.equal(a, b) for a, b in zip(s, seeds[0]))
            for s in seeds[1:]):
        return "the output is identical for every seed: it does not depend on the inputs"
    return ""
