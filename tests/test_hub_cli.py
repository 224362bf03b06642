"""`kernel-evolve archive ...` (hub.cli.app): every command names its archive; errors are one line, exit 3."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hub_standin import StandinHub
from typer.testing import CliRunner

from hub.bench import sakana_table
from hub.cli import app
from hub.local_store import LocalStore

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def runner():
    return CliRunner()


def test_default_archive_path_is_printed_and_used(runner, tmp_path, monkeypatch):
    monkeypatch.setenv("KERNEL_EVOLVE_ARCHIVE", str(tmp_path / "default"))
    r = runner.invoke(app, ["init"])
    assert r.exit_code == 0, r.output
    assert f"archive: {tmp_path / 'default'}" in r.output
    assert LocalStore(tmp_path / "default").head() is not None


def test_import_stats_tag_log_export(runner, tmp_path):
    arch = str(tmp_path / "a")
    src = tmp_path / "s.parquet"
    pq.write_table(sakana_table(60), src)
    r = runner.invoke(app, ["import-sakana", str(src), "--archive", arch])
    assert r.exit_code == 0 and "imported 60 new rows" in r.output, r.output
    r = runner.invoke(app, ["stats", "--archive", arch])
    assert r.exit_code == 0 and "60 rows" in r.output and "unverified 60" in r.output, r.output
    assert runner.invoke(app, ["tag", "v1", "-m", "first import", "--archive", arch]).exit_code == 0
    r = runner.invoke(app, ["tags", "--archive", arch])
    assert "v1" in r.output
    r = runner.invoke(app, ["log", "--archive", arch])
    assert "Import 60 Sakana-schema rows" in r.output and "Initialize kernel archive" in r.output
    r = runner.invoke(app, ["export-sakana", str(tmp_path / "out"), "--archive", arch, "--revision", "v1"])
    assert r.exit_code == 0, r.output
    assert sum(pq.read_table(p).num_rows for p in (tmp_path / "out").glob("*.parquet")) == 60


def test_errors_are_one_line_and_exit_3_never_1(runner, tmp_path):
    """Archive errors exit 3 (hub.exit_codes): 1 is `verify`'s "not verified" and nothing else."""
    arch = str(tmp_path / "a")
    runner.invoke(app, ["init", "--archive", arch])
    r = runner.invoke(app, ["stats", "--archive", arch, "--revision", "nope"])
    assert r.exit_code == 3 and "error: no revision 'nope'" in r.output and "Traceback" not in r.output
    r = runner.invoke(app, ["import-sakana", str(tmp_path / "missing.parquet"), "--archive", arch])
    assert r.exit_code == 3 and "error:" in r.output
    r = runner.invoke(app, ["push", "alice/x", "--archive", "hf://alice/y"])
    assert r.exit_code == 3 and "local --archive" in r.output
    r = runner.invoke(app, ["compact", "--archive", arch, "--rows-per-shard", "0"])
    assert r.exit_code == 2 and "Traceback" not in r.output          # a bad option value is a usage error


def test_compact_command_rewrites_shards_in_one_tagged_commit(runner, tmp_path):
    from hub.bench import synthetic_rows
    from hub.local_store import LocalStore

    store = LocalStore(tmp_path / "a")
    for i in range(5):
        store.append(synthetic_rows(8, seed=i), f"batch {i}")
    before = sorted(store.read().data.table.column("kernel_sha256").to_pylist())
    r = runner.invoke(app, ["compact", "--archive", str(store.path), "--tag", "v-compact", "--rows-per-shard", "10"])
    assert r.exit_code == 0 and "compacted 15 shards into" in r.output, r.output
    assert len(store.shard_paths()) == sum(-(-n // 10) for n in store.summary().splits.values()) < 15
    assert sorted(store.read().data.table.column("kernel_sha256").to_pylist()) == before
    assert store.log()[0].commit_id == {t.name: t.commit_id for t in store.refs()}["v-compact"]
    assert len(store.shard_paths(store.log()[1].commit_id)) == 15      # the version before is intact
    r = runner.invoke(app, ["compact", "--archive", str(store.path), "--rows-per-shard", "10"])
    assert r.exit_code == 0 and "nothing to compact" in r.output, r.output
    r = runner.invoke(app, ["compact", "--archive", str(store.path), "--tag", "v-compact"])
    assert r.exit_code == 3 and "already exists" in r.output
    store.append(synthetic_rows(4, seed=99), "after compaction")       # appends and dedup still work on top
    assert store.append(synthetic_rows(8, seed=0), "all seen") == store.log()[0].commit_id


def test_version_and_the_exit_code_convention():
    from pipeline.cli import app as top, main

    r = CliRunner().invoke(top, ["--version"])
    assert r.exit_code == 0 and r.output.startswith("kernel-evolve ") and "Python" in r.output
    r = CliRunner().invoke(top, ["verify", "level1/no_such_task", "missing.cpp"])
    assert r.exit_code == 2 and "error:" in r.output
    bug = ("import sys\nimport pipeline.cli as c\nsys.argv = ['kernel-evolve', 'tasks']\n"
           "def tasks():\n    return 1 / 0\n"
           "c.app.registered_commands[0].callback = tasks   # a bug in a command\nc.main()\n")
    p = subprocess.run([sys.executable, "-c", bug], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert p.returncode == 4 and "ZeroDivisionError" in p.stderr and "internal error (exit 4)" in p.stderr


def test_push_and_pull_commands_through_the_standin(tmp_path):
    hub = StandinHub(tmp_path / "hub", tokens={"hf_alice": "alice"}).start()
    try:
        env = {**os.environ, "HF_ENDPOINT": hub.endpoint, "HF_HUB_DISABLE_XET": "1", "HF_HUB_OFFLINE": "0",
               "HF_TOKEN": "hf_alice", "HF_HOME": str(tmp_path / "hf"), "HF_DATASETS_CACHE": str(tmp_path / "ds"),
               "PYTHONPATH": str(ROOT)}
        src, dst = tmp_path / "src", tmp_path / "dst"
        store = LocalStore(src)
        store.append(list(_rows()), "kernels from run 1")

        def cli(*args: str) -> str:
            p = subprocess.run([sys.executable, "-m", "hub.cli", *args], env=env, capture_output=True, text=True,
                               cwd=ROOT, timeout=300)
            assert p.returncode == 0, p.stdout + p.stderr
            return p.stdout + p.stderr

        out = cli("push", "alice/arch", "--archive", str(src), "--tag", "v1")
        assert "pushed 2 commit(s) and 1 tag(s)" in out and f"archive: {src}" in out
        out = cli("pull", "alice/arch", "--archive", str(dst), "--revision", "v1")
        assert "pulled 3 commit(s) and 1 tag(s)" in out
        assert [c.message for c in LocalStore(dst).log()][:2] == ["kernels from run 1", "Initialize kernel archive"]
        out = cli("log", "--archive", "hf://alice/arch")
        assert "kernels from run 1" in out and "initial commit" in out
    finally:
        hub.stop()


def _rows():
    from hub.bench import synthetic_rows

    return synthetic_rows(9, seed=11)
