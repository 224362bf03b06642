"""The archive-store seam: the `ArchiveStore` Protocol, its record types, and `open_store`.

Two implementations sit behind it: `hub.local_store.LocalStore` (a git
directory laid out like a Hub dataset repo; the offline default) and
`hub.hub_store.HubStore` (a dataset repo on the Hugging Face Hub).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, Sequence, runtime_checkable

import pyarrow as pa

from hub.schema import Row

if TYPE_CHECKING:
    import datasets



@dataclass(frozen=True)
class CommitInfo:
    """One version of an archive."""

    commit_id: str
    message: str
    created_at: str   # ISO 8601


@dataclass(frozen=True)
class RefInfo:
    """A branch or tag and the commit it points at."""

    name: str
    kind: str         # "branch" | "tag"
    commit_id: str


@runtime_checkable
class ArchiveStore(Protocol):
    def append(self, rows: Sequence[Row] | pa.Table, message: str) -> str:
        """Add rows (deduplicated by kernel_sha256+task_id+device) as one commit; return its id."""
        ...

    def tag(self, name: str, message: str = "", revision: str | None = None) -> None: ...

    def log(self) -> list[CommitInfo]:
        """Commits, newest first."""
        ...

    def refs(self) -> list[RefInfo]: ...

    def read(self, revision: str | None = None, split: str | None = None) -> "datasets.Dataset": ...

