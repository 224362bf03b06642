"""LocalStore: versions, dedup, crash safety, the card, and reading the folder with datasets."""
from __future__ import annotations

import dataclasses
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from hub.bench import synthetic_rows
from hub.local_store import LocalStore
from hub.schema import FEATURES, ArchiveError, table_keys
from hub.archive import open_store

ROOT = Path(__file__).resolve().parent.parent


def keys(ds) -> list[tuple]:
    return sorted(table_keys(ds.data.table))


def git(path: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True, check=True).stdout


def test_tag_then_read_revision_returns_exactly_the_tagged_rows(tmp_path):
    store = open_store(tmp_path / "a")
    first, second = synthetic_rows(30, seed=1), synthetic_rows(30, seed=2)
    c1 = store.append(first, "first batch")
    store.tag("v1", "release one")
    c2 = store.append(second, "second batch")
    assert c1 != c2
    assert keys(store.read("v1")) == sorted(r.key() for r in first)
    assert keys(store.read(c1)) == sorted(r.key() for r in first)
    assert keys(store.read()) == sorted(r.key() for r in first + second)
    assert store.read().features == FEATURES
    # a row survives the trip intact (every column)
    back = {r["kernel_sha256"]: r for r in store.read("v1")}
    row = first[0]
    assert back[row.kernel_sha256] == {**row.to_dict(), "flags": list(row.flags)}
    level1 = store.read("v1", split="level_1")
    assert set(level1["level"]) == {1} and level1.num_rows == sum(r.level == 1 for r in first)
    assert [c.message for c in store.log()] == ["second batch", "first batch", "Initialize kernel archive"]
    tags = {r.name: r.commit_id for r in store.refs() if r.kind == "tag"}
    assert tags == {"v1": c1}


def test_append_never_rewrites_earlier_shards(tmp_path):
    store = LocalStore(tmp_path / "a")
    for i in range(4):
        store.append(synthetic_rows(9, seed=i), f"batch {i}")
    modified = git(store.path, "log", "--format=", "--name-only", "--diff-filter=MD", "--", "data")
    assert modified.strip() == ""
    assert len(git(store.path, "ls-files", "data").split()) == 4 * 3  # one shard per split per append
    assert git(store.path, "status", "--porcelain") == ""


def test_dedup_within_batch_and_against_stored_rows(tmp_path):
    store = LocalStore(tmp_path / "a")
    rows = synthetic_rows(10, seed=5)
    head = store.append(rows + rows[:3], "with duplicates")
    assert store.read().num_rows == 10
    assert store.append(rows[:4], "all seen") == head  # nothing new: no commit
    assert len(store.log()) == 2
    other_device = [dataclasses.replace(r, device="cpu") for r in rows[:2]]
    store.append(other_device + synthetic_rows(1, seed=6), "new device counts as new")
    assert store.read().num_rows == 13
    # the dedup index is a cache: dropping it changes nothing
    (store.path / ".git" / "kernel-evolve" / "index.jsonl").unlink()
    fresh = LocalStore(store.path)
    fresh.append(rows, "again")
    assert fresh.read().num_rows == 13


def test_card_is_valid_and_regenerated_on_every_append(tmp_path):
    from huggingface_hub import DatasetCard

    store = LocalStore(tmp_path / "a")
    rows = synthetic_rows(12, seed=3)
    store.append(rows, "one")
    card = DatasetCard((store.path / "README.md").read_text())
    meta = card.data.to_dict()
    assert meta["license"] == "apache-2.0" and meta["size_categories"] == ["n<1K"]
    splits = {d["split"]: d["path"] for d in meta["configs"][0]["data_files"]}
    assert splits == {f"level_{i}": f"data/level_{i}/*.parquet" for i in (1, 2, 3)}
    verified = sum(r.status == "verified" for r in rows)
    assert f"| verified | {verified} |" in card.text
    store.append(synthetic_rows(5, seed=4, levels=(7,)), "two")
    text = (store.path / "README.md").read_text()
    assert "level_7" in yaml.safe_load(text.split("---")[1])["configs"][0]["data_files"][-1]["split"]
    assert f"| rows | {12 + 5} |" in text


def test_load_dataset_reads_the_local_store(tmp_path):
    import datasets

    store = LocalStore(tmp_path / "a")
    rows = synthetic_rows(21, seed=9)
    store.append(rows, "rows")
    dd = datasets.load_dataset(str(store.path), cache_dir=str(tmp_path / "cache"))
    assert sorted(dd) == ["level_1", "level_2", "level_3"]
    got = sorted(k for split in dd.values() for k in table_keys(split.data.table))
    assert got == sorted(r.key() for r in rows)
    assert dd["level_2"].features == FEATURES
    # the card also declares one config per split
    one = datasets.load_dataset(str(store.path), "level_2", cache_dir=str(tmp_path / "cache"))
    assert list(one) == ["level_2"] and one["level_2"].num_rows == dd["level_2"].num_rows


def test_clear_errors(tmp_path):
    store = LocalStore(tmp_path / "a")
    with pytest.raises(ArchiveError, match="archive init"):
        store.read()
    store.append(synthetic_rows(2), "x")
    with pytest.raises(ArchiveError, match="no revision 'v9'"):
        store.read("v9")
    with pytest.raises(ArchiveError, match="not a valid tag name"):
        store.tag("two words")
    store.tag("v1")
    with pytest.raises(ArchiveError, match="already exists"):
        store.tag("v1")
    bad = dataclasses.replace(synthetic_rows(1, seed=8)[0], status="great")
    with pytest.raises(ArchiveError, match="unknown status"):
        store.append([bad], "bad")
    lie = dataclasses.replace(synthetic_rows(1, seed=8)[0], status="incorrect", correct=True)
    with pytest.raises(ArchiveError, match="only verified"):
        store.append([lie], "lie")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "file.txt").write_text("x")
    with pytest.raises(ArchiveError, match="not empty"):
        LocalStore(tmp_path / "junk").init()


