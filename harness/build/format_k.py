"""Compiling a format-K source: one sandboxed `nvcc` (or `g++`) call, with `ke_abi.h` beside the source.

With no torch host code to compile, a build takes about a second instead of 10-74 s (format A). The
ABI itself and the binding that calls the result live in `harness.worker.k_abi`.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from harness.build.sandboxed import CompileRun, run_compiler
from harness.build.toolchain import compiler_env, k_flags
from harness.worker.k_abi import KE_ABI


def k_compile(source_path: str, out_path: str, *, backend: str, arch: str, timeout_s: float) -> CompileRun:
    """One sandboxed compiler call (harness.build.sandboxed), in the source's directory, where ke_abi.h is written."""
    d = os.path.dirname(source_path)
    with open(os.path.join(d, "ke_abi.h"), "w") as f:
        f.write(KE_ABI)
    if backend == "cuda":
        nvcc = shutil.which("nvcc") or os.path.join(os.environ.get("CUDA_HOME", "/usr/local/cuda"), "bin", "nvcc")
        cmd = [nvcc, *k_flags(backend, arch), "-I", d, "-o", out_path, source_path]
    else:
        cmd = [os.environ.get("CXX", "g++"), "-x", "c++", "-std=c++17", *k_flags(backend, arch), "-I", d,
               "-o", out_path, source_path]
    return run_compiler(cmd, cwd=Path(d), env=compiler_env(backend, arch), timeout_s=timeout_s)
