"""The dataset card through huggingface_hub's DatasetCard: updated in place (hand edits survive), license and
attribution from the rows' sources, `source_datasets`, `dataset_info`, and no config for a split that does not exist."""
from __future__ import annotations

import dataclasses

import pytest
from huggingface_hub import DatasetCard

from hub.bench import synthetic_rows
from hub.card import BEGIN, END, Summary, update_card
from hub.local_store import LocalStore


def card(store: LocalStore) -> DatasetCard:
    return DatasetCard((store.path / "README.md").read_text())


def sakana(n: int, seed: int):
    return [dataclasses.replace(r, source="sakana", status="unverified", correct=False, speedup_eager=None)
            for r in synthetic_rows(n, seed=seed)]


def test_a_fresh_archive_has_no_configs_and_loads_as_clearly_empty(tmp_path):
    import datasets
    from datasets.data_files import EmptyDatasetError

    store = LocalStore(tmp_path / "a")
    store.init()
    meta = card(store).data.to_dict()
    assert "configs" not in meta and "dataset_info" not in meta
    assert meta["license"] == "apache-2.0" and meta["source_datasets"] == ["original"]
    assert "The archive is empty" in card(store).text
    with pytest.raises(EmptyDatasetError, match="doesn't contain any data files"):   # not a missing config
        datasets.load_dataset(str(store.path), cache_dir=str(tmp_path / "cache"))


def test_dataset_info_and_configs_follow_the_splits_and_load_dataset_checks_them(tmp_path):
    import datasets

    store = LocalStore(tmp_path / "a")
    store.append(synthetic_rows(10, seed=1, levels=(1, 2)), "two levels")
    meta = card(store).data.to_dict()
    assert [c["config_name"] for c in meta["configs"]] == ["default", "level_1", "level_2"]
    info = meta["dataset_info"]
    counts = {s["name"]: s["num_examples"] for s in info["splits"]}
    assert counts == store.summary().splits and all(s["num_bytes"] > 0 for s in info["splits"])
    assert {f["name"] for f in info["features"]} >= {"kernel_sha256", "status", "flags", "source"}
    # datasets verifies the split sizes against dataset_info: a stale card would fail here
    dd = datasets.load_dataset(str(store.path), cache_dir=str(tmp_path / "cache"))
    assert {k: v.num_rows for k, v in dd.items()} == counts


def test_hand_edits_survive_appends_and_only_managed_parts_change(tmp_path):
    store = LocalStore(tmp_path / "a")
    store.append(synthetic_rows(6, seed=1), "first")
    c = card(store)
    c.data["language"] = ["en"]
    c.data.pretty_name = "My kernels"
    c.data.tags = ["mine", *c.data.tags]
    c.data["configs"] = [*c.data["configs"], {"config_name": "fast_only", "data_files": "data/level_1/*.parquet"}]
    c.text = c.text.replace("## Columns", "## How we use it\n\nOur own words.\n\n## Columns")
    c.text = "\nA line above everything.\n" + c.text
    store.commit_files({"README.md": str(c).encode()}, "edit the card by hand")
    store.append(synthetic_rows(4, seed=2, levels=(5,)), "second, a new level")
    after = card(store)
    meta = after.data.to_dict()
    assert meta["language"] == ["en"] and meta["pretty_name"] == "My kernels" and meta["tags"][0] == "mine"
    assert "kernel-evolve" in meta["tags"]
    assert "fast_only" in [x["config_name"] for x in meta["configs"]]                 # a config of the user's
    assert "level_5" in [x["config_name"] for x in meta["configs"]]                   # ours, updated
    assert "## How we use it\n\nOur own words." in after.text and "A line above everything." in after.text
    assert after.text.count(BEGIN) == 1 and after.text.count(END) == 1
    assert "| rows | 10 |" in after.text and "| level_5 | 4 |" in after.text


def test_license_and_attribution_follow_the_sources_of_the_rows(tmp_path):
    ours = LocalStore(tmp_path / "ours")
    ours.append(synthetic_rows(3, seed=1), "ours")
    assert card(ours).data.license == "apache-2.0" and "Attribution" not in card(ours).text
    theirs = LocalStore(tmp_path / "theirs")
    theirs.append(sakana(3, seed=2), "import")
    meta = card(theirs).data.to_dict()
    assert meta["license"] == "cc-by-4.0"
    assert meta["source_datasets"] == ["extended|SakanaAI/AI-CUDA-Engineer-Archive"]
    assert "Attribution (sakana)" in card(theirs).text and "CC BY 4.0" in card(theirs).text
    theirs.append(synthetic_rows(2, seed=3), "our verdicts too")
    mixed = card(theirs)
    assert mixed.data.license == ["apache-2.0", "cc-by-4.0"]
    assert mixed.data.source_datasets == ["original", "extended|SakanaAI/AI-CUDA-Engineer-Archive"]
    assert "mixes sources under different licenses" in mixed.text
    assert "| `sakana` | 3 | `cc-by-4.0` |" in mixed.text and "| `kernel-evolve` | 2 | `apache-2.0` |" in mixed.text
    unknown = Summary(rows=1, splits={"level_1": 1}, sources={"elsewhere": 1}, split_bytes={"level_1": 10})
    assert DatasetCard(update_card(None, unknown)).data.license == "other"


def test_an_old_card_and_a_card_without_our_block_are_updated_in_place():
    old = ("---\nlicense: apache-2.0\npretty_name: old\nconfigs:\n- config_name: default\n  data_files:\n"
           "  - split: level_0\n    path: data/level_0/*.parquet\n- config_name: level_0\n  data_files:\n"
           "  - split: level_0\n    path: data/level_0/*.parquet\n---\n\n# Written by hand\n\nNo markers here.\n")
    s = Summary(rows=2, splits={"level_1": 2}, statuses={"verified": 2}, tasks={"t"}, verified=2,
                sources={"kernel-evolve": 2}, split_bytes={"level_1": 100})
    new = DatasetCard(update_card(old, s))
    assert [c["config_name"] for c in new.data.to_dict()["configs"]] == ["default", "level_1"]   # no level_0
    assert new.data.pretty_name == "old" and new.text.startswith("\n# Written by hand\n\nNo markers here.\n")
    assert new.text.rstrip().endswith(END) and "| rows | 2 |" in new.text
    again = DatasetCard(update_card(str(new), s))
    assert str(again) == str(new)                                                     # stable: no growth
