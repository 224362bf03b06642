"""Which parts of the runner's sandbox let CUDA initialise on this host (diagnostic, run as root on a GPU box).

Runs `torch.cuda.device_count()` + one allocation in the sandbox supervisor with each isolation
feature on alone and all together, and prints one line per variant.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from harness.sandbox.choice import sandbox_config  # noqa: E402
from harness.sandbox.process import Limits  # noqa: E402

CODE = ("import torch,os;print('uid',os.getuid(),'count',torch.cuda.device_count());"
        "print(torch.ones(4,device='cuda').sum().item())")


def probe(name: str, **over: Any) -> None:
    tmp = tempfile.mkdtemp(prefix="ke-probe-")
    os.chmod(tmp, 0o777)
    # the runner's CUDA sandbox with every feature off (no uid, no rlimit, no namespace); `over` turns some on
    bare = Limits(startup_s=0, timeout_s=60, fsize_mb=0)
    cfg = sandbox_config(Path(tmp), None, [sys.executable, "-c", CODE], limits=bare, backend="cuda", env=None,
                         pass_fds=[], namespaces=(False, False, ""))
    cfg.update(over)
    p = subprocess.run([sys.executable, str(ROOT / "harness" / "_sandbox.py"), json.dumps(cfg)],
                       capture_output=True, text=True, timeout=120)
    log = Path(cfg["log"]).read_text(errors="replace") if Path(cfg["log"]).exists() else ""
    tail = " | ".join(log.strip().splitlines()[-2:])[:300]
    print(f"{name:22s} rc={p.returncode:<4d} {p.stderr.strip()[:80]:60s} {tail}", flush=True)


if __name__ == "__main__":
    print("ls /dev/nvidia*:", subprocess.run("ls -l /dev/nvidia*", shell=True, capture_output=True, text=True).stdout)
    lim = Limits()
    probe("nothing")
    probe("nothing+full-env", env=dict(os.environ, HOME=tempfile.gettempdir()))
    probe("pid-ns", pid_namespace=True)
    probe("net-ns", net_namespace=True)
    probe("pid+net-ns", pid_namespace=True, net_namespace=True)
    probe("uid", uid=61999, gid=61999)
    probe("nproc", nproc=lim.nproc)
    probe("uid+nproc", uid=61998, gid=61998, nproc=lim.nproc)
    probe("fsize", fsize_mb=lim.fsize_mb)
    probe("all+full-env", pid_namespace=True, net_namespace=True, uid=61996, gid=61996, nproc=lim.nproc,
          fsize_mb=lim.fsize_mb, env=dict(os.environ, HOME=tempfile.gettempdir()))
    probe("all", pid_namespace=True, net_namespace=True, uid=61997, gid=61997, nproc=lim.nproc, fsize_mb=lim.fsize_mb)
