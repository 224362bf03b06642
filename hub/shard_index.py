"""The local archive's shard index: dedup keys and statistics per shard, so an append reads no old shard.

One JSON line per shard in `.git/kernel-evolve/index.jsonl` (bookkeeping, never
committed). It is a cache: a line that is cut, of another version, or missing
only means that shard is read again (its key columns only) and indexed anew.
"""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa

from hub.card import summarize
from hub.schema import table_keys

VERSION = 2   # lines of another version are ignored (their shards are indexed again)


class ShardIndex:
    """Append-only index file; `entries()` reads only the lines added since the last call."""

    def __init__(self, path: Path):
        self.path = path
        self._offset = 0
        self._entries: dict[str, dict] = {}

    def entries(self) -> dict[str, dict]:
        """shard path -> {"keys": [[sha, task, device], ...], "summary": Summary JSON}, for every indexed shard."""
        size = self.path.stat().st_size if self.path.exists() else 0
        if size < self._offset:
            self._offset, self._entries = 0, {}
        if size > self._offset:
            with open(self.path, "rb") as fh:
                fh.seek(self._offset)
                data = fh.read()
            end = data.rfind(b"\n") + 1
            for line in data[:end].splitlines():
                try:
                    e = json.loads(line)
                    if e.get("v") == VERSION:
                        self._entries[e["shard"]] = e
                except (ValueError, KeyError, AttributeError):
                    continue  # a line cut by a kill: the shard is indexed again
            self._offset += end
        return self._entries

    def add(self, shard: str, table: pa.Table, split: str, nbytes: int | None = None) -> None:
        e = {"v": VERSION, "shard": shard, "keys": table_keys(table),
             "summary": summarize(table, split, nbytes=nbytes).to_json()}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "ab") as fh:
            fh.write(json.dumps(e).encode() + b"\n")
        self._entries[shard] = {**e, "keys": [list(k) for k in e["keys"]]}
