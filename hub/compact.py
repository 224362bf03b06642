"""Compaction: many small shards of a split rewritten as few, in one tagged commit (local or Hub store).

Every append adds one shard per split, so a busy archive collects thousands of
small files (the Hub advises fewer than 10k per folder, and every `load_dataset`
lists and opens them all). `compact` reads every split that has more than one
shard, writes its rows back as shards of at most `rows_per_shard` rows, and
commits the new shards, the removal of the old ones and the updated card as one
commit, which it tags. The rows, and so every dedup key and statistic, are the
same before and after; older versions stay readable at their tags and commits.
"""
from __future__ import annotations

import datetime as _dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from hub.schema import ArchiveError, conform
from hub.shards import COMPACT_ROWS, Shard, encode_compacted, split_of_path


@dataclass(frozen=True)
class CompactResult:
    commit: str | None       # None: nothing to compact
    tag: str | None
    shards_before: int
    shards_after: int
    rows: int                # rows rewritten


def default_tag() -> str:
    return "compacted-" + _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def plan(store: Any, head: str, rows_per_shard: int = COMPACT_ROWS) -> tuple[list[Shard], list[str]]:
    """The shards to add and the shards to remove at `head`: only splits whose shard count would shrink."""
    paths: dict[str, list[str]] = defaultdict(list)
    for p in store.shard_paths(head):
        paths[split_of_path(p)].append(p)
    add: list[Shard] = []
    remove: list[str] = []
    for split, ps in sorted(paths.items()):
        if len(ps) < 2:
            continue
        tables = [conform(store.read_shard(p, head)) for p in sorted(ps, key=lambda p: (p.rsplit("/", 1)[-1], p))]
        new = encode_compacted(split, tables, rows_per_shard)
        if len(new) < len(ps):
            add += new
            remove += ps
    return add, remove


def compact(store: Any, *, tag: str | None = None, rows_per_shard: int = COMPACT_ROWS,
            message: str | None = None) -> CompactResult:
    """Compact `store` (a LocalStore or HubStore) in one commit and tag it (`tag`, default compacted-<UTC time>)."""
    if rows_per_shard < 1:
        raise ArchiveError(f"--rows-per-shard must be at least 1 (got {rows_per_shard})")
    name = tag or default_tag()
    if name in {r.name for r in store.refs() if r.kind == "tag"}:
        raise ArchiveError(f"the tag {name!r} already exists; pick another --tag")
    seen: dict[str, Any] = {}

    def planned(head: str) -> tuple[list[Shard], list[str]]:
        add, remove = plan(store, head, rows_per_shard)
        seen.update(before=len(store.shard_paths(head)), add=add, remove=remove)
        return add, remove

    commit = store.rewrite_shards(planned, message or f"Compact shards (tag {name})")
    before = seen.get("before", 0)
    if commit is None:
        return CompactResult(None, None, before, before, 0)
    store.tag(name, f"compacted: {len(seen['remove'])} shards -> {len(seen['add'])}", revision=commit)
    rows = sum(sh.table.num_rows for sh in seen["add"])
    return CompactResult(commit, name, before, before - len(seen["remove"]) + len(seen["add"]), rows)
