"""Hub writes against the stand-in Hub: conflicts told by status code (409, 412) and retried after a jittered
backoff, other statuses not retried; dedup keys read by column projection (range reads of the key columns, not
whole shards); a card edited on the Hub keeps its edits through appends. The client runs in a fresh interpreter
(tests/hub_write_scenarios.py); the stand-in runs here, so the test sets its faults and counts what it served."""
from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from test_hub_hubstore import standin  # noqa: F401  (the hub tests' stand-in fixture)

from hub.retry import Backoff, retry_on_conflict

HERE = Path(__file__).resolve().parent


def scenario(name: str, hub, work: Path) -> None:
    env = {
        **os.environ,
        "HF_ENDPOINT": hub.endpoint, "HF_HUB_DISABLE_XET": "1", "HF_HUB_OFFLINE": "0", "HF_DATASETS_OFFLINE": "0",
        "HF_TOKEN": "hf_alice", "HF_HOME": str(work / "hf-home"), "HF_DATASETS_CACHE": str(work / "ds-cache"),
        "HF_HUB_DISABLE_PROGRESS_BARS": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
    }
    p = subprocess.run([sys.executable, str(HERE / "hub_write_scenarios.py"), name, str(work)], env=env,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0 and "scenario ok" in p.stdout, f"scenario {name} failed:\n{p.stdout}\n{p.stderr[-6000:]}"


def commits(hub, repo: str = "alice/kernels") -> int:
    return sum(1 for m, p in hub.requests if m == "POST" and p == f"/api/datasets/{repo}/commit/main")


def test_409_and_412_are_retried_after_jittered_backoff(standin, tmp_path):  # noqa: F811
    standin.commit_faults[:] = [409, 412]
    scenario("conflicts_retried", standin, tmp_path)
    assert commits(standin) == 3 and standin.commit_faults == []   # two refused attempts, then the commit


def test_other_statuses_are_not_retried_and_endless_conflicts_give_up_clearly(standin, tmp_path):  # noqa: F811
    standin.commit_faults[:] = [500, 412, 412, 412, 412]
    scenario("errors_not_retried", standin, tmp_path)
    assert commits(standin) == 5 and standin.commit_faults == []


def test_retry_helper_grows_the_cap_exponentially_and_retries_nothing_else():
    b = Backoff(attempts=8, base_s=1.0, cap_s=10.0)
    rng = random.Random(0)
    for n, cap in enumerate([1, 2, 4, 8, 10, 10]):
        xs = [b.delay(n, rng) for _ in range(300)]
        assert 0 <= min(xs) and max(xs) <= cap and max(xs) > 0.8 * cap   # spread over [0, cap]
    calls = []

    def flaky():
        calls.append(1)
        raise ValueError("not an HTTP conflict")

    with pytest.raises(ValueError):
        retry_on_conflict(flaky, b, sleep=lambda s: None)
    assert len(calls) == 1


def test_dedup_keys_are_read_by_column_projection_not_whole_shards(standin, tmp_path):  # noqa: F811
    scenario("projection", standin, tmp_path)
    d = standin.repo_dir("datasets", "alice/kernels")
    first = standin.git(d, "rev-list", "--reverse", "main").split()[1]      # the bulky append
    sizes = {e["path"]: e["size"] for e in standin.entries(d, first) if e["path"].endswith(".parquet")}
    assert len(sizes) == 3 and sum(sizes.values()) > 5_000_000
    reads = [(p, status, n) for p, status, n in standin.served if p.endswith(".parquet")]
    assert {p for p, _, _ in reads} == set(sizes)                          # every stored shard was consulted ...
    assert all(status == 206 for _, status, _ in reads)                     # ... by range requests only
    # ... reading the footers and key columns (~100 KB a read), not the 2 MB of kernel code in each shard
    assert sum(n for _, _, n in reads) < 0.15 * sum(sizes.values())


def test_a_card_edited_on_the_hub_keeps_its_edits_through_appends(standin, tmp_path):  # noqa: F811
    scenario("card_edited_on_the_hub", standin, tmp_path)
