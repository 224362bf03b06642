"""The shared precompiled torch header: flags learned from a real build, published once, used by later builds."""
from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import pytest

from harness.build import pch

NINJA = """ninja_required_version = 1.3
cxx = c++
cflags = -DTORCH_EXTENSION_NAME=ke_abc123 -DTORCH_API_INCLUDE_EXTENSION_H -isystem /t/include -fPIC -std=c++20 \
-O3 -fopenmp -include /old/ke_torch.h -Winvalid-pch
post_cflags =
"""


def test_flags_drop_the_module_name_and_our_own_pch_flags(tmp_path: Path) -> None:
    (tmp_path / "build.ninja").write_text(NINJA)
    cxx, flags = pch.flags_from_ninja(tmp_path / "build.ninja")
    assert cxx == "c++"
    assert flags == ["-DTORCH_API_INCLUDE_EXTENSION_H", "-isystem", "/t/include", "-fPIC", "-std=c++20", "-O3",
                     "-fopenmp"]
    assert pch.flags_from_ninja(tmp_path / "missing.ninja") is None


def test_learn_makes_and_publishes_once_then_builds_include_it(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # a stand-in compiler that records its arguments and writes the output it is asked for
    fake = tmp_path / "fakecxx"
    log = tmp_path / "calls"
    fake.write_text(f"#!/bin/sh\necho \"$@\" >> {log}\nwhile [ $# -gt 0 ]; do [ \"$1\" = -o ] && touch \"$2\"; "
                    "shift; done\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    root = tmp_path / "cache"
    root.mkdir()
    monkeypatch.setenv("KERNEL_EVOLVE_CACHE", str(root))
    monkeypatch.delenv("KERNEL_EVOLVE_NO_PCH", raising=False)
    (tmp_path / "build.ninja").write_text(NINJA.replace("cxx = c++", f"cxx = {fake}"))
    assert pch.include_flags() == []
    pch.learn(tmp_path / "build.ninja")
    deadline = time.monotonic() + 30
    while not (root / "pch.json").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    rec = json.loads((root / "pch.json").read_text())
    flags = pch.include_flags()
    assert flags[:2] == ["-include", str(Path(rec["dir"]) / "ke_torch.h")] and "-Winvalid-pch" in flags
    assert (Path(rec["dir"]) / "ke_torch.h.gch").is_file() and not (root / "pch.lock").exists()
    calls = log.read_text().splitlines()
    assert len(calls) == 1 and "-x c++-header" in calls[0] and "ke_abc123" not in calls[0]
    pch.learn(tmp_path / "build.ninja")  # same flags: nothing new to make
    time.sleep(0.5)
    assert len(log.read_text().splitlines()) == 1
    monkeypatch.setenv("KERNEL_EVOLVE_NO_PCH", "1")
    assert pch.include_flags() == []


def test_a_held_lock_means_someone_else_is_making_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "cache"
    root.mkdir()
    monkeypatch.setenv("KERNEL_EVOLVE_CACHE", str(root))
    monkeypatch.delenv("KERNEL_EVOLVE_NO_PCH", raising=False)
    (root / "pch.lock").write_text("")
    (tmp_path / "build.ninja").write_text(NINJA.replace("cxx = c++", "cxx = /nonexistent/cxx"))
    pch.learn(tmp_path / "build.ninja")
    time.sleep(0.5)
    assert not (root / "pch.json").exists() and (root / "pch.lock").exists()
    old = time.time() - pch.LOCK_STALE_S - 5
    os.utime(root / "pch.lock", (old, old))  # a maker killed long ago: its lock is taken over
    pch.learn(tmp_path / "build.ninja")
    deadline = time.monotonic() + 20
    while (root / "pch.lock").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not (root / "pch.lock").exists() and not (root / "pch.json").exists()  # the compiler failed: no PCH
