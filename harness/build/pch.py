"""The shared precompiled torch header for CPU format-A builds: made once per cache and flag set, then reused.

A CPU format-A candidate spends most of its compile parsing `<torch/extension.h>`. After the first
successful CPU build in a cache, `learn(build_ninja)` reads that build's exact compiler and flags
from its `build.ninja` and starts a detached maker (`python -m harness.build.pch make ...`) that compiles
`ke_torch.h.gch` with them once, publishes it by atomic rename and records it in `pch.json`.
Later builds get `-include ke_torch.h`, and GCC loads the PCH instead of parsing the headers again.
A PCH whose flags do not match is ignored by GCC itself (`-Winvalid-pch` says so), so a stale one
costs time, never correctness. `KERNEL_EVOLVE_NO_PCH=1` turns it off (to measure both paths).

Standard library and `harness.build.toolchain` only: this module also runs as the detached maker.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.build.toolchain import default_cache_root
from harness.settings import settings

ROOT = Path(__file__).resolve().parents[2]  # the folder that holds the `harness` package
HEADER = "ke_torch.h"
LOCK_STALE_S = 900.0


def _root() -> Path:
    return default_cache_root()


def flags_from_ninja(build_ninja: Path) -> tuple[str, list[str]] | None:
    """(compiler, flags) of a torch-extension build, without its module name and without our own PCH flags."""
    try:
        text = build_ninja.read_text()
    except OSError:
        return None
    cxx = re.search(r"^cxx = (.+)$", text, re.M)
    cflags = re.search(r"^cflags = (.*)$", text, re.M)
    if not cxx or not cflags:
        return None
    args = shlex.split(cflags.group(1))
    out: list[str] = []
    skip = False
    for a in args:
        if skip:
            skip = False
            continue
        if a == "-include":
            skip = True
            continue
        if a.startswith("-DTORCH_EXTENSION_NAME=") or a == "-Winvalid-pch":
            continue
        out.append(a)
    return cxx.group(1).strip(), out


def _record(backend: str) -> str:
    return "pch.json" if backend == "cpu" else f"pch-{backend}.json"


def include_flags(backend: str = "cpu") -> list[str]:
    """Extra host-compiler flags that use the backend's published PCH, or [] (none yet, or KERNEL_EVOLVE_NO_PCH set)."""
    if settings().no_pch:
        return []
    try:
        rec = json.loads((_root() / _record(backend)).read_text())
        header = Path(rec["dir"]) / HEADER
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return ["-include", str(header), "-Winvalid-pch"] if (header.parent / (HEADER + ".gch")).is_file() else []


def learn(build_ninja: Path, backend: str = "cpu") -> None:
    """After a successful build: make the PCH for its host flags in the background, unless one exists or is due."""
    if settings().no_pch:
        return
    found = flags_from_ninja(build_ninja)
    if found is None:
        return
    cxx, flags = found
    root = _root()
    ident = hashlib.sha256(json.dumps([cxx, flags]).encode()).hexdigest()[:16]
    try:
        if json.loads((root / _record(backend)).read_text()).get("ident") == ident:
            return
    except (OSError, ValueError, AttributeError):
        pass
    lock = root / (_record(backend) + ".lock" if backend != "cpu" else "pch.lock")
    try:
        if time.time() - lock.stat().st_mtime > LOCK_STALE_S:
            lock.unlink()
    except OSError:
        pass
    try:
        os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    except OSError:
        return  # another build is making it
    spec = json.dumps({"root": str(root), "ident": ident, "cxx": cxx, "flags": flags, "record": _record(backend),
                       "lock": lock.name})
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    subprocess.Popen([sys.executable, "-s", "-m", "harness.build.pch", "make", spec], stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=env)


def make(spec: dict) -> int:
    try:  # a background build must never take CPU from the timing runs beside it
        os.nice(19)
    except OSError:
        pass
    root = Path(spec["root"])
    final = root / f"pch-{spec['ident']}"
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-pch-", dir=root))
    try:
        (tmp / HEADER).write_text("#include <torch/extension.h>\n")
        cmd = shlex.split(spec["cxx"]) + ["-x", "c++-header", *spec["flags"], "-o", str(tmp / (HEADER + ".gch")),
                                          str(tmp / HEADER)]
        if subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=1200).returncode != 0:
            return 1
        os.chmod(tmp, 0o755)
        try:
            os.rename(tmp, final)
        except OSError:  # published by someone else meanwhile
            pass
        rec = root / f".pch.json.{os.getpid()}"
        rec.write_text(json.dumps({"ident": spec["ident"], "dir": str(final)}))
        os.replace(rec, root / spec.get("record", "pch.json"))
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            (root / spec.get("lock", "pch.lock")).unlink()
        except OSError:
            pass


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "make":
    sys.exit(make(json.loads(sys.argv[2])))
