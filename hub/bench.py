"""Archive benchmark: append time against archive size, and a 30k-row Sakana import.

Run: `python -m hub.bench [--sizes 1000 10000 30000] [--batch 100] [--sakana 30000]`.
It builds synthetic rows through `row_from_verdict` (real verdict objects, fake
numbers) and Sakana-schema rows with `sakana_table`, in a temporary directory.
Not a test: it prints numbers for BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path

import pyarrow as pa

from harness.types import Check, Env, Stats, Timing, TaskRef, Verdict, sha256_text
from hub.schema import Row, row_from_verdict

_TASK = "import torch\nclass Model(torch.nn.Module):\n    def forward(self, x):\n        return x.relu()\n" \
        "def get_inputs():\n    return [torch.randn(64)]\ndef get_init_inputs():\n    return []\n"


def synthetic_rows(n: int, *, seed: int = 0, device: str = "NVIDIA H100 80GB HBM3", levels=(1, 2, 3)) -> list[Row]:
    """n distinct rows, made through `row_from_verdict` from verdict objects with made-up timings."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        level = levels[i % len(levels)]
        op = f"op{i % 50}"
        task = TaskRef(task_id=f"level{level}/{op}", path="", source=_TASK + f"# {op}\n", sha256=sha256_text(op),
                       level=level, op_name=op, functional=False)
        kernel = f"// kernel {seed}-{i}\n__global__ void k(float* x) {{ x[threadIdx.x] *= {rnd.random():.6f}f; }}\n" * 8
        ok = rnd.random() < 0.7
        k, e = rnd.uniform(0.01, 2.0), rnd.uniform(0.01, 2.0)
        timing = Timing(kernel=Stats(k, k / 20, k * 0.9, k * 1.2, 100), eager=Stats(e, e / 20, e * 0.9, e * 1.2, 100),
                        compiled=None, speedup_eager=e / k, speedup_compile=None, method="cuda-events+l2-flush")
        verdict = Verdict(
            status="verified" if ok else "incorrect", task_id=task.task_id, task_sha256=task.sha256,
            kernel_sha256=sha256_text(kernel), format="A",
            checks=(Check("allclose", "pass" if ok else "fail", "" if ok else "max diff 3.2e-1 > 1e-4"),),
            flags=(), env=Env(device=device, backend="cuda", torch_version="2.13.0", cuda_version="13.0"),
            timing=timing if ok else None, max_abs_diff=1e-6 if ok else 0.32, rel_error=1e-7 if ok else 0.1,
        )
        out.append(row_from_verdict(verdict, task=task, kernel_code=kernel, generation=i % 7, operator="bench",
                                    run_id=f"bench-{seed}"))
    return out


def sakana_table(n: int, *, seed: int = 0) -> pa.Table:
    """n generated rows in Sakana's exact 19-column schema (kernels of a few KB, like theirs)."""
    from hub.sakana import SAKANA_SCHEMA

    rnd = random.Random(seed)
    cols: dict[str, list] = {c: [] for c in SAKANA_SCHEMA.names}
    for i in range(n):
        level, task = 1 + i % 3, 1 + i % 100
        k, e, c = rnd.uniform(0.01, 2), rnd.uniform(0.01, 2), rnd.uniform(0.01, 2)
        # sizes like Sakana's rows: a few KB of CUDA, KB-sized profiler dumps
        code = f"#include <torch/extension.h>\n// variant {seed}-{i}\n__global__ void kern_{i}(float* y) {{}}\n" + \
            "".join(f"    y[{j}] = y[{j}] * {rnd.random():.5f}f;\n" for j in range(120))
        profile = "".join(f"metric_{j}: {rnd.random():.4f}\n" for j in range(80))
        for name, v in (("Op_Name", f"{task}_Op{task}"), ("Level_ID", level), ("Task_ID", task),
                        ("Kernel_Name", f"kern_{i}"), ("CUDA_Runtime", k), ("PyTorch_Native_Runtime", e),
                        ("PyTorch_Compile_Runtime", c), ("CUDA_Speedup_Native", e / k), ("CUDA_Speedup_Compile", c / k),
                        ("CUDA_Code", code), ("PyTorch_Code_Module", _TASK), ("PyTorch_Code_Functional", _TASK),
                        ("Correct", i % 4 != 0), ("Max_Diff", rnd.random() * 1e-5),
                        ("Error", None if i % 4 else "mismatch"), ("NCU_Profile", profile if i % 2 else None),
                        ("Torch_Profile", profile[:1000]), ("Clang_Tidy", ""), ("__index_level_0__", i)):
            cols[name].append(v)
    return pa.table(cols, schema=SAKANA_SCHEMA)


def bench_append(sizes: list[int], batch: int, repeats: int = 5, fill: int = 5000) -> list[tuple[int, float, float]]:
    """(archive rows, median seconds per append of `batch` rows, max) at each size; grown `fill` rows a commit."""
    from hub.local_store import LocalStore

    results = []
    with tempfile.TemporaryDirectory() as d:
        store = LocalStore(Path(d) / "archive")
        store.init()
        have, seed = 0, 1
        for size in sorted(sizes):
            while have < size:  # grow to `size` in large chunks (not timed)
                n = min(fill, size - have)
                store.append(synthetic_rows(n, seed=seed), f"fill {n}")
                have, seed = have + n, seed + 1
            fresh = LocalStore(store.path)  # a new process-like instance: no warm caches
            times = []
            for _ in range(repeats):
                rows = synthetic_rows(batch, seed=seed)
                seed += 1
                t0 = time.perf_counter()
                fresh.append(rows, f"bench append {batch}")
                times.append(time.perf_counter() - t0)
                have += batch
            results.append((size, statistics.median(times), max(times)))
    return results


def bench_sakana_import(n: int) -> tuple[float, int]:
    """Seconds to import n generated Sakana-schema rows from a parquet file into a fresh archive."""
    import pyarrow.parquet as pq

    from hub.local_store import LocalStore
    from hub.sakana import import_sakana

    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "sakana.parquet"
        pq.write_table(sakana_table(n), src)
        store = LocalStore(Path(d) / "archive")
        t0 = time.perf_counter()
        added = import_sakana(store, str(src), progress=False)
        return time.perf_counter() - t0, added


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 30000])
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--fill", type=int, default=5000, help="rows per commit while growing the archive")
    ap.add_argument("--sakana", type=int, default=30000)
    a = ap.parse_args()
    import datasets
    import huggingface_hub
    import subprocess

    git = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
    print(f"python {platform.python_version()}, pyarrow {pa.__version__}, datasets {datasets.__version__}, "
          f"huggingface_hub {huggingface_hub.__version__}, {git}, {platform.machine()}")
    for size, med, mx in bench_append(a.sizes, a.batch, fill=a.fill):
        print(f"append {a.batch} rows to an archive of {size:>6} rows (grown {a.fill}/commit): "
              f"median {med * 1000:7.1f} ms (max {mx * 1000:.1f} ms)")
    if a.sakana:
        secs, added = bench_sakana_import(a.sakana)
        print(f"import-sakana {a.sakana} generated rows: {secs:.2f} s ({added} rows added)")


if __name__ == "__main__":
    main()