_WRITER = """
import sys
sys.path.insert(0, {root!r})
from hub.bench import synthetic_rows
from hub.local_store import LocalStore
store, start = LocalStore(sys.argv[1]), int(sys.argv[2])
print("ready", flush=True)
for i in range(start, start + 10_000):
    store.append(synthetic_rows(20, seed=i), f"batch {{i}}")
"""


def test_append_killed_at_random_points_never_corrupts(tmp_path):
    store = LocalStore(tmp_path / "a")
    store.init()
    rnd = random.Random(1234)
    script = _WRITER.format(root=str(ROOT))
    for round_ in range(6):
        done = len(store.log()) - 1
        proc = subprocess.Popen([sys.executable, "-c", script, str(store.path), str(1000 * round_)],
                                start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"  # imports done: from here on it only appends
        time.sleep(rnd.uniform(0.0, 1.5))  # an append takes ~0.2 s, so the kill lands anywhere inside one
        alive = proc.poll() is None  # a writer that could not recover from the last kill has died by now
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        assert alive, f"round {round_}: the writer died before the kill: {proc.stderr.read()[-2000:]}"
        reader = LocalStore(store.path)  # what a new process sees right after the kill
        log = reader.log()
        commits = len(log) - 1
        assert reader.read().num_rows == 20 * commits, f"round {round_}: rows do not match {commits} commits"
        assert all(c.message.startswith("batch ") for c in log[:-1])
        fsck = subprocess.run(["git", "-C", str(store.path), "fsck", "--strict", "--no-dangling"],
                              capture_output=True, text=True)
        assert fsck.returncode == 0, fsck.stdout + fsck.stderr
        assert commits >= done
        # the folder itself (what load_dataset sees) never holds rows no commit has
        in_tree = sum(pq.read_metadata(p).num_rows for p in (store.path / "data").rglob("*.parquet"))
        assert in_tree in (20 * commits, 20 * (commits - 1)), (in_tree, commits)
    # the next writer cleans up whatever the kill left and carries on
    store.append(synthetic_rows(20, seed=99_999), "after the kills")
    assert git(store.path, "status", "--porcelain", "--untracked-files=all") == ""
    commits = len(store.log()) - 1
    assert store.read().num_rows == 20 * commits
    assert commits >= 4, "the writers hardly committed; the test did not exercise kills between appends"


@pytest.mark.parametrize("die_at", ["commit", "rename"])
def test_append_interrupted_at_each_step_is_undone_or_completed(tmp_path, monkeypatch, die_at):
    """Deterministic companions of the random kills: die just before `git commit`, or just after it."""
    import hub.local_store as ls

    store = LocalStore(tmp_path / "a")
    store.append(synthetic_rows(10, seed=1), "before")

    class Killed(BaseException):
        pass

    real_run, real_replace = ls.subprocess.run, ls.os.replace

    def run(args, *a, **kw):
        if die_at == "commit" and "commit" in args:
            raise Killed
        return real_run(args, *a, **kw)

    def replace(src, dst):
        if die_at == "rename" and "data" in str(dst):
            raise Killed
        return real_replace(src, dst)

    monkeypatch.setattr(ls.subprocess, "run", run)
    monkeypatch.setattr(ls.os, "replace", replace)
    with pytest.raises(Killed):
        store.append(synthetic_rows(10, seed=2), "interrupted")
    monkeypatch.undo()
    reader = LocalStore(store.path)
    expected = 20 if die_at == "rename" else 10  # after `git commit` returned, the append happened
    assert reader.read().num_rows == expected and len(reader.log()) == 1 + expected // 10
    reader.append(synthetic_rows(10, seed=3), "after")
    assert reader.read().num_rows == expected + 10
    assert git(store.path, "status", "--porcelain", "--untracked-files=all") == ""
    assert not list((store.path / ".git" / "kernel-evolve" / "tmp").iterdir())


def test_locks_left_by_a_git_commit_killed_mid_write_do_not_block_the_next_writer(tmp_path, monkeypatch):
    """CI once killed an append inside `git commit`: it left `.git/HEAD.lock`, and every later write failed."""
    import hub.local_store as ls

    store = LocalStore(tmp_path / "a")
    store.append(synthetic_rows(10, seed=1), "before")
    head = store.head()

    class Killed(BaseException):
        pass

    real_run = ls.subprocess.run
    git_dir = store.path / ".git"

    def run(args, *a, **kw):
        if "commit" in args:  # what git holds at the moment it updates the branch, then dies
            for lock in ("index.lock", "HEAD.lock", "refs/heads/main.lock", "packed-refs.lock",
                         "logs/HEAD.lock"):
                (git_dir / lock).parent.mkdir(parents=True, exist_ok=True)
                (git_dir / lock).write_text("")
            raise Killed
        return real_run(args, *a, **kw)

    monkeypatch.setattr(ls.subprocess, "run", run)
    with pytest.raises(Killed):
        store.append(synthetic_rows(10, seed=2), "interrupted")
    monkeypatch.undo()
    reader = LocalStore(store.path)
    assert reader.head() == head and reader.read().num_rows == 10
    reader.append(synthetic_rows(10, seed=3), "after")
    assert reader.read().num_rows == 20 and len(reader.log()) == 3
    assert git(store.path, "status", "--porcelain", "--untracked-files=all") == ""
    assert not list(git_dir.glob("*.lock")) and not list((git_dir / "refs").rglob("*.lock"))
