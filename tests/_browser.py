"""Headless Chromium for the Space's browser tests (Debian's chromium driven by Playwright)."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


def chromium() -> Iterator:
    """A launched browser for a module-scoped fixture; skips (saying why) only where it cannot start."""
    from playwright import sync_api as playwright_sync

    if not Path(CHROMIUM).is_file():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    with playwright_sync.sync_playwright() as p:
        try:
            b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        except Exception as e:  # the only reason to skip: the browser cannot start here
            pytest.skip(f"Chromium cannot start: {str(e).splitlines()[0][:300]}")
        yield b
        b.close()
