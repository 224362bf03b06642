"""The harness throughput benchmark: a mix of candidates through an executor, and what it cost.

The mix takes candidates in turn from three corpora of the repository:
known-good kernels of the built-in tasks (`pipeline/tasks/*/*.cpp|.cu`, must
verify), refusals (`tests/kernels/cpu|cuda`, must not verify) and the
adversarial suite (`tests/adversarial/manifest.toml`, must get a status the
manifest allows), cycling through each corpus when N exceeds it. Every verdict
is counted: failures are reported by status, an executor error is counted as
`harness_error`, and any verdict that differs from its corpus's expectation is
listed. Reported: candidates/hour over the wall time from first submit to last
verdict, p50/p95 of each stage (`Verdict.seconds`: static, build, reference,
run; plus the timed loop's wall time and submit-to-verdict latency), and the GPU
busy fraction sampled from `nvidia-smi` in a background thread ("n/a" on CPU).
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from harness.types import HARNESS_VERSION, STATUSES, Candidate, Verdict

REPO_ROOT = Path(__file__).resolve().parents[2]
CATEGORIES = ("known_good", "failing", "adversarial", "format_k")
DEFAULT_MIX = ("known_good", "failing", "adversarial")
STAGES = ("static", "build", "reference", "run", "run.queued", "judge")  # run.queued: waiting for the device
# tests/kernels/<backend>/ refusals attack level1/relu, except these (their header comment says which op).
_REFUSAL_TASKS = {"half_precision": "level1/gelu"}


@dataclass(frozen=True)
class BenchItem:
    category: str                  # known_good | failing | adversarial
    label: str                     # path relative to the corpus root
    task: str                      # built-in task id or a task file path
    path: str                      # the candidate file
    expect_status: tuple[str, ...]  # statuses this candidate may get
    expect_flags: tuple[str, ...] = ()  # flags required if "verified" is allowed for a bad candidate


def corpus(backend: str, root: Path = REPO_ROOT) -> dict[str, list[BenchItem]]:
    """The three corpora for `backend` ("cpu" or "cuda"), each in a stable order."""
    from harness.task import builtin_tasks, known_good_kernel, load_task

    ext = ".cu" if backend == "cuda" else ".cpp"
    not_verified = tuple(s for s in STATUSES if s != "verified")
    out: dict[str, list[BenchItem]] = {c: [] for c in CATEGORIES}
    for tid in builtin_tasks():
        k = known_good_kernel(load_task(tid), backend)
        if k is not None:
            out["known_good"].append(BenchItem("known_good", _rel(k, root), tid, str(k), ("verified",)))
    for k in sorted((root / "tests" / "kernels" / backend).glob(f"*{ext}")):
        out["failing"].append(BenchItem("failing", _rel(k, root), _REFUSAL_TASKS.get(k.stem, "level1/relu"),
                                        str(k), not_verified))
    # format K (tests/kernels/k/*_<cpu|cuda>.<cpp|cu>): layernorm kernels; "skip_tail" ones must not verify
    for k in sorted((root / "tests" / "kernels" / "k").glob(f"*_{backend}{ext}")):
        out["format_k"].append(BenchItem("format_k", _rel(k, root), "level1/layernorm", str(k),
                                         not_verified if k.stem.startswith("skip_tail") else ("verified",)))
    manifest = root / "tests" / "adversarial" / "manifest.toml"
    if manifest.is_file():
        try:
            import tomllib
        except ImportError:  # Python 3.10: no TOML reader in the standard library
            tomllib = None
        if tomllib is not None:
            for e in tomllib.loads(manifest.read_text())["candidate"]:
                if backend not in e.get("backends", []):
                    continue
                task = e["task"] if e["task"].startswith("level") else str(manifest.parent / e["task"])
                out["adversarial"].append(BenchItem(
                    "adversarial", _rel(manifest.parent / e["file"], root), task, str(manifest.parent / e["file"]),
                    tuple(e["expect_status"]), tuple(e.get("expect_flags", ()))))
    return out


def _rel(p: Path, root: Path) -> str:
    try:
        return str(Path(p).resolve().relative_to(root.resolve()))
    except ValueError:
        return str(p)


def pick(corpora: dict[str, list[BenchItem]], n: int, categories: Sequence[str] = DEFAULT_MIX) -> list[BenchItem]:
    """N items taking the categories in turn, cycling through each category's items."""
    cats = [c for c in categories if corpora.get(c)]
    if not cats:
        raise ValueError("no candidates found: run from a kernel-evolve checkout (pipeline/tasks and tests/) "
                         "or pass its root with --corpus")
    seen = {c: 0 for c in cats}
    items = []
    for i in range(n):
        c = cats[i % len(cats)]
        items.append(corpora[c][seen[c] % len(corpora[c])])
        seen[c] += 1
    return items


