"""Every environment variable of kernel-evolve's own, read here and nowhere else (one prefix: KERNEL_EVOLVE_).

`settings()` gives a frozen `Settings`, parsed and checked once and parsed again only when one of
these variables changes (a test or a script may set one at run time). Variables of the tools the
harness drives (CC, CXX, MAX_JOBS, CUDA_HOME, CUDA_VISIBLE_DEVICES, NVCC_*_FLAGS) keep their own names
and are read where those tools are started. README's "Settings" table lists the same as `TABLE`.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

PREFIX = "KERNEL_EVOLVE_"


class SettingError(ValueError):
    """A variable whose value cannot be used; the message names it and what it accepts."""


@dataclass(frozen=True)
class Setting:
    name: str          # without the prefix
    kind: str          # path | flag | int | float | text
    default: str
    help: str


TABLE: tuple[Setting, ...] = (
    Setting("CACHE", "path", "", "the build cache (default: /var/cache/kernel-evolve/builds as root, "
            "else ~/.cache/kernel-evolve/builds)"),
    Setting("ARCHIVE", "text", "", "the archive: a path or hf://owner/name (default: ~/.cache/kernel-evolve/archive)"),
    Setting("BACKEND", "text", "auto", "the Space's backend: auto | cpu | cuda"),
    Setting("SPACE_MAX_RUNS", "int", "1", "evolution runs the Space executes at once"),
    Setting("LLM_BASE_URL", "text", "", "the Space's OpenAI-compatible server for hf: operators (TGI, vLLM; default: "
            "HF Inference Providers)"),
    Setting("CUDA_ARCH", "text", "", "compute capability to build for, like 9.0 (default: read from nvidia-smi)"),
    Setting("NO_PCH", "flag", "", "1: no shared precompiled torch header for CPU format-A builds"),
    Setting("NO_SPLIT", "flag", "", "1: build CUDA format-A sources whole (no kernel/host split)"),
    Setting("LOCK_DIR", "path", "", "the device locks' folder (private to the harness's uid)"),
    Setting("REFERENCE_CACHE_GB", "float", "", "bytes of task references kept in memory (default: a quarter of RAM)"),
    Setting("REFERENCE_MEMORY_GB", "float", "", "host memory a task's reference may use (default: half of RAM)"),
    Setting("CPU_TIMING_THREADS", "int", "1", "threads of every timed call on the CPU backend"),
    Setting("PRINT_FAILURES", "flag", "", "1: the test suite prints each failure's report as it happens"),
)


@dataclass(frozen=True)
class Settings:
    cache: Path | None
    archive: str | None
    backend: str
    space_max_runs: int
    llm_base_url: str
    cuda_arch: str
    no_pch: bool
    no_split: bool
    lock_dir: Path | None
    reference_cache_gb: float | None
    reference_memory_gb: float | None
    cpu_timing_threads: int
    print_failures: bool

    def archive_path(self) -> Path:
        """The local archive used when none is named: KERNEL_EVOLVE_ARCHIVE when it is a path, else the default."""
        if self.archive and not self.archive.startswith("hf://"):
            return Path(self.archive).expanduser()
        return Path.home() / ".cache" / "kernel-evolve" / "archive"


def _parse(s: Setting, raw: str) -> object:
    name = PREFIX + s.name
    if s.kind == "flag":
        return raw.strip() not in ("", "0", "false", "no")
    if s.kind == "path":
        return Path(raw).expanduser() if raw.strip() else None
    if s.kind == "text":
        return raw.strip() or (None if s.name == "ARCHIVE" else "")
    if not raw.strip():
        return None
    try:
        value = int(raw) if s.kind == "int" else float(raw)
    except ValueError:
        raise SettingError(f"{name} must be a{'n integer' if s.kind == 'int' else ' number'}, got {raw!r}") from None
    if value < (1 if s.kind == "int" else 0):
        raise SettingError(f"{name} must be {'at least 1' if s.kind == 'int' else 'zero or more'}, got {raw!r}")
    return value


def from_env(env: dict[str, str] | os._Environ) -> Settings:
    vals = {s.name.lower(): _parse(s, env.get(PREFIX + s.name, s.default)) for s in TABLE}
    return Settings(**vals)


_lock = threading.Lock()
_seen: tuple | None = None
_current: Settings | None = None


def settings() -> Settings:
    """The current settings (parsed again only when one of the variables changed)."""
    global _seen, _current
    key = tuple(os.environ.get(PREFIX + s.name) for s in TABLE)
    with _lock:
        if key != _seen or _current is None:
            _current, _seen = from_env(os.environ), key
        return _current


__all__ = ["Settings", "Setting", "SettingError", "TABLE", "PREFIX", "settings", "from_env"]
