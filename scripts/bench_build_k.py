"""Cold format-K CPU build time through `harness.build.cache.build`, every build a new source.

    python3 scripts/bench_build_k.py [--repo PATH] [-n 15]

`--repo` picks which checkout's harness builds (e.g. a `git worktree` of an older commit, to compare
versions in one sitting); the kernel is this repository's K layernorm with a unique trailing comment
per build. Prints the median and IQR in ms and the build's isolation.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repo", default=str(HERE), help="the checkout whose harness builds")
    ap.add_argument("-n", type=int, default=15, help="builds to time")
    args = ap.parse_args()
    sys.path.insert(0, args.repo)
    cache = tempfile.mkdtemp(prefix="ke-bench-build-")
    os.chmod(cache, 0o711)  # a cache other uids can traverse, as the sandboxed build needs
    os.environ["KERNEL_EVOLVE_CACHE"] = cache
    from harness.build.cache import build

    src = (HERE / "tests" / "kernels" / "k" / "layernorm_cpu.cpp").read_text()
    times, res = [], None
    for _ in range(args.n):
        t = time.perf_counter()
        res = build(src + f"\n// {uuid.uuid4().hex}\n", backend="cpu", format="K")
        times.append(time.perf_counter() - t)
        if not res.ok:
            sys.exit(f"the build failed: {res.error}")
    q = statistics.quantiles(times, n=4) if len(times) >= 2 else [times[0]] * 3
    print(f"{args.repo}: median {statistics.median(times) * 1000:.0f} ms, IQR {(q[2] - q[0]) * 1000:.0f} ms, "
          f"n={len(times)}, isolation: {getattr(res, 'isolation', '') or '(not recorded)'}")


if __name__ == "__main__":
    main()