def expectation_met(item: BenchItem, v: Verdict) -> bool:
    if v.status not in item.expect_status:
        return False
    return item.category == "known_good" or v.status != "verified" or set(item.expect_flags) <= set(v.flags)


class GpuSampler:
    """Samples GPU utilisation (percent of time a kernel ran, per GPU) in a background thread."""

    def __init__(self, interval_s: float = 0.5):
        self.interval_s = interval_s
        self.samples: list[float] = []
        self.source = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _read(self) -> list[float] | None:
        if self.source in ("", "nvidia-smi") and shutil.which("nvidia-smi"):
            try:
                r = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"],
                                   capture_output=True, text=True, timeout=10)
                vals = [float(x) for x in r.stdout.split()] if r.returncode == 0 else []
                if vals:
                    self.source = "nvidia-smi"
                    return vals
            except (OSError, subprocess.SubprocessError, ValueError):
                pass
        import torch

        if self.source in ("", "torch.cuda.utilization") and torch.cuda.is_available():
            try:
                vals = [float(torch.cuda.utilization(i)) for i in range(torch.cuda.device_count())]
                self.source = "torch.cuda.utilization"
                return vals
            except Exception:  # noqa: BLE001 - pynvml missing: no sampler, reported as n/a
                return None
        return None

    def start(self) -> "GpuSampler":
        if self._read() is None:
            return self
        def loop() -> None:
            while not self._stop.wait(self.interval_s):
                vals = self._read()
                if vals:
                    self.samples.append(sum(vals) / len(vals) / 100.0)
        self._thread = threading.Thread(target=loop, name="ke-gpu-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> float | None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
        return sum(self.samples) / len(self.samples) if self.samples else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100); None for no values."""
    xs = sorted(values)
    if not xs:
        return None
    pos = (len(xs) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


@dataclass
class Result:
    item: BenchItem
    submitted: float
    finished: float = 0.0
    verdict: Verdict | None = None
    error: str = ""


@dataclass
class BenchReport:
    config: dict[str, Any]
    candidates: int
    wall_s: float
    per_hour: float
    verified_per_hour: float
    by_status: dict[str, int]
    by_category: dict[str, dict[str, int]]
    stages: dict[str, dict[str, Any]]
    builds: dict[str, int]
    gpu_busy: float | None
    gpu_source: str
    mismatches: list[dict[str, str]] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")


def run_bench(items: Sequence[BenchItem], executor: Any, *, verify_kw: dict[str, Any],
              config: dict[str, Any] | None = None, sample_gpu: bool = True, fresh: bool = False,
              in_flight: int | None = None, max_wall_s: float | None = None) -> BenchReport:
    """Submit every item to `executor`, wait for all verdicts, and summarise them.

    `fresh` makes every candidate a new source (a unique trailing comment), so each one is compiled as
    evolution's candidates are, instead of hitting the build cache after the corpus's first round.
    `in_flight` keeps at most that many candidates submitted and unfinished (None: all at once), so
    submit-to-verdict latency measures the harness and not the queue in front of it.
    `max_wall_s` stops submitting and waiting after that many seconds: the rate counts the verdicts that
    arrived by then over that time (a lower bound: work in progress is not counted), the rest are
    cancelled where not started and reported as `unfinished` in the config.
    """
    import threading as _threading
    import uuid

    from harness.candidate import CandidateError, load_candidate
    from harness.task import TaskError, load_task

    results: list[Result] = []
    sampler = GpuSampler().start() if sample_gpu else GpuSampler()
    t0 = time.monotonic()
    cpu0 = _cpu_seconds()
    slots = _threading.BoundedSemaphore(in_flight) if in_flight else None
    deadline = t0 + max_wall_s if max_wall_s else None
    futures: list[tuple[Result, Future | None]] = []
    for it in items:
        if deadline is not None and time.monotonic() >= deadline:
            break
        r = Result(it, submitted=time.monotonic())
        results.append(r)
        try:
            cand: Candidate = load_candidate(it.path, load_task(it.task))
            if fresh and cand.format in ("A", "K"):
                cand = load_candidate(cand.source + f"\n// bench {uuid.uuid4().hex}\n", cand.task, format=cand.format)
        except (TaskError, CandidateError, OSError) as e:
            r.error, r.finished = f"could not load: {e}", time.monotonic()
            futures.append((r, None))
            continue
        if slots is not None:
            if not slots.acquire(timeout=None if deadline is None else max(0.0, deadline - time.monotonic())):
                results.pop()
                break
            r.submitted = time.monotonic()
        fut = executor.submit(cand, **verify_kw)
        fut.add_done_callback(lambda _f, r=r: setattr(r, "finished", time.monotonic()))
        if slots is not None:
            fut.add_done_callback(lambda _f: slots.release())
        futures.append((r, fut))
    unfinished: list[Result] = []
    for r, fut in futures:
        if fut is None:
            continue
        try:
            r.verdict = fut.result(timeout=None if deadline is None else max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            fut.cancel()  # not started: never runs; running: its verdict arrives after the report and is not counted
            unfinished.append(r)
            continue
        except Exception as e:  # noqa: BLE001 - an executor failure is a counted outcome, not a crash
            r.error = f"{type(e).__name__}: {e}"[:500]
        r.finished = r.finished or time.monotonic()
    wall = max(time.monotonic() - t0, 1e-9)
    busy = sampler.stop()
    cpu = _cpu_seconds() - cpu0  # this process and every process it waited for (sandboxes, compilers, workers)
    late = {id(r) for r in unfinished}
    done = [r for r in results if id(r) not in late]  # (host CPU also holds the late ones' work so far)
    extra = dict(host_cpu_s=round(cpu, 2), host_cpu_s_per_candidate=round(cpu / max(1, len(done)), 3))
    if max_wall_s:
        extra.update(max_wall_s=max_wall_s, unfinished=len(unfinished), not_submitted=len(items) - len(results))
    return summarise(done, wall, busy, sampler.source, dict(config or {}, **extra))


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def summarise(results: Sequence[Result], wall_s: float, gpu_busy: float | None, gpu_source: str,
              config: dict[str, Any]) -> BenchReport:
    by_status: dict[str, int] = {}
    by_cat: dict[str, dict[str, int]] = {}
    stage_vals: dict[str, list[float]] = {s: [] for s in (*STAGES, "timed_loop", "total", "latency")}
    builds = {"cold": 0, "cached": 0, "failed": 0}
    mismatches, rows = [], []
    for r in results:
        status = r.verdict.status if r.verdict else "harness_error"
        by_status[status] = by_status.get(status, 0) + 1
        cat = by_cat.setdefault(r.item.category, {})
        cat[status] = cat.get(status, 0) + 1
        latency = max(r.finished - r.submitted, 0.0)
        stage_vals["latency"].append(latency)
        row = {"category": r.item.category, "candidate": r.item.label, "task": r.item.task, "status": status,
               "latency_s": round(latency, 4), "error": r.error}
        v = r.verdict
        if v is not None:
            for s in STAGES:
                if s in v.seconds:
                    stage_vals[s].append(float(v.seconds[s]))
            # top-level stages only: "run.case", "reference.hello", ... break those down and are in them already
            stage_vals["total"].append(sum(float(x) for k, x in v.seconds.items() if "." not in k))
            if v.timing is not None and v.timing.wall_ms is not None:
                stage_vals["timed_loop"].append(v.timing.wall_ms / 1000.0)
            comp = next((c for c in v.checks if c.name == "compile"), None)
            if comp is not None:
                builds["failed" if comp.outcome == "fail" else "cached" if comp.reason == "cached" else "cold"] += 1
            row.update(seconds=v.seconds, flags=list(v.flags))
            if not expectation_met(r.item, v):
                mismatches.append({"candidate": r.item.label, "status": v.status,
                                   "expected": "|".join(r.item.expect_status), "error": v.error[:300]})
        else:
            mismatches.append({"candidate": r.item.label, "status": status, "expected": "|".join(r.item.expect_status),
                               "error": r.error})
        rows.append(row)
    stages = {s: {"n": len(vs), "p50_s": percentile(vs, 50), "p95_s": percentile(vs, 95)}
              for s, vs in stage_vals.items()}
    n = len(results)
    return BenchReport(config=config, candidates=n, wall_s=wall_s, per_hour=n / wall_s * 3600.0,
                       verified_per_hour=by_status.get("verified", 0) / wall_s * 3600.0, by_status=by_status,
                       by_category=by_cat, stages=stages, builds=builds, gpu_busy=gpu_busy, gpu_source=gpu_source,
                       mismatches=mismatches, rows=rows)


def machine() -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {"host_cpus": os.cpu_count(), "platform": platform.platform(), "torch": torch.__version__,
                            "cuda": torch.version.cuda or "", "harness": HARNESS_VERSION}
    if shutil.which("nvidia-smi"):
        try:
            r = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                               text=True, timeout=10)
            info["gpus"] = [g.strip() for g in r.stdout.splitlines() if g.strip()]
        except (OSError, subprocess.SubprocessError):
            pass
    return info


__all__ = ["BenchItem", "BenchReport", "CATEGORIES", "GpuSampler", "corpus", "pick", "run_bench", "summarise",
           "percentile", "expectation_met", "machine"]
