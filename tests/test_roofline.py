"""The roofline of a verdict's timing: achieved GB/s and GFLOP/s against the device's measured roofs."""
from __future__ import annotations

import math
from pathlib import Path

from harness.candidate import load_candidate
from harness.judge.timing import roofline
from harness.judge.verify import verify
from harness.task import known_good_kernel, load_task


def test_roofline_arithmetic() -> None:
    r = roofline(bytes_moved=3_000_000_000, flops=0, peak_gbps=3000.0, peak_gflops=500_000.0, kernel_ms=2.0,
                 eager_ms=3.0)
    assert math.isclose(r["achieved_gbps"], 1500.0) and math.isclose(r["bandwidth_fraction"], 0.5)
    assert r["achieved_gflops"] is None and r["flops_fraction"] is None and r["peak_gflops"] is None
    m = roofline(bytes_moved=200 << 20, flops=137_438_953_472, peak_gbps=3000.0, peak_gflops=400_000.0,
                 kernel_ms=2.0, eager_ms=2.75)
    assert math.isclose(m["achieved_gflops"], 68_719.476736) and math.isclose(m["flops_fraction"], 68_719.476736 / 4e5)
    assert math.isclose(m["eager_flops_fraction"], 137_438_953_472 / 2.75e-3 / 1e9 / 4e5)
    assert roofline(bytes_moved=1, flops=1, peak_gbps=None, peak_gflops=None, kernel_ms=float("nan"),
                    eager_ms=None)["achieved_gbps"] is None


def test_a_verdict_reports_its_roofline_and_counts_matmul_flops() -> None:
    """The reference measures the roofs and counts the task's FLOPs (torch's FlopCounterMode); the verdict
    puts the kernel against them. A memory-bound task has no FLOP figure; a matmul has one."""
    for tid, has_flops in (("level1/relu", False), ("level1/matmul", True)):
        task = load_task(tid)
        v = verify(load_candidate(known_good_kernel(task, "cpu", format="K"), task), backend="cpu", seeds=1,
                   compile_baseline=False, repeats=5, warmup=1)
        assert v.status == "verified", (tid, v.error)
        t = v.timing
        assert t is not None and t.achieved_gbps and t.peak_gbps and t.bandwidth_fraction, t
        assert math.isclose(t.bandwidth_fraction, t.achieved_gbps / t.peak_gbps)
        if has_flops:
            n = 70  # level1/matmul's SMALL size: an n x n x n matmul is 2 n^3 FLOPs
            assert t.peak_gflops and math.isclose(t.achieved_gflops, 2 * n ** 3 / (t.kernel.median_ms / 1e3) / 1e9)
            assert t.flops_fraction and t.eager_flops_fraction
        else:
            assert t.achieved_gflops is None and t.flops_fraction is None
