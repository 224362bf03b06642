"""Parquet shards: how rows are laid out in files (`data/<split>/<name>.parquet`), named, encoded and sized.

Both stores and compaction write shards through `encode_splits`, so a shard
written locally and one written to the Hub are the same bytes for the same rows.
"""
from __future__ import annotations

import datetime as _dt
import io
import uuid
from dataclasses import dataclass
from typing import Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from hub.card import SUMMARY_COLUMNS, Summary, summarize, update_card
from hub.schema import split_for_level

#: rows per shard that `compact` aims at (a shard of kernels is a few MB per thousand rows)
COMPACT_ROWS = 20_000


@dataclass(frozen=True)
class Shard:
    """One encoded parquet file and what the card needs to know about it."""

    path: str          # data/<split>/<name>.parquet
    split: str
    data: bytes
    table: pa.Table
    nbytes: int        # uncompressed size, from the file's own metadata


def shard_name() -> str:
    """Unique, sortable shard file name: UTC timestamp plus a short random suffix."""
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ") + "-" + uuid.uuid4().hex[:8] + ".parquet"


def is_shard(path: str) -> bool:
    return path.startswith("data/") and path.endswith(".parquet") and path.count("/") == 2


def split_of_path(path: str) -> str:
    return path.split("/")[1]


def nbytes_of(pf: pq.ParquetFile) -> int:
    """Uncompressed size of a parquet file's data, from its footer alone."""
    md = pf.metadata
    return sum(md.row_group(i).total_byte_size for i in range(md.num_row_groups))


def summarize_blob(path: str, data: bytes) -> Summary:
    """Statistics of a shard given as bytes (only the columns the card needs are decoded)."""
    pf = pq.ParquetFile(pa.BufferReader(data))
    return summarize(pf.read(columns=list(SUMMARY_COLUMNS)), split_of_path(path), nbytes=nbytes_of(pf))


def card_after(base: str | None, kept: dict[str, Summary], added: dict[str, bytes], removed: Sequence[str] = (),
               *, repo_id: str | None = None) -> str:
    """The card once a commit adds the files `added` and removes `removed` from shards whose statistics are `kept`.

    Push and pull replay commits onto a side whose rows may differ (after a merge), so the card a commit carries is
    updated in place for the side it lands on; its hand-written parts are kept.
    """
    summary = Summary()
    for p, s in kept.items():
        if p not in removed and p not in added:
            summary.merge(s)
    for p, data in added.items():
        if is_shard(p):
            summary.merge(summarize_blob(p, data))
    return update_card(base, summary, repo_id=repo_id)


def encode(table: pa.Table, split: str, name: str | None = None) -> Shard:
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    data = buf.getvalue()
    return Shard(f"data/{split}/{name or shard_name()}", split, data, table,
                 nbytes_of(pq.ParquetFile(pa.BufferReader(data))))


def by_split(table: pa.Table) -> list[tuple[str, pa.Table]]:
    """The rows of each split (from the `level` column), in level order."""
    levels = table.column("level")
    out = []
    for level in sorted(set(levels.to_pylist()), key=lambda v: (v is None, v)):
        out.append((split_for_level(level), table.filter(pc.is_null(levels) if level is None
                                                          else pc.equal(levels, level))))
    return out


def encode_splits(table: pa.Table) -> list[Shard]:
    """One shard per split, all with the same file name (one append)."""
    name = shard_name()
    return [encode(part, split, name) for split, part in by_split(table)]


def encode_compacted(split: str, tables: list[pa.Table], rows_per_shard: int = COMPACT_ROWS) -> list[Shard]:
    """The rows of many shards of one split, rewritten as few shards of at most `rows_per_shard` rows."""
    if rows_per_shard < 1:
        raise ValueError(f"rows_per_shard must be at least 1 (got {rows_per_shard})")
    whole = pa.concat_tables(tables) if tables else None
    if whole is None or whole.num_rows == 0:
        return []
    return [encode(whole.slice(i, rows_per_shard), split) for i in range(0, whole.num_rows, rows_per_shard)]
