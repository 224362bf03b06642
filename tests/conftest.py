"""Test-session wiring: one content-addressed build cache per session, GPU tests skipped without CUDA."""
from __future__ import annotations

import os
import tempfile

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # One shared build cache for the whole session (and its subprocesses), unless the caller chose one.
    if not os.environ.get("KERNEL_EVOLVE_CACHE"):
        os.environ["KERNEL_EVOLVE_CACHE"] = tempfile.mkdtemp(prefix="ke-test-cache-")
    # the default archive is per process: xdist workers must not commit into one git repo at once
    if os.environ.get("PYTEST_XDIST_WORKER") or not os.environ.get("KERNEL_EVOLVE_ARCHIVE"):
        os.environ["KERNEL_EVOLVE_ARCHIVE"] = tempfile.mkdtemp(prefix="ke-test-archive-")
    os.environ.pop("HF_TOKEN", None)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (run `python3 -m pytest -m gpu` on a GPU machine)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
