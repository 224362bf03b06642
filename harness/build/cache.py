"""Building candidates (format A and K) into a content-addressed cache, never blocking on a dead build.

The cache key covers the source, the flags, the torch and CUDA versions, the
arch, the backend and the Python ABI. Each build runs in a child process (so a
compiler that hangs is killed with its whole process group) inside its own
temporary directory, and is published by an atomic rename of that directory:
a build killed midway leaves only an orphaned temporary directory, never a
half-written entry or a lock that stalls later builds. Compile failures are
cached too, with the error cut to the lines an LLM needs for a repair.

A format-A build's child (`harness/build/ext_child.py`) uses `torch.utils.cpp_extension` + ninja
to build *without importing* the result, so no candidate code runs in the compiling process.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from harness.build import pch
from harness.build.format_k import k_compile
from harness.build.sandboxed import CompileRun, run_compiler
from harness.build.split import split_source
from harness.build.toolchain import cache_root, compiler_env, cuda_arch, flags_for, k_flags
from harness.settings import settings

EXT_CHILD = Path(__file__).resolve().parent / "ext_child.py"

BUILD_SCHEMA = "2"  # 2: builds run sandboxed (harness.build.sandboxed); no entry from before is reused
_key_locks: dict[str, threading.Lock] = {}
_key_locks_guard = threading.Lock()


@dataclass(frozen=True)
class BuildResult:
    ok: bool
    key: str
    so_path: str          # the built shared object ("" on failure)
    module_name: str      # the pybind11 module name (TORCH_EXTENSION_NAME)
    error: str            # compiler output cut to the actionable lines ("" on success)
    seconds: float
    cached: bool
    path: str = "whole"   # how it was built: whole, split (kernel and host units apart), format K
    isolation: str = ""   # the compiler's sandbox, as in a verdict's isolation check ("" for old entries)


def build_key(source: str, backend: str, flags: dict[str, list[str]], arch: str) -> str:
    ident = {
        "schema": BUILD_SCHEMA, "source": hashlib.sha256(source.encode()).hexdigest(), "backend": backend,
        "flags": flags, "arch": arch, "torch": torch.__version__, "cuda": torch.version.cuda or "",
        "python": sys.implementation.cache_tag,
    }
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()


def trim_compiler_output(text: str, build_dir: str = "", max_lines: int = 40) -> str:
    """Keep the error lines (with a line of context after each) and drop commands, notes and noise."""
    if build_dir:
        text = text.replace(build_dir + os.sep, "").replace(build_dir, ".")
    lines = text.splitlines()
    keep: list[str] = []
    for i, line in enumerate(lines):
        if re.search(r"\berror\b|error:|undefined reference|Error \d", line, re.IGNORECASE) and \
                not line.startswith(("[", "FAILED:", "ninja: build stopped")) and "-c " not in line:
            for extra in lines[i:i + 3]:
                if extra not in keep and not extra.startswith(("[", "FAILED:")) and " -c " not in extra:
                    keep.append(extra.rstrip())
    if not keep:
        keep = [ln for ln in lines if ln.strip() and not ln.startswith("[")][-max_lines:]
    return "\n".join(keep[:max_lines])


def _lock_for(key: str) -> threading.Lock:
    with _key_locks_guard:
        return _key_locks.setdefault(key, threading.Lock())


def build(source: str, *, backend: str, timeout_s: float = 600.0, arch: str | None = None,
          format: str = "A") -> BuildResult:
    """Build (or fetch from the cache) one format-A (torch extension) or format-K (plain shared library)
    source. Never raises for a bad source."""
    arch = arch if arch is not None else (cuda_arch() if backend == "cuda" else "")
    flags = flags_for(backend, arch) if format == "A" else {"k": k_flags(backend, arch)}
    key = build_key(source, backend, flags, arch)
    name = f"ke_{key[:20]}"
    root = cache_root()
    final = root / key
    t0 = time.monotonic()
    with _lock_for(key):
        hit = _read_entry(final, key, name, t0)
        if hit is not None:
            return hit
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{key[:12]}-", dir=root))
        try:
            src = tmp / ("kernel.cu" if backend == "cuda" else "kernel.cpp")
            src.write_text(source)
            so = tmp / f"{name}.so"
            path = "format K" if format == "K" else "whole"
            if format == "K":
                run = k_compile(str(src), str(so), backend=backend, arch=arch, timeout_s=timeout_s)
            else:
                run, path = _build_a(source, name, src, tmp, backend, flags, arch, timeout_s)
            ok = run.returncode == 0 and so.is_file()
            status = {"ok": ok, "error": "" if ok else trim_compiler_output(run.output, str(tmp)) or "build failed",
                      "seconds": time.monotonic() - t0, "path": path, "isolation": run.isolation}
            (tmp / "status.json").write_text(json.dumps(status))
            os.chmod(tmp, 0o755)
            try:
                os.rename(tmp, final)
            except OSError:  # another process published the same key first: theirs is as good as ours
                shutil.rmtree(tmp, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        entry = _read_entry(final, key, name, t0, cached=False)
        assert entry is not None
        return entry


def _build_a(source: str, name: str, src: Path, tmp: Path, backend: str, flags: dict, arch: str,
             timeout_s: float) -> tuple[CompileRun, str]:
    """Format A: on CUDA, the kernel unit (nvcc, no torch headers) and the host unit (host compiler + PCH)
    built apart where the source splits; otherwise, or if that build fails, the source whole.
    (the compiler's run, the path it took)"""
    sp = split_source(source) if backend == "cuda" and not settings().no_split else None
    if sp is not None:
        host, kern = tmp / "ke_host.cpp", tmp / "ke_kernel.cu"
        host.write_text(sp.host_cpp)
        kern.write_text(sp.kernel_cu)
        run = _build_extension(name, [host, kern], tmp, backend, flags, arch, timeout_s)
        if run.returncode == 0:
            return run, "split"
        for leftover in tmp.glob("*.o"):
            leftover.unlink()
    run = _build_extension(name, [src], tmp, backend, flags, arch, timeout_s)
    return run, "whole" if sp is None else "whole (the split build failed)"


def _build_extension(name: str, sources: list[Path], tmp: Path, backend: str, flags: dict, arch: str,
                     timeout_s: float) -> CompileRun:
    """A torch extension through cpp_extension + ninja, in a sandboxed child process (harness.build.sandboxed)."""
    # the shared torch PCH; GCC ignores one that does not fit the flags
    extra = pch.include_flags(backend)
    spec = {"name": name, "sources": [str(s) for s in sources], "dir": str(tmp), "backend": backend, **flags}
    spec["cflags"] = list(spec["cflags"]) + extra
    run = run_compiler([sys.executable, "-s", str(EXT_CHILD), json.dumps(spec)], cwd=tmp, env=compiler_env(backend, arch),
                       timeout_s=timeout_s)
    if run.returncode == 0 and not extra:
        pch.learn(tmp / "build.ninja", backend)
    return run


def _read_entry(final: Path, key: str, name: str, t0: float, cached: bool = True) -> BuildResult | None:
    try:
        status = json.loads((final / "status.json").read_text())
    except (OSError, ValueError):
        return None
    so = final / f"{name}.so"
    ok = bool(status.get("ok")) and so.is_file()
    return BuildResult(ok=ok, key=key, so_path=str(so) if ok else "", module_name=name,
                       error="" if ok else status.get("error", "build failed"),
                       seconds=time.monotonic() - t0 if cached else float(status.get("seconds", 0.0)),
                       cached=cached, path=str(status.get("path", "whole")), isolation=str(status.get("isolation", "")))
