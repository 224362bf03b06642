"""One GPU session's work: build, check and time the shipped CUDA kernels and the CUDA refusals.

Usage (on a CUDA machine, from the repo root):
    python3 scripts/gpu_session.py known-good [--size default] [--out DIR]
    python3 scripts/gpu_session.py refusals [--out DIR]
    python3 scripts/gpu_session.py all [--seeds N]   # prebuilds known-good + refusals, then runs both
    python3 scripts/gpu_session.py prebuild-adversarial  # the refusals and `pytest -m gpu tests/adversarial`'s sources
    python3 scripts/gpu_session.py prebuild-known-good   # the shipped CUDA kernels
    python3 scripts/gpu_session.py prebuild-all      # both, one pool
    python3 scripts/gpu_session.py format-k          # K vs A cold builds; K and K->A verified
Prints a short table last and writes the full verdicts as JSON under --out.
Needs only torch + ninja (the harness's own dependencies).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.build.cache import build  # noqa: E402
from harness.candidate import CandidateError, detect_format, load_candidate  # noqa: E402
from harness.task import builtin_tasks, known_good_kernel, load_task  # noqa: E402
from harness.judge.verify import verify  # noqa: E402

REFUSALS = {  # kernel -> (task, expected status)
    "empty.cu": ("level1/relu", "incorrect"), "half_written.cu": ("level1/relu", "incorrect"),
    "mutates_input.cu": ("level1/relu", "incorrect"), "sleeps.cu": ("level1/relu", "timeout"),
    "illegal_access.cu": ("level1/relu", "runtime_error"), "exits.cu": ("level1/relu", "runtime_error"),
    "forges_stdout.cu": ("level1/relu", "incorrect|runtime_error"),
    "stale_after_first.cu": ("level1/relu", "incorrect"),
    # side-stream work is either read unfinished (incorrect) or counted by the device-wide sync before the
    # end event (verified, flagged extra_stream, never faster than its 0.1 ms spin): see _side_stream_ok
    "side_stream.cu": ("level1/relu", "incorrect|verified"),
    "half_precision.cu": ("level1/gelu", "incorrect"), "library_call.cu": ("level1/relu", "rejected"),
}


COLD: dict[str, float] = {}


def prebuild(sources: list[str], workers: int = 8) -> dict[str, float]:
    """Builds in parallel (as the pipeline does), each in its own format; returns the first (cold) build's
    seconds per source."""
    def one(s: str):
        try:
            fmt = detect_format(s)
        except CandidateError:
            fmt = "A"
        return build(s, backend="cuda", format=fmt if fmt in ("A", "K") else "A")

    with ThreadPoolExecutor(max_workers=workers) as pool:
        res = list(pool.map(one, sources))
    for s, r in zip(sources, res):
        COLD.setdefault(s, r.seconds)
    return {s: COLD[s] for s in sources}


def cuda_sources() -> tuple[dict[str, str], list[str], list[str]]:
    """The CUDA sources this script builds: known-good kernels by task (format-K seeds under "<task>" and the
    format-A kernels under "<task>:A"), the refusals, the adversarial corpus."""
    kdir = ROOT / "tests" / "kernels" / "cuda"
    kg = {t: p.read_text() for t in builtin_tasks() if (p := known_good_kernel(load_task(t), "cuda", format="K"))}
    kg.update({f"{t}:A": p.read_text() for t in builtin_tasks()
               if (p := known_good_kernel(load_task(t), "cuda", format="A"))})
    return (kg, [(kdir / k).read_text() for k in REFUSALS],
            [p.read_text() for p in sorted((ROOT / "tests" / "adversarial").glob("*/*.cu"))])


def known_good(args: argparse.Namespace) -> list[dict]:
    """Every shipped CUDA kernel through the pipeline's own GPU executor: `--jobs` verifications share the GPU's
    correctness work, and each timed phase (and each eager/torch.compile baseline) has the GPU alone."""
    from harness.executors.factory import make_executor

    names = args.tasks.split(",") if args.tasks else builtin_tasks()
    items = [(t, known_good_kernel(load_task(t), "cuda")) for t in names]
    items = [(t, p) for t, p in items if p is not None]
    cold = prebuild([p.read_text() for _, p in items], workers=min(16, os.cpu_count() or 8))
    ex = make_executor("local", backend="cuda", workers=2, per_device=args.jobs)
    t_all = time.monotonic()
    futs = {}
    for t, p in items:
        c = load_candidate(p, load_task(t))
        futs[ex.submit(c, backend="cuda", seeds=args.seeds, size=args.size, timeout_s=600)] = (t, c, time.monotonic())
    rows = []
    try:
        for fut in as_completed(futs):
            t, c, t0 = futs[fut]
            v = fut.result()
            rows.append(_known_good_row(t, c, v, cold[c.source], time.monotonic() - t0))
            with open(Path(args.out) / "known-good.jsonl", "a") as f:
                f.write(json.dumps({k: x for k, x in rows[-1].items() if k != "verdict"}, default=str) + "\n")
    finally:
        ex.shutdown()
    print(f"{len(rows)} known-good kernels judged in {time.monotonic() - t_all:.0f} s, {args.jobs} at a time",
          flush=True)
    order = {t: i for i, (t, _) in enumerate(items)}
    return sorted(rows, key=lambda r: order[r["task"]])


def _known_good_row(t: str, c, v, cold_s: float, wall: float) -> dict:
    tm = v.timing
    row = {"task": t, "status": v.status, "error": v.error[:300], "cold_build_s": cold_s,
           "verify_warm_s": wall, "seconds": v.seconds,
           "kernel_ms": tm.kernel.median_ms if tm else None, "kernel_iqr": tm.kernel.iqr_ms if tm else None,
           "eager_ms": tm.eager.median_ms if tm and tm.eager else None,
           "eager_iqr": tm.eager.iqr_ms if tm and tm.eager else None,
           "compile_ms": tm.compiled.median_ms if tm and tm.compiled else None,
           "compile_iqr": tm.compiled.iqr_ms if tm and tm.compiled else None,
           "speedup_eager": tm.speedup_eager if tm else None,
           "speedup_compile": tm.speedup_compile if tm else None,
           "custom_fraction": tm.custom_kernel_fraction if tm else None,
           "flags": list(v.flags), "device": v.env.device, "verdict": json.loads(v.to_json())}
    iso = next((ch.reason for ch in v.checks if ch.name == "isolation"), "")
    secs = " ".join(f"{k}={x:.1f}" for k, x in v.seconds.items() if x >= 0.5)
    for ch in v.checks:
        if ch.name == "compile_baseline":
            print(f"  {t} torch.compile baseline: {ch.reason[:400]}", flush=True)
    print(f"{t:28s} {v.status:10s} {wall:6.1f}s {v.error[:100]} [{iso[:90]}] {secs}", flush=True)
    return row


def refusals(args: argparse.Namespace) -> list[dict]:
    kdir = ROOT / "tests" / "kernels" / "cuda"
    prebuild([(kdir / k).read_text() for k in REFUSALS])
    rows = []
    for k, (t, expected) in REFUSALS.items():
        c = load_candidate(kdir / k, load_task(t))
        t0 = time.monotonic()
        v = verify(c, backend="cuda", seeds=2, size="small", timeout_s=30, static_checks=False)
        ok = v.status in expected.split("|")
        if ok and v.status == "verified":  # only the side stream may pass, and only honestly timed
            ok = "extra_stream" in v.flags and v.timing is not None and v.timing.kernel.median_ms >= 0.1
        rows.append({"kernel": k, "task": t, "status": v.status, "expected": expected, "ok": ok,
                     "error": v.error[:200], "flags": list(v.flags), "wall_s": time.monotonic() - t0,
                     "failed": [c.name for c in v.checks if c.outcome == "fail"]})
        print(f"{k:24s} {v.status:14s} expected {expected:24s} {'OK' if ok else 'MISMATCH'} {v.error[:90]}",
              flush=True)
    return rows


def format_k(args: argparse.Namespace) -> list[dict]:
    """Cold build seconds: format K, format A split (kernel unit + host unit), format A whole; each verified
    at the task's size; and K exported to format A and verified too."""
    import uuid

    from harness.export import export_candidate

    task = load_task("level1/layernorm")
    tag = f"\n// gpu_session {uuid.uuid4().hex}\n"  # fresh sources: cold builds
    k_src = (ROOT / "tests" / "kernels" / "k" / "layernorm_cuda.cu").read_text() + tag
    a_src = known_good_kernel(task, "cuda").read_text() + tag
    rows = []
    whole = a_src + "// whole\n"
    for label, src in (("K", k_src), ("A", a_src), ("A whole", whole),
                       ("K->A", export_candidate(k_src, task, backend="cuda") + tag)):
        t0 = time.monotonic()
        if label == "A whole":
            os.environ["KERNEL_EVOLVE_NO_SPLIT"] = "1"
        b = build(src, backend="cuda", format="K" if label == "K" else "A")
        os.environ.pop("KERNEL_EVOLVE_NO_SPLIT", None)
        cold = time.monotonic() - t0
        label = f"{label} [{b.path}]"
        v = verify(load_candidate(src, task), backend="cuda", seeds=args.seeds, size=args.size, timeout_s=600)
        tm = v.timing
        rows.append({"kind": label, "build_ok": b.ok, "cold_build_s": cold, "status": v.status, "error": v.error[:300],
                     "kernel_ms": tm.kernel.median_ms if tm else None, "iqr": tm.kernel.iqr_ms if tm else None,
                     "speedup_eager": tm.speedup_eager if tm else None, "seconds": v.seconds})
        print(f"{label:5s} build {cold:6.1f}s {v.status:10s} {v.error[:120]}", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["known-good", "refusals", "format-k", "all", "table", "prebuild-adversarial", "prebuild-all",
                                       "prebuild-known-good"])
    ap.add_argument("--tasks", default="", help="comma-separated known-good tasks, in this order")
    ap.add_argument("--size", default="default")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=4, help="known-good: verifications sharing the GPU at a time")
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    args = ap.parse_args()
    Path(args.out).mkdir(parents=True, exist_ok=True)
    if args.what == "table":  # from the rows a (possibly cut-short) known-good run appended
        lines = (Path(args.out) / "known-good.jsonl").read_text().splitlines()
        table("known-good", [json.loads(ln) for ln in lines if ln.strip()])
        return
    if args.what.startswith("prebuild-"):  # one pool of builds, before (or, niced, beside) the GPU work
        t0 = time.monotonic()
        kg, refusal, adv = cuda_sources()
        srcs = {"prebuild-all": [*kg.values(), *refusal, *adv], "prebuild-known-good": list(kg.values()),
                "prebuild-adversarial": [*refusal, *adv]}[args.what]
        res = prebuild(srcs, workers=min(16, os.cpu_count() or 8))
        for t, src in kg.items() if args.what != "prebuild-adversarial" else ():
            print(f"  cold build {t}: {res[src]:.1f} s", flush=True)
        print(f"prebuilt {len(res)} CUDA sources ({args.what}) in {time.monotonic() - t0:.0f} s; cold build "
              f"median {sorted(res.values())[len(res) // 2]:.1f} s", flush=True)
        return
    if args.what == "all":
        kg, refusal, _ = cuda_sources()
        t0 = time.monotonic()
        prebuild([*kg.values(), *refusal], workers=min(16, os.cpu_count() or 8))
        print(f"prebuilt all in {time.monotonic() - t0:.0f} s", flush=True)
        for what, fn in (("refusals", refusals), ("known-good", known_good)):  # the quick one first
            rows = fn(args)
            (Path(args.out) / f"{what}.json").write_text(json.dumps(rows, indent=1, default=str))
            table(what, rows)
        return
    if args.what == "format-k":
        rows = format_k(args)
        (Path(args.out) / "format-k.json").write_text(json.dumps(rows, indent=1, default=str))
        for r in rows:
            print(f"| {r['kind']} | {r['cold_build_s']:.1f} | {r['status']} | {r['kernel_ms']} ({r['iqr']}) |")
        return
    rows = known_good(args) if args.what == "known-good" else refusals(args)
    (Path(args.out) / f"{args.what}.json").write_text(json.dumps(rows, indent=1, default=str))
    table(args.what, rows)


def table(what: str, rows: list[dict]) -> None:
    print()
    if what == "known-good":
        print("| task | status | kernel ms (IQR) | eager ms (IQR) | compile ms (IQR) | vs eager | vs compile |"
              " own-kernel share | cold build s | submit->verdict s |")
        for r in rows:
            f = (lambda x: f"{x:.3f}" if isinstance(x, float) else "-")
            print(f"| {r['task']} | {r['status']} | {f(r['kernel_ms'])} ({f(r['kernel_iqr'])}) | {f(r['eager_ms'])} "
                  f"({f(r['eager_iqr'])}) | {f(r['compile_ms'])} ({f(r['compile_iqr'])}) | {f(r['speedup_eager'])} | "
                  f"{f(r['speedup_compile'])} | {f(r['custom_fraction'])} | {r['cold_build_s']:.1f} | "
                  f"{r['verify_warm_s']:.1f} |")
    else:
        for r in rows:
            print(f"| {r['kernel']} | {r['status']} | {r['expected']} | {'ok' if r['ok'] else 'MISMATCH'} |")


if __name__ == "__main__":
    main()
