"""Test-session wiring: one content-addressed build cache per session, GPU tests skipped without CUDA."""
from __future__ import annotations

import os
import shutil
import tempfile

import pytest

from harness.settings import SettingError, settings


def _print_failures() -> bool:
    try:
        return settings().print_failures
    except SettingError:  # a test set another variable badly on purpose
        return False

_MADE: list[str] = []  # temporary folders this process made for the session, removed when it ends


def pytest_configure(config: pytest.Config) -> None:
    # One shared build cache for the whole session (and its subprocesses), unless the caller chose one.
    if not os.environ.get("KERNEL_EVOLVE_CACHE"):
        os.environ["KERNEL_EVOLVE_CACHE"] = tempfile.mkdtemp(prefix="ke-test-cache-")
        _MADE.append(os.environ["KERNEL_EVOLVE_CACHE"])
    # the default archive is per process: xdist workers must not commit into one git repo at once
    if os.environ.get("PYTEST_XDIST_WORKER") or not os.environ.get("KERNEL_EVOLVE_ARCHIVE"):
        os.environ["KERNEL_EVOLVE_ARCHIVE"] = tempfile.mkdtemp(prefix="ke-test-archive-")
        _MADE.append(os.environ["KERNEL_EVOLVE_ARCHIVE"])
    os.environ.pop("HF_TOKEN", None)


def pytest_unconfigure(config: pytest.Config) -> None:
    # xdist workers inherit the controller's cache (they made none) and end before it does
    for path in _MADE:
        shutil.rmtree(path, ignore_errors=True)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--every-kernel", action="store_true",
                     help="also build and verify every built-in format-A CPU kernel, not only one per kind")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    import torch

    if not config.getoption("--every-kernel"):
        rest = pytest.mark.skip(reason="one kernel of each kind is built in CI; run the rest with `pytest --every-kernel`")
        for item in items:
            if "every_kernel" in item.keywords:
                item.add_marker(rest)
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (run `python3 -m pytest -m gpu` on a GPU machine)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """KERNEL_EVOLVE_PRINT_FAILURES=1: print a failure's report as it happens (on the xdist controller too), so a run cut
    off by a time limit (the lent GPU machine's) still says why a test failed."""
    if report.failed and not os.environ.get("PYTEST_XDIST_WORKER") and _print_failures():
        import sys

        sys.stderr.write(f"\n==== FAILED {report.nodeid} ({report.when})\n{report.longreprtext[-6000:]}\n====\n")
        sys.stderr.flush()
