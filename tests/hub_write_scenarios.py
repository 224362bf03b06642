"""Hub-write scenarios, run by tests/test_hub_writes.py in a fresh interpreter pointed at the stand-in Hub.

As in tests/hub_scenarios.py, huggingface_hub reads HF_ENDPOINT when imported (and some releases build URLs
from it whatever endpoint a call is given), so the client runs in its own process; the stand-in runs in the
test's process, which sets its `commit_faults` before and reads what it `served` after.
Usage: `python tests/hub_write_scenarios.py NAME WORKDIR` with HF_ENDPOINT etc. set.
"""
from __future__ import annotations

import dataclasses
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from huggingface_hub import DatasetCard, HfApi  # noqa: E402

from hub.bench import synthetic_rows  # noqa: E402
from hub.hub_store import HubStore  # noqa: E402
from hub.retry import Backoff, ConflictError  # noqa: E402
from hub.schema import ArchiveError  # noqa: E402


def store(repo: str = "alice/kernels") -> tuple[HubStore, list[float]]:
    waits: list[float] = []
    s = HubStore(repo, backoff=Backoff(attempts=4, base_s=0.05, cap_s=1.0), sleep=waits.append,
                 rng=random.Random(7))
    return s, waits


def conflicts_retried(work: Path) -> None:
    """The stand-in answers the first two commits 409 and 412 (set by the test)."""
    s, waits = store()
    head = s.append(synthetic_rows(4, seed=2), "first, after two conflicts")
    assert [c.message for c in s.log()][:2] == ["first, after two conflicts", "initial commit"]
    assert s.log()[0].commit_id == head
    assert len(waits) == 2
    assert 0 <= waits[0] <= 0.05 and 0 <= waits[1] <= 0.10       # full jitter under base * 2**attempt
    assert waits != [0.05, 0.10]                                   # random, not the bare exponential
    assert sorted(s.stored_keys(head)) == sorted(r.key() for r in synthetic_rows(4, seed=2))


def errors_not_retried(work: Path) -> None:
    """The stand-in answers 500, then 412 four times (set by the test)."""
    s, waits = store()
    try:
        s.append(synthetic_rows(2, seed=1), "refused")
        raise AssertionError("a 500 was not reported")
    except ConflictError:
        raise AssertionError("a 500 was taken for a conflict") from None
    except ArchiveError as e:
        assert "answered 500" in str(e), e
    assert waits == []
    try:
        s.append(synthetic_rows(2, seed=3), "always too late")
        raise AssertionError("endless conflicts were not reported")
    except ConflictError as e:
        assert "kept changing under us (4 conflicting commits" in str(e), e
    assert len(waits) == 3 and all(0 <= w <= 1.0 for w in waits)
    assert [c.message for c in s.log()] == ["initial commit"]


def projection(work: Path) -> None:
    """Bulky shards are written; a fresh store (a new process knows no shard) appends: the test counts the bytes."""
    writer, _ = store()
    bulky = [dataclasses.replace(r, kernel_code=r.kernel_code + "\n// " + random.Random(i).randbytes(200_000).hex())
             for i, r in enumerate(synthetic_rows(30, seed=4))]
    writer.append(bulky, "bulky kernels")   # reads no shard: the repo had none
    fresh, _ = store()
    fresh.append(bulky[:5] + synthetic_rows(2, seed=5), "two new rows")
    assert len(fresh.stored_keys(fresh.head())) == 32                 # the 5 repeats were not added
    one = next(p for p in fresh.files() if p.startswith("data/level_1/"))
    assert fresh.read_columns(one, fresh.head(), ["task_id"])[0].column_names == ["task_id"]


def card_edited_on_the_hub(work: Path) -> None:
    s, _ = store()
    s.append(synthetic_rows(6, seed=1), "first")
    api = HfApi()
    card = DatasetCard(open(api.hf_hub_download("alice/kernels", "README.md", repo_type="dataset")).read())
    card.data["language"] = ["en"]
    card.data.pretty_name = "Alice's kernels"
    card.text = card.text.replace("## Columns", "## Notes by hand\n\nKeep this paragraph.\n\n## Columns")
    api.upload_file(path_or_fileobj=str(card).encode(), path_in_repo="README.md", repo_id="alice/kernels",
                    repo_type="dataset", commit_message="edit the card on the Hub")
    sakana = [dataclasses.replace(r, source="sakana", status="unverified", correct=False)
              for r in synthetic_rows(3, seed=9)]
    s.append(sakana, "import three Sakana rows")
    after = DatasetCard(open(api.hf_hub_download("alice/kernels", "README.md", repo_type="dataset")).read())
    meta = after.data.to_dict()
    assert meta["language"] == ["en"] and meta["pretty_name"] == "Alice's kernels"
    assert "## Notes by hand\n\nKeep this paragraph." in after.text
    assert meta["license"] == ["apache-2.0", "cc-by-4.0"]
    assert meta["source_datasets"] == ["original", "extended|SakanaAI/AI-CUDA-Engineer-Archive"]
    assert "| rows | 9 |" in after.text and "Attribution (sakana)" in after.text
    assert sum(x["num_examples"] for x in meta["dataset_info"]["splits"]) == 9
    assert s.read().num_rows == 9    # load_dataset checks the card's split sizes against the data


if __name__ == "__main__":
    globals()[sys.argv[1]](Path(sys.argv[2]))
    print("scenario ok")
