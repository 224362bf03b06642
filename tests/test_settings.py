"""Settings: every KERNEL_EVOLVE_ variable is read in harness/settings.py alone, parsed and checked there."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.settings import PREFIX, TABLE, SettingError, from_env, settings

ROOT = Path(__file__).resolve().parent.parent


def test_defaults() -> None:
    s = from_env({})
    assert s.cache is None and s.archive is None and s.backend == "auto" and s.space_max_runs == 1
    assert not s.no_pch and not s.no_split and s.cpu_timing_threads == 1 and s.reference_cache_gb is None


def test_values_are_parsed_and_bad_ones_named() -> None:
    s = from_env({"KERNEL_EVOLVE_CACHE": "~/c", "KERNEL_EVOLVE_NO_PCH": "1", "KERNEL_EVOLVE_NO_SPLIT": "0",
                  "KERNEL_EVOLVE_REFERENCE_CACHE_GB": "0.5", "KERNEL_EVOLVE_CPU_TIMING_THREADS": "4"})
    assert s.cache == Path("~/c").expanduser() and s.no_pch and not s.no_split
    assert s.reference_cache_gb == 0.5 and s.cpu_timing_threads == 4
    with pytest.raises(SettingError, match="KERNEL_EVOLVE_CPU_TIMING_THREADS must be an integer"):
        from_env({"KERNEL_EVOLVE_CPU_TIMING_THREADS": "many"})
    with pytest.raises(SettingError, match="KERNEL_EVOLVE_SPACE_MAX_RUNS must be at least 1"):
        from_env({"KERNEL_EVOLVE_SPACE_MAX_RUNS": "0"})


def test_a_changed_variable_is_read_again(monkeypatch) -> None:
    monkeypatch.setenv("KERNEL_EVOLVE_CUDA_ARCH", "8.0")
    assert settings().cuda_arch == "8.0"
    first = settings()
    assert settings() is first  # unchanged: not parsed again
    monkeypatch.setenv("KERNEL_EVOLVE_CUDA_ARCH", "9.0")
    assert settings().cuda_arch == "9.0"


def test_every_variable_the_code_names_is_in_the_table_and_read_only_here() -> None:
    known = {PREFIX + s.name for s in TABLE}
    named, readers = set(), set()
    for pkg in ("harness", "pipeline", "hub", "finetune", "space"):
        for p in (ROOT / pkg).rglob("*.py"):
            text = p.read_text()
            named |= set(re.findall(r"\b(?:KERNEL_EVOLVE|KE)_[A-Z][A-Z0-9_]*\b", text)) - {"KE_ABI"}
            if re.search(r"environ(?:\.get)?[(\[]\s*['\"]KERNEL_EVOLVE_", text) and p.name != "settings.py":
                readers.add(str(p.relative_to(ROOT)))
    named = {n for n in named if not n.startswith(("KE_F", "KE_I", "KE_U", "KE_B", "KE_MAX", "KE_STR", "KE_X"))}
    assert named <= known, sorted(named - known)
    assert not readers, readers
