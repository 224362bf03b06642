"""The adversarial corpus through the real harness: every cheat gets the status and the failed check it must.

Each candidate runs once with the static filter off (the dynamic checks alone must
stop it: no exploit may depend on the static filter), and its full-harness status is
that run's status unless the static filter rejects it first, which is exactly what
`verify` does with the filter on. The manifest says what each one must get.
"""
from __future__ import annotations

import json
import os
import time
import tomllib
import uuid
from pathlib import Path

import pytest

from harness.sandbox import process
from harness.build.toolchain import cache_root
from harness.candidate import load_candidate
from harness.sandbox.uids import can_drop_privileges
from harness.static.check import static_check
from harness.task import load_task
from harness.judge.verify import verify

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
MANIFEST = tomllib.loads((HERE / "manifest.toml").read_text())["candidate"]


def _entries(backend: str) -> list[dict]:
    return [c for c in MANIFEST if backend in c["backends"]]


def _task(spec: str):
    return load_task(spec if spec.startswith("level") else HERE / spec)


def _workers(uid: int | None = None, dirs: tuple[bytes, ...] = (b"ke-run-",)) -> set[int]:
    """Live runner processes: those of one sandbox uid, or (no uid drop) worker.py processes (and what they
    forked, which keeps their command line) of the runs in `dirs` (default: any run)."""
    found = set()
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            if uid is not None:
                status = (p / "status").read_text()
                uids = next(ln for ln in status.splitlines() if ln.startswith("Uid:")).split()[1:]
                if str(uid) in uids:
                    found.add(int(p.name))
                continue
            cmd = (p / "cmdline").read_bytes()
        except (OSError, StopIteration):
            continue
        if b"harness/worker/main.py" in cmd and any(d in cmd for d in dirs):
            found.add(int(p.name))
    return found


def _run_uid(verdict) -> int | None:
    """The per-run sandbox uid, from the verdict's isolation check (uids are exclusive while a run holds one)."""
    import re

    for c in verdict.checks:
        m = re.search(r"\buid (\d+)", c.reason) if c.name == "isolation" else None
        if m:
            return int(m.group(1))
    return None


def _markers(since: float) -> list[Path]:
    """Marker files written at or after `since` (wall clock) where the sandboxed candidate must not be able to
    write (world-writable places like /tmp are fair game). Older ones are left by earlier runs on this machine
    (e.g. one without a uid drop) and say nothing about this one."""
    places = [p for p in (cache_root(), cache_root().parent, Path.home(), REPO) if not p.stat().st_mode & 0o002]
    found = []
    for m in (p / "KE_ESCAPE_MARKER" for p in places):
        try:
            if m.stat().st_mtime >= since - 1.0:  # 1 s of slack for coarse file-system clocks
                found.append(m)
        except FileNotFoundError:
            pass
    return found


def _unmet(requires: list[str]) -> str:
    have = {"openmp": True, "multi_core": (os.cpu_count() or 1) >= 2, "netns": os.geteuid() == 0,
            "privilege_drop": can_drop_privileges()}
    missing = [r for r in requires if not have.get(r, False)]
    return ", ".join(missing)


def _matches(check_name: str, wanted: str) -> bool:
    return check_name.startswith(wanted) if wanted.endswith(":") else check_name == wanted


