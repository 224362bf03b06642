"""HubStore scenarios, run by tests/test_hub_hubstore.py in a fresh interpreter.

huggingface_hub and datasets read HF_ENDPOINT (and the Xet/offline switches)
when they are imported, so each scenario runs in its own process whose
environment points at the stand-in Hub started by the test. Usage:
`python tests/hub_scenarios.py NAME WORKDIR` with HF_ENDPOINT etc. set.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from huggingface_hub import CommitOperationAdd, HfApi  # noqa: E402
from huggingface_hub.errors import HfHubHTTPError  # noqa: E402

from hub.bench import synthetic_rows  # noqa: E402
from hub.hub_store import HubStore  # noqa: E402
from hub.local_store import LocalStore  # noqa: E402
from hub.schema import ArchiveError, table_keys  # noqa: E402
from hub.sync import pull, push  # noqa: E402


def keys(ds) -> list:
    return sorted(table_keys(ds.data.table))


def expect_error(fn, *needles: str) -> str:
    try:
        fn()
    except ArchiveError as e:
        msg = str(e)
        assert all(n in msg for n in needles), f"error {msg!r} lacks {needles}"
        return msg
    raise AssertionError(f"expected an ArchiveError mentioning {needles}")


def tag_roundtrip(work: Path) -> None:
    store = HubStore("alice/kernels")
    first, second = synthetic_rows(24, seed=1), synthetic_rows(24, seed=2)
    c1 = store.append(first, "first batch")
    store.tag("v1", "release one")
    c2 = store.append(second + first[:5], "second batch\n\nwith a body")
    assert c1 != c2
    assert keys(store.read("v1")) == sorted(r.key() for r in first)
    assert keys(store.read()) == sorted(r.key() for r in first + second)  # the 5 repeats were deduplicated
    assert set(store.read(split="level_2")["level"]) == {2}
    assert [c.message for c in store.log()][:2] == ["second batch\n\nwith a body", "first batch"]
    assert {r.name: r.commit_id for r in store.refs() if r.kind == "tag"} == {"v1": c1}
    # one create_commit per append: the parquet shards of an append arrive together with the card
    api = HfApi()
    added = [f.path for f in api.list_repo_tree("alice/kernels", repo_type="dataset", revision=c2, recursive=True)
             if f.path.endswith(".parquet")]
    assert len(added) == 6  # 3 splits x 2 appends
    assert all(f.lfs for f in api.get_paths_info("alice/kernels", added, repo_type="dataset", revision=c2))


def conflict_retry(work: Path) -> None:
    a, b = HubStore("alice/shared"), HubStore("alice/shared")
    a.append(synthetic_rows(6, seed=1), "a1")
    stale = a.head()
    b.append(synthetic_rows(6, seed=2), "b1")
    # the stand-in refuses a commit on a stale parent, as the Hub does (HTTP 412)
    try:
        HfApi().create_commit("alice/shared", repo_type="dataset", parent_commit=stale, commit_message="stale",
                              operations=[CommitOperationAdd("x.txt", b"x")])
        raise AssertionError("a stale parent_commit was accepted")
    except HfHubHTTPError as e:
        assert e.response.status_code == 412
    real_head, calls = a.head, iter([stale])
    a.head = lambda revision=None: next(calls, None) or real_head(revision)  # a's first read is stale
    a.append(synthetic_rows(6, seed=3) + synthetic_rows(6, seed=2), "a2 after a conflict")
    assert [c.message for c in b.log()][:3] == ["a2 after a conflict", "b1", "a1"]
    assert b.read().num_rows == 18  # b's rows were seen on the retry and not added twice


def push_pull(work: Path) -> None:
    src = LocalStore(work / "src")
    src.append(synthetic_rows(15, seed=1), "first")
    src.tag("v1", "release one")
    src.append(synthetic_rows(15, seed=2), "second\n\nbody line")
    remote = HubStore("alice/mirror")
    res = push(src, remote, tag="v2", progress=False)
    assert res.commits == 3 and res.tags == 2
    remote_msgs = [c.message for c in remote.log()]
    assert remote_msgs == [c.message for c in src.log()] + ["initial commit"]
    dst = LocalStore(work / "dst")
    res = pull(remote, dst, progress=False)
    assert res.commits == 4 and res.tags == 2
    assert [c.message for c in dst.log()] == remote_msgs
    for tag in ("v1", "v2"):
        assert keys(dst.read(tag)) == keys(src.read(tag)) == keys(remote.read(tag))
    # incremental both ways; nothing is pushed twice
    src.append(synthetic_rows(4, seed=3), "third")
    assert push(src, remote, progress=False).commits == 1
    assert pull(remote, dst, progress=False).commits == 1
    assert push(dst, remote, progress=False).commits == 0
    assert keys(dst.read()) == keys(src.read())
    # pull --revision stops at a tag
    old = LocalStore(work / "old")
    pull(remote, old, revision="v1", progress=False)
    assert keys(old.read()) == keys(src.read("v1"))
    # both sides moved on: push refuses, pull merges with dedup
    dst.append(synthetic_rows(3, seed=4) + synthetic_rows(2, seed=7), "local only")
    other = LocalStore(work / "other")
    pull(remote, other, progress=False)
    other.append(synthetic_rows(2, seed=5) + synthetic_rows(3, seed=4), "remote only")
    push(other, remote, progress=False)
    expect_error(lambda: push(dst, remote, progress=False), "pull", "first")
    res = pull(remote, dst, progress=False)
    assert res.merged_rows == 2, res
    assert dst.read().num_rows == 15 + 15 + 4 + 5 + 2
    # after the merge, push works: it uploads the local-only commit, never the merged rows (the remote has them),
    # nor the local-only rows that the other writer had pushed too
    res = push(dst, remote, progress=False)
    assert res.commits == 2, res            # "local only" replayed, the merge mapped without an upload
    assert remote.log()[0].message == "local only"
    assert keys(remote.read()) == keys(dst.read())
    assert remote.read().num_rows == dst.read().num_rows == 41   # no row twice on the Hub
    # and both sides are in step again: pulls fast-forward, later pushes replay one commit each
    assert pull(remote, dst, progress=False) == pull(remote, dst, progress=False)
    res = pull(remote, dst, progress=False)
    assert (res.commits, res.merged_rows) == (0, 0), res
    res = pull(remote, other, progress=False)
    assert (res.commits, res.merged_rows) == (1, 0), res
    assert keys(other.read()) == keys(dst.read())
    dst.append(synthetic_rows(2, seed=6), "after the merge")
    assert push(dst, remote, progress=False).commits == 1
    assert remote.log()[0].message == "after the merge"
    assert pull(remote, other, progress=False).commits == 1 and keys(other.read()) == keys(dst.read())


def compaction(work: Path) -> None:
    """`compact` on the Hub and locally: one tagged commit, the same rows in fewer shards, replayed by push/pull."""
    from hub.compact import compact

    def shards(files) -> list[str]:
        return sorted(p for p in files if p.startswith("data/") and p.endswith(".parquet"))

    store = HubStore("alice/busy")
    for i in range(4):
        store.append(synthetic_rows(6, seed=i), f"batch {i}")
    before = keys(store.read())
    clone = LocalStore(work / "clone")
    pull(store, clone, progress=False)
    res = compact(store, tag="compacted-1")
    assert (res.shards_before, res.shards_after, res.rows) == (12, 3, 24), res
    assert [r.commit_id for r in store.refs() if r.name == "compacted-1"] == [res.commit]
    assert len(shards(store.files())) == 3 and keys(store.read()) == before
    assert len(shards(store.files(store.log()[1].commit_id))) == 12     # the version before is intact
    assert compact(store, tag="compacted-2").commit is None            # nothing left to compact
    # pull replays the removal of the old shards
    assert pull(store, clone, progress=False).commits == 1
    assert len(clone.shard_paths()) == 3 and keys(clone.read()) == before
    # a local compaction, pushed, removes the same shards on the Hub
    local = LocalStore(work / "local")
    for i in range(3):
        local.append(synthetic_rows(5, seed=10 + i), f"local {i}")
    res = compact(local)
    assert res.tag.startswith("compacted-") and len(local.shard_paths()) == 3 and res.shards_before == 9
    mirror = HubStore("alice/compacted-mirror")
    push(local, mirror, progress=False)
    assert len(shards(mirror.files())) == 3 and keys(mirror.read()) == keys(local.read())
    assert res.tag in {r.name for r in mirror.refs() if r.kind == "tag"}


def errors(work: Path) -> None:
    import os

    good = HubStore("alice/errs")
    good.append(synthetic_rows(3), "one")
    expect_error(lambda: good.read("v404"), "no revision 'v404'")
    expect_error(lambda: HubStore("alice/missing").read(), "does not exist", "HF_TOKEN")
    expect_error(lambda: HubStore("not-a-repo-id"), "OWNER/NAME")
    expect_error(lambda: HubStore("alice/errs", token="hf_wrong").log(), "rejected the token")
    private = HubStore("alice/secret", private=True)
    private.append(synthetic_rows(2), "hidden")
    expect_error(lambda: HubStore("alice/secret", token="hf_bob").read(), "private")
    expect_error(lambda: HubStore("alice/errs", token="hf_bob").append(synthetic_rows(1, seed=7), "x"),
                 "write access")
    del os.environ["HF_TOKEN"]
    expect_error(lambda: HubStore("alice/errs").append(synthetic_rows(1, seed=8), "x"), "hf auth login", "HF_TOKEN")
    expect_error(lambda: HubStore("alice/errs").tag("v1"), "token")


def standin_fidelity(work: Path) -> None:
    """The stand-in serves the library's own paths too: Dataset.push_to_hub (LFS), deletions, HfFileSystem."""
    import datasets
    from huggingface_hub import CommitOperationDelete, HfFileSystem

    ds = datasets.Dataset.from_dict({"a": list(range(50)), "b": ["x"] * 50})
    ds.push_to_hub("alice/plain")
    assert datasets.load_dataset("alice/plain", split="train")["a"] == list(range(50))
    api = HfApi()
    api.create_commit("alice/plain", repo_type="dataset", commit_message="drop data",
                      operations=[CommitOperationDelete("data/")])
    assert not any(p.startswith("data") for p in api.list_repo_files("alice/plain", repo_type="dataset"))
    assert "datasets/alice/plain/README.md" in HfFileSystem().ls("datasets/alice/plain", detail=False)


if __name__ == "__main__":
    globals()[sys.argv[1]](Path(sys.argv[2]))
    print("scenario ok")
