"""Which archive a spec names: `open_store(spec)` for a path, `hf://owner/name` or None (the default local
archive, `KERNEL_EVOLVE_ARCHIVE` or ~/.cache/kernel-evolve/archive). Kept apart from `hub.store` (the seam
both stores implement), so neither store imports the other's module through it.
"""
from __future__ import annotations

import os
from pathlib import Path

from harness.settings import settings
from hub.hub_store import HubStore
from hub.local_store import LocalStore
from hub.store import ArchiveStore


def default_archive_path() -> Path:
    """The local archive used when none is named."""
    return settings().archive_path()


def open_store(spec: str | os.PathLike[str] | None = None, *, token: str | None = None) -> ArchiveStore:
    """A store from a path, `hf://owner/name` (a Hub dataset repo), or None (the default local archive)."""
    if spec is not None and str(spec).startswith("hf://"):
        return HubStore(str(spec)[len("hf://"):], token=token)
    return LocalStore(Path(spec).expanduser() if spec is not None else default_archive_path())
