"""The compilers and where their output goes: the build cache's folder, the CUDA arch, the flags per
backend and format, and what a build adds to the sandbox's clean environment. No harness imports.
"""
from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path
from harness.settings import settings


def default_cache_root() -> Path:
    """KERNEL_EVOLVE_CACHE, else for root `/var/cache/kernel-evolve/builds` (a place other uids can traverse,
    so builds can drop to a uid of their own; `/root` is closed to them), else `~/.cache/kernel-evolve/builds`."""
    if settings().cache is not None:
        return settings().cache
    if os.geteuid() == 0 and os.access("/var/cache", os.W_OK):
        return Path("/var/cache/kernel-evolve/builds")
    return Path(os.path.expanduser("~")) / ".cache" / "kernel-evolve" / "builds"


def cache_root() -> Path:
    """The build cache, created if missing; other uids may traverse it (a sandboxed build runs as one)."""
    p = default_cache_root()
    p.mkdir(parents=True, exist_ok=True)
    st = p.stat()
    if st.st_uid == os.geteuid() and not st.st_mode & 0o001:
        os.chmod(p, stat.S_IMODE(st.st_mode) | 0o011)  # traversable, not listable
    return p


def cuda_arch() -> str:
    """Compute capability like "9.0", from KERNEL_EVOLVE_CUDA_ARCH or nvidia-smi (never initialising CUDA here)."""
    if settings().cuda_arch:
        return settings().cuda_arch
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=compute_cap", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20).stdout.split()
        return out[0] if out else "9.0"
    except (OSError, subprocess.SubprocessError):
        return "9.0"


def flags_for(backend: str, arch: str = "") -> dict[str, list[str]]:
    if backend == "cuda":
        cc = arch.replace(".", "")
        return {"cflags": ["-O3"], "cuda_cflags": ["-O3", f"-gencode=arch=compute_{cc},code=sm_{cc}"],
                "ldflags": []}
    return {"cflags": ["-O3", "-fopenmp"], "cuda_cflags": [], "ldflags": ["-fopenmp"]}


def compiler_env(backend: str, arch: str) -> dict[str, str]:
    """What a build adds to the sandbox's clean environment: the compilers and parallelism the user chose."""
    env = {k: os.environ[k] for k in ("CC", "CXX", "MAX_JOBS", "NVCC_PREPEND_FLAGS", "NVCC_APPEND_FLAGS")
           if k in os.environ}
    if backend == "cuda" and arch:
        env["TORCH_CUDA_ARCH_LIST"] = arch
    env.setdefault("MAX_JOBS", "2")
    return env


def k_flags(backend: str, arch: str) -> list[str]:
    if backend == "cuda":
        cc = arch.replace(".", "")
        return ["-O3", f"-gencode=arch=compute_{cc},code=sm_{cc}", "-Xcompiler", "-fPIC", "-shared"]
    return ["-O3", "-fopenmp", "-fPIC", "-shared"]
