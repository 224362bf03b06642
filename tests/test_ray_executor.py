"""The `ray` executor on a local Ray instance started here: real build+verify tasks in Ray workers, on the CPU."""
from __future__ import annotations

import os
import re
from concurrent.futures import Future
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="ray is not installed: pip install 'kernel-evolve[ray]' to run these tests")

from harness.candidate import load_candidate  # noqa: E402
from harness.executors.factory import make_executor  # noqa: E402
from harness.executors.ray_executor import RayExecutor  # noqa: E402
from harness.task import known_good_kernel, load_task  # noqa: E402
from harness.judge.verify import verify  # noqa: E402

HERE = Path(__file__).parent
FAST = dict(backend="cpu", size="small", compile_baseline=False, timeout_s=60.0, repeats=5, warmup=1, seeds=2)


@pytest.fixture(scope="module")
def cluster():
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_verdicts_come_back_right(cluster) -> None:
    ex = RayExecutor(cache_dir=os.environ["KERNEL_EVOLVE_CACHE"])
    gelu = load_task("level1/gelu")
    good = load_candidate(known_good_kernel(gelu, "cpu"), gelu)
    bad = load_candidate(HERE / "kernels" / "cpu" / "half_written.cpp", load_task("level1/relu"))
    futs = [ex.submit(good, **FAST), ex.submit(bad, **FAST)]
    assert all(isinstance(f, Future) for f in futs)
    v_good, v_bad = (f.result(timeout=600) for f in futs)

    assert v_good.status == "verified", (v_good.error, v_good.checks)
    assert v_good.kernel_sha256 == good.sha256 and v_good.task_id == "level1/gelu"
    assert v_good.env.backend == "cpu" and v_good.timing is not None
    assert any(c.name.startswith("case:") and c.outcome == "pass" for c in v_good.checks)
    assert {"static", "build", "reference", "run"} <= set(v_good.seconds)

    assert v_bad.status == "incorrect", (v_bad.error, v_bad.checks)
    assert v_bad.kernel_sha256 == bad.sha256
    assert any(c.name.startswith("case:") and c.outcome == "fail" for c in v_bad.checks)

    # the Ray worker's sandbox is as strong as a local run's (same namespaces, privilege drop and limits)
    local = verify(bad, **dict(FAST, timing=False))
    iso = [re.sub(r"\d+", "N", c.reason) for v in (v_bad, local) for c in v.checks if c.name == "isolation"]
    assert len(iso) == 2 and iso[0] == iso[1], iso


def test_ray_task_errors_reach_the_future(cluster) -> None:
    ex = RayExecutor()
    relu = load_task("level1/relu")
    cand = load_candidate(HERE / "kernels" / "cpu" / "half_written.cpp", relu)
    with pytest.raises(ValueError, match="unknown backend"):
        ex.submit(cand, backend="tpu").result(timeout=300)
    # a GPU task on a cluster without GPUs would stay pending forever in Ray: it fails at once instead
    with pytest.raises(ValueError, match="no GPU"):
        ex.submit(cand, backend="cuda").result(timeout=5)


def test_gpu_resources_per_task(cluster) -> None:
    ex = RayExecutor()
    assert ex._gpus_for({"backend": "cpu"}) == 0.0
    assert ex._gpus_for({"backend": "cuda"}) == 1.0
    assert ex._gpus_for({"backend": "cuda", "timing": False}) == 0.25
    assert RayExecutor(num_gpus_per_task=2)._gpus_for({"backend": "cuda"}) == 2.0
    assert ex._gpus_for({"backend": "auto"}) == (1.0 if ex.cluster_gpus() > 0 else 0.0)


def test_make_executor_by_name(cluster) -> None:
    assert isinstance(make_executor("ray"), RayExecutor)
    with pytest.raises(ValueError, match="unknown executor"):
        make_executor("slurm")
    with pytest.raises(ValueError, match="bad option"):
        make_executor("ray", gpus_please=3)
