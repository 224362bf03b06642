"""The data that crosses the harness boundary: candidates, checks, timings, verdicts.

Everything here is a frozen dataclass with a JSON round-trip (`to_json` /
`from_json`), so a verdict can be written to the archive, shipped between
processes or shown in the Space without importing anything but the standard
library. This module owns the *shape* of a verdict; `harness.judge.verify` owns how
one is reached.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

HARNESS_VERSION = "0.1.0"

Status = Literal["verified", "incorrect", "compile_error", "runtime_error", "timeout", "rejected"]
STATUSES: tuple[str, ...] = ("verified", "incorrect", "compile_error", "runtime_error", "timeout", "rejected")
Outcome = Literal["pass", "fail", "flag", "skip"]
Format = Literal["A", "B", "K"]
Backend = Literal["cpu", "cuda"]


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class TaskRef:
    """A task file, identified by id and by the hash of its source."""

    task_id: str          # built-in id such as "level1/softmax", or the file stem for user files
    path: str             # absolute path of the .py file ("" when given as text only)
    source: str           # the file's text
    sha256: str           # sha256 of `source`
    level: int            # 1 = single op, 2 = fusion, 3 = block; 0 = unknown
    op_name: str          # short op name used for archive retrieval
    functional: bool      # defines module_fn and Model.forward(..., fn=)


@dataclass(frozen=True)
class Candidate:
    """What gets judged: one kernel source for one task."""

    task: TaskRef
    source: str
    format: Format        # "A" pybind11 forward(); "B" KernelBench ModelNew; "K" C-ABI launcher
    name: str = ""        # a label for reports (file name, operator id, ...)

    @property
    def sha256(self) -> str:
        return sha256_text(self.source)


@dataclass(frozen=True)
class Check:
    """One check that ran (or was skipped), with its outcome and a reason a person can act on."""

    name: str
    outcome: Outcome
    reason: str = ""


@dataclass(frozen=True)
class Stats:
    """Median and spread of repeated timings, in milliseconds."""

    median_ms: float
    iqr_ms: float
    min_ms: float
    max_ms: float
    n: int


@dataclass(frozen=True)
class Timing:
    """The candidate's timing next to eager and torch.compile, measured in the same run."""

    kernel: Stats
    eager: Stats | None
    compiled: Stats | None
    speedup_eager: float | None
    speedup_compile: float | None
    method: str                      # "cuda-events+l2-flush" or "perf_counter_ns"
    sol_ms: float | None = None      # speed-of-light floor: bytes moved / measured bandwidth
    wall_ms: float | None = None     # wall time the trusted parent observed for the timed loop
    custom_kernel_fraction: float | None = None
    # the roofline: achieved against the device's measured roofs (copy bandwidth; matmul throughput, TF32
    # tensor cores on CUDA), from the task's bytes moved and its matmul/conv FLOPs (torch's FlopCounterMode)
    achieved_gbps: float | None = None
    peak_gbps: float | None = None
    bandwidth_fraction: float | None = None
    achieved_gflops: float | None = None
    peak_gflops: float | None = None
    flops_fraction: float | None = None
    eager_flops_fraction: float | None = None    # eager's (cuBLAS/cuDNN) fraction of the same roof, beside it


@dataclass(frozen=True)
class Env:
    device: str
    backend: str
    torch_version: str
    cuda_version: str
    harness_version: str = HARNESS_VERSION
    arch: str = ""


def uid_dropped(isolation: str) -> bool:
    """Did the sandbox described by an isolation string (the supervisor's, "a + b + uid N + ...") drop to a uid?"""
    return any(p.strip().startswith("uid ") for p in isolation.split("+"))


@dataclass(frozen=True)
class Verdict:
    """The harness's answer for one candidate. Only status == "verified" means correct."""

    status: Status
    task_id: str
    task_sha256: str
    kernel_sha256: str
    format: str
    checks: tuple[Check, ...]
    flags: tuple[str, ...]
    env: Env
    timing: Timing | None = None
    max_abs_diff: float | None = None
    rel_error: float | None = None
    error: str = ""                              # compile log excerpt or runtime error, cut for an LLM
    library_calls: tuple[str, ...] = ()
    seconds: dict[str, float] = field(default_factory=dict)  # wall time per stage (static, build, reference, run)

    @property
    def correct(self) -> bool:
        return self.status == "verified"

    @property
    def failed_checks(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.outcome == "fail")

    @property
    def isolation_gaps(self) -> tuple[str, ...]:
        """What the sandbox the candidate ran in lacked, read from its `isolation` check (empty for the full
        set, and for a verdict that ran nothing). harness/THREAT_MODEL.md says what each one costs."""
        iso = next((c.reason for c in self.checks if c.name == "isolation"), None)
        if iso is None:
            return ()
        parts = [p.strip() for p in iso.split("+")]
        landlock = any(p.startswith("landlock v") for p in parts)
        gaps = []
        if not uid_dropped(iso):
            gaps.append("no uid drop: the candidate ran as the harness's own user, able to read that user's files"
                        + ("" if landlock else " and write them (the archive and the build cache included)"))
        if "net-namespace" not in parts:
            gaps.append("no network namespace: the candidate could reach the network"
                        + (" (Landlock stopped TCP only)" if landlock else ""))
        if "pid-namespace" not in parts:
            gaps.append("no PID namespace: processes it left behind were found by the subreaper alone")
        if not landlock:
            gaps.append("no Landlock: the candidate could write wherever its uid may (/tmp and /dev/shm included, "
                        "where a later run can read what it left) and signal processes outside its sandbox")
        return tuple(gaps)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self, **kw: Any) -> str:
        return json.dumps(self.to_dict(), **kw)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Verdict":
        timing = d.get("timing")
        if timing is not None:
            timing = Timing(
                kernel=Stats(**timing["kernel"]),
                eager=Stats(**timing["eager"]) if timing.get("eager") else None,
                compiled=Stats(**timing["compiled"]) if timing.get("compiled") else None,
                **{k: v for k, v in timing.items() if k not in ("kernel", "eager", "compiled")},
            )
        return cls(
            status=d["status"],
            task_id=d["task_id"],
            task_sha256=d["task_sha256"],
            kernel_sha256=d["kernel_sha256"],
            format=d["format"],
            checks=tuple(Check(**c) for c in d["checks"]),
            flags=tuple(d["flags"]),
            env=Env(**d["env"]),
            timing=timing,
            max_abs_diff=d.get("max_abs_diff"),
            rel_error=d.get("rel_error"),
            error=d.get("error", ""),
            library_calls=tuple(d.get("library_calls", ())),
            seconds=dict(d.get("seconds", {})),
        )

    @classmethod
    def from_json(cls, text: str) -> "Verdict":
        return cls.from_dict(json.loads(text))