def run_entry(entry: dict, backend: str, monkeypatch: pytest.MonkeyPatch, pool=None) -> None:
    task = _task(entry["task"])
    cand = load_candidate(HERE / entry["file"], task, format=entry.get("format"))
    canary = f"hf_canary_{uuid.uuid4().hex}"
    monkeypatch.setenv("HF_TOKEN", canary)
    before = _workers()
    started = time.time()
    runs: list[bytes] = []  # this verify's run directories (reference and candidate), to find their processes
    real_collect = process.collect

    def collect_spy(proc, read_fd, tmp, *a, **k):
        runs.append(str(tmp).encode())
        return real_collect(proc, read_fd, tmp, *a, **k)

    monkeypatch.setattr(process, "collect", collect_spy)
    if pool is not None:  # the pool refills in the background: take an armed sandbox, not a cold start
        assert pool.wait_ready(120), "the warm pool did not arm a sandbox within 120 s"
    v = verify(cand, backend=backend, size="small", seeds=2, compile_baseline=False, timeout_s=30.0,
               repeats=10, warmup=2, static_checks=False, **({"pool": pool} if pool is not None else {}))
    if pool is not None:  # the candidate really ran in a pre-started sandbox
        iso = next((c.reason for c in v.checks if c.name == "isolation"), "")
        assert v.status in ("rejected", "compile_error") or "pre-started" in iso, (entry["file"], v.status, iso)
    failing = [c for c in v.checks if c.outcome in ("fail", "flag")]
    where = f"{entry['file']}: status {v.status}; error {v.error[:300]!r}; failed {[c.name for c in failing]}"

    unmet = _unmet(entry.get("requires", []))
    if not unmet:
        assert v.status in entry["dynamic_status"], where
        if v.status == "verified":
            assert set(entry.get("expect_flags", [])) <= set(v.flags), where
            if "min_kernel_ms" in entry and v.timing is not None:
                assert v.timing.kernel.median_ms >= entry["min_kernel_ms"], where
        elif entry.get("expect_checks"):
            assert any(_matches(c.name, w) for c in failing for w in entry["expect_checks"]), where
    # With the static filter on, verify rejects before anything runs, or else gives this very run's verdict.
    rep = static_check(cand.source, format=cand.format, backend=backend)
    full = "rejected" if rep.rejected else v.status
    if not unmet:
        assert full in entry["expect_status"], f"full harness: {full}; " + where
    if entry.get("static_alone_stops"):
        assert rep.rejected, f"{entry['file']}: the manifest says the static filter rejects it"

    post = entry.get("postconditions", [])
    if "no_survivors" in post:
        uid = _run_uid(v)
        left = (lambda: _workers(uid)) if uid is not None else (lambda: _workers(dirs=tuple(runs)) - before)
        deadline = time.monotonic() + 5  # killed processes may take a moment to be reaped
        while left() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not left(), f"{entry['file']}: processes of the candidate survived"
    if "canary_absent" in post:
        assert canary not in v.to_json(), f"{entry['file']}: the parent's HF_TOKEN reached the verdict"
    if "no_marker_files" in post:
        written = _markers(started)
        if "privilege_drop" in unmet:  # expected without a uid drop (THREAT_MODEL.md); don't leave them behind
            for m in written:
                m.unlink(missing_ok=True)
        else:
            assert not written, f"{entry['file']}: wrote outside its sandbox: {written}"
    if unmet:
        pytest.skip(f"dynamic expectation needs {unmet} on this machine; static part checked")


@pytest.mark.parametrize("entry", _entries("cpu"), ids=lambda e: Path(e["file"]).name)
def test_adversarial_cpu(entry: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    run_entry(entry, "cpu", monkeypatch)


@pytest.fixture(scope="module")
def warm_pool():
    from harness.sandbox.warm import WarmPool

    with WarmPool(1, backend="cpu") as pool:
        yield pool


@pytest.mark.parametrize("entry", _entries("cpu"), ids=lambda e: Path(e["file"]).name)
def test_adversarial_cpu_through_warm_runners(entry: dict, monkeypatch: pytest.MonkeyPatch, warm_pool) -> None:
    """The same corpus, each candidate in a pre-started sandbox: warm runners weaken no defence."""
    run_entry(entry, "cpu", monkeypatch, pool=warm_pool)


@pytest.mark.gpu
@pytest.mark.parametrize("entry", _entries("cuda"), ids=lambda e: Path(e["file"]).name)
def test_adversarial_cuda(entry: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    run_entry(entry, "cuda", monkeypatch)


@pytest.fixture(scope="module")
def warm_pool_cuda():
    from harness.sandbox.warm import WarmPool

    with WarmPool(1, backend="cuda") as pool:  # armed workers import torch but never touch CUDA before their job
        yield pool


@pytest.mark.gpu
@pytest.mark.parametrize("entry", _entries("cuda"), ids=lambda e: Path(e["file"]).name)
def test_adversarial_cuda_through_warm_runners(entry: dict, monkeypatch: pytest.MonkeyPatch, warm_pool_cuda) -> None:
    """The CUDA corpus in pre-started sandboxes (each its own process and CUDA context, used once)."""
    run_entry(entry, "cuda", monkeypatch, pool=warm_pool_cuda)


def test_manifest_covers_every_family() -> None:
    families = {c["family"] for c in MANIFEST}
    assert len(MANIFEST) >= 20
    assert families >= {"stale_memory", "input_mutation", "output_aliasing", "result_caching", "timing_escape",
                        "precision_downgrade", "library_calls", "degenerate_task", "implausible_speed",
                        "determinism", "format_b", "forgery", "runner_environment"}
    for c in MANIFEST:
        assert (HERE / c["file"]).is_file(), c["file"]
        assert "verified" not in c["expect_status"] or c.get("why"), c["file"]
    json.dumps(MANIFEST)
