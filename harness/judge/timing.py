"""Turning timing samples into statistics and speedups, and judging whether they are believable.

The candidate's samples are claims made by an untrusted process. The parent
cross-checks them against the wall time it observed for the same loop (with
eager's loop, timed the same way, as the yardstick for honest overhead) and
against a speed-of-light floor: the bytes the task must move over the
measured device bandwidth.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from harness.types import Stats

MIN_BYTES_FOR_SOL = 16 << 20      # below this the data can sit in cache; the DRAM floor means nothing
MIN_EAGER_MS_FOR_RATIO = 0.1      # below this eager is launch overhead; a 10x "win" is not about the kernel
DEFAULT_MAX_SPEEDUP = 10.0


def stats(samples: list[float]) -> Stats:
    xs = sorted(float(x) for x in samples if math.isfinite(float(x)))
    if not xs:
        return Stats(float("nan"), float("nan"), float("nan"), float("nan"), 0)
    if len(xs) >= 4:
        q = statistics.quantiles(xs, n=4)
        iqr = q[2] - q[0]
    else:
        iqr = xs[-1] - xs[0]
    return Stats(median_ms=statistics.median(xs), iqr_ms=iqr, min_ms=xs[0], max_ms=xs[-1], n=len(xs))


@dataclass(frozen=True)
class Plausibility:
    flags: tuple[str, ...]
    reasons: tuple[str, ...]


def plausibility(kernel: Stats, *, eager: Stats | None, sol_ms: float | None, bytes_moved: int,
                 loop_wall_ms: float | None, idle_ms_per_call: float | None, warmup: int,
                 max_speedup: float) -> Plausibility:
    """Flags for timings that cannot be true: under the speed-of-light floor, a 10x-over-eager claim the task
    does not vouch for, or a timed loop that took much longer (as the parent saw it) than its claimed calls."""
    flags: list[str] = []
    reasons: list[str] = []
    if any(not math.isfinite(v) or v < 0 for v in (kernel.median_ms, kernel.min_ms)):
        return Plausibility(("implausible",), ("the timing samples are not finite non-negative numbers",))
    if sol_ms is not None and bytes_moved >= MIN_BYTES_FOR_SOL and kernel.median_ms < 0.8 * sol_ms:
        flags.append("implausible")
        reasons.append(f"median {kernel.median_ms:.4g} ms is under the speed-of-light floor {sol_ms:.4g} ms "
                       f"({bytes_moved / 1e6:.1f} MB at the measured bandwidth)")
    if eager is not None and eager.median_ms >= MIN_EAGER_MS_FOR_RATIO and kernel.median_ms > 0:
        ratio = eager.median_ms / kernel.median_ms
        if ratio > max_speedup:
            flags.append("implausible")
            reasons.append(f"{ratio:.1f}x faster than eager, past the task's stated limit of {max_speedup:g}x")
    if loop_wall_ms is not None and idle_ms_per_call is not None and kernel.n:
        calls = kernel.n + warmup
        expected = kernel.n * idle_ms_per_call + calls * kernel.median_ms
        excess = (loop_wall_ms - expected) / calls
        # the allowance grows with the loop's own per-call overhead: that overhead was measured in the idle
        # loop, at another moment, and on shared cores it can double between the two (seen on 2-core CI)
        if excess > max(1.0, 2 * kernel.median_ms, 2 * idle_ms_per_call):
            flags.append("timing_escape")
            reasons.append(f"the parent saw {loop_wall_ms / calls:.4g} ms per timed call, {excess:.3g} ms more than "
                           f"the claimed median {kernel.median_ms:.4g} ms plus the loop's own overhead: work "
                           "escaped the timed region")
    return Plausibility(tuple(dict.fromkeys(flags)), tuple(reasons))


def roofline(*, bytes_moved: int, flops: int, peak_gbps: float | None, peak_gflops: float | None,
             kernel_ms: float, eager_ms: float | None) -> dict[str, float | None]:
    """Where a kernel stands against the device's measured roofs: achieved GB/s (the task's bytes over the
    median time) and GFLOP/s (its counted matmul/conv FLOPs), each with its fraction of the roof; eager's
    fraction of the compute roof beside it. Fields of `harness.types.Timing`; None where unknown."""
    out: dict[str, float | None] = dict(achieved_gbps=None, peak_gbps=peak_gbps, bandwidth_fraction=None,
                                        achieved_gflops=None, peak_gflops=peak_gflops if flops else None,
                                        flops_fraction=None, eager_flops_fraction=None)
    if not (kernel_ms > 0 and math.isfinite(kernel_ms)):
        return out
    if bytes_moved > 0:
        out["achieved_gbps"] = bytes_moved / (kernel_ms / 1e3) / 1e9
        if peak_gbps:
            out["bandwidth_fraction"] = out["achieved_gbps"] / peak_gbps
    if flops > 0:
        out["achieved_gflops"] = flops / (kernel_ms / 1e3) / 1e9
        if peak_gflops:
            out["flops_fraction"] = out["achieved_gflops"] / peak_gflops
            if eager_ms and eager_ms > 0:
                out["eager_flops_fraction"] = flops / (eager_ms / 1e3) / 1e9 / peak_gflops
    return out
