"""HubStore, push and pull against the stand-in Hub (tests/hub_standin.py) on loopback.

The real Hub is the target; it is unreachable here. Each scenario in
tests/hub_scenarios.py runs in a fresh interpreter because huggingface_hub and
datasets read HF_ENDPOINT when imported; the stand-in runs in this process so
the tests can check which protocol paths the client took.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hub_standin import StandinHub

HERE = Path(__file__).resolve().parent


@pytest.fixture
def standin(tmp_path):
    hub = StandinHub(tmp_path / "hub", tokens={"hf_alice": "alice", "hf_bob": "bob"}).start()
    yield hub
    hub.stop()


def run_scenario(name: str, hub: StandinHub, work: Path) -> None:
    env = {
        **os.environ,
        "HF_ENDPOINT": hub.endpoint, "HF_HUB_DISABLE_XET": "1", "HF_HUB_OFFLINE": "0", "HF_DATASETS_OFFLINE": "0",
        "HF_TOKEN": "hf_alice", "HF_HOME": str(work / "hf-home"), "HF_DATASETS_CACHE": str(work / "ds-cache"),
        "HF_HUB_DISABLE_PROGRESS_BARS": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
    }
    p = subprocess.run([sys.executable, str(HERE / "hub_scenarios.py"), name, str(work)], env=env,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0 and "scenario ok" in p.stdout, f"scenario {name} failed:\n{p.stdout}\n{p.stderr[-6000:]}"


def test_append_tag_append_read_tag_on_the_hub(standin, tmp_path):
    run_scenario("tag_roundtrip", standin, tmp_path)
    calls = set(standin.requests)
    # parquet shards went through the LFS batch API and a PUT to the returned href, as on the real Hub
    assert ("POST", "/datasets/alice/kernels.git/info/lfs/objects/batch") in calls
    assert any(m == "PUT" and p.startswith("/lfs-upload/") for m, p in calls)
    assert ("POST", "/api/validate-yaml") in calls
    commits = [c for c in standin.requests if c == ("POST", "/api/datasets/alice/kernels/commit/main")]
    assert len(commits) == 2  # one create_commit per append
    assert any(m == "GET" and "/resolve/" in p and p.endswith(".parquet") for m, p in calls)  # load_dataset read


def test_concurrent_writer_gets_412_and_append_retries(standin, tmp_path):
    run_scenario("conflict_retry", standin, tmp_path)


def test_push_pull_round_trip_keeps_commits_and_tags(standin, tmp_path):
    run_scenario("push_pull", standin, tmp_path)


def test_compact_rewrites_shards_in_one_tagged_commit_and_sync_replays_it(standin, tmp_path):
    run_scenario("compaction", standin, tmp_path)
    commits = [c for c in standin.requests if c == ("POST", "/api/datasets/alice/busy/commit/main")]
    assert len(commits) == 4 + 1   # four appends, one compaction


def test_missing_token_private_repo_and_bad_revision_give_clear_errors(standin, tmp_path):
    run_scenario("errors", standin, tmp_path)


def test_standin_serves_push_to_hub_and_deletions(standin, tmp_path):
    run_scenario("standin_fidelity", standin, tmp_path)
    assert ("POST", "/datasets/alice/plain.git/info/lfs/objects/batch") in set(standin.requests)
