"""`verify`: one candidate in, one verdict out, following DESIGN.md's verification protocol.

The order is: static checks, build (format A), the task's reference in its own
process (cached per task, size, seeds and backend), the candidate in a fresh
sandboxed process, then every judgement in this trusted process. Nothing the
candidate's process says about itself is believed: it ships raw outputs and
timing samples, and this module compares, cross-checks and decides.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from harness.judge import compare as cmp
from harness.judge import hardening
from harness.judge.options import DEFAULT
from harness.static import check as static
from harness.build.cache import build
from harness.sandbox.devlock import DeviceLock, device_shared, physical_device
from harness.judge.reference import Reference, device_env, get_reference, resolve_backend, resolve_size, timing_job
from harness.sandbox.process import Limits, RunResult
from harness.sandbox.runner import run_job
from harness.judge.timing import DEFAULT_MAX_SPEEDUP, plausibility, roofline, stats
from harness.task import has_small_size
from harness.types import Candidate, Check, Env, Timing, Verdict, uid_dropped
from harness.sandbox.warm import WarmPool
from harness.worker import protocol as P

ALLOWED_ATEN = frozenset(
    "aten::" + n for n in (
        "empty empty_like empty_strided new_empty zeros zeros_like zero_ fill_ ones ones_like contiguous clone "
        "copy_ view reshape _reshape_alias _unsafe_view as_strided expand unsqueeze squeeze transpose permute t "
        "select slice narrow detach alias to _to_copy resize_ lift_fresh item _local_scalar_dense result_type "
        "flatten unbind split chunk numpy_T view_as").split())


@dataclass
class _Judge:
    """Accumulates checks and flags for one verdict."""

    checks: list[Check] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    status: str = "verified"
    error: str = ""

    def ok(self, name: str, reason: str = "") -> None:
        self.checks.append(Check(name, "pass", reason))

    def skip(self, name: str, reason: str) -> None:
        self.checks.append(Check(name, "skip", reason))

    def flag(self, name: str, flag: str, reason: str) -> None:
        self.checks.append(Check(name, "flag", reason))
        if flag not in self.flags:
            self.flags.append(flag)

    def fail(self, name: str, reason: str, status: str = "incorrect") -> None:
        self.checks.append(Check(name, "fail", reason))
        if self.status == "verified":
            self.status = status
            self.error = self.error or reason


def _env(ref: Reference | None, backend: str, arch: str = "") -> Env:
    return Env(device=ref.device_name if ref else backend, backend=backend, torch_version=torch.__version__,
               cuda_version=(ref.cuda_version if ref else torch.version.cuda) or "", arch=arch)


def verify(candidate: Candidate, *, backend: str = DEFAULT.backend, seeds: int = DEFAULT.seeds,
           size: str = DEFAULT.size, timing: bool = DEFAULT.timing, compile_baseline: bool = DEFAULT.compile_baseline,
           timeout_s: float = DEFAULT.timeout_s, repeats: int | None = DEFAULT.repeats,
           warmup: int | None = DEFAULT.warmup, static_checks: bool = True,
           device_index: int | None = None, pool: WarmPool | None = None, screen: bool = True) -> Verdict:
    """Judge one candidate. Never raises for anything the candidate or the task does.

    `screen`: at the default size, a task with `SMALL` overrides is first checked at its small size
    (correctness only, every check of that run); a candidate wrong there gets that verdict at once,
    without a default-size run (a `screen` check says so).

    `static_checks=False` runs the dynamic checks alone; tests use it to prove that no exploit is
    stopped by the static filter only. `device_index` pins the runs to one visible GPU. `pool` (a
    `harness.sandbox.warm.WarmPool` of this backend and device) runs the candidate in a pre-started sandbox
    when it has one (the reference stays cold); the checks are the same either way.
    """
    backend = resolve_backend(backend)
    size = resolve_size(size, backend)
    j = _Judge()
    secs: dict[str, float] = {}
    t0 = time.monotonic()
    rep = static.static_check(candidate.source, format=candidate.format, backend=backend)
    secs["static"] = time.monotonic() - t0
    j.checks.extend(rep.checks)
    for f in rep.flags:
        if f not in j.flags:
            j.flags.append(f)

    def done(ref: Reference | None = None, timing_: Timing | None = None, comp: tuple = (None, None)) -> Verdict:
        return Verdict(status=j.status, task_id=candidate.task.task_id, task_sha256=candidate.task.sha256,
                       kernel_sha256=candidate.sha256, format=candidate.format, checks=tuple(j.checks),
                       flags=tuple(j.flags), env=_env(ref, backend), timing=timing_, max_abs_diff=comp[0],
                       rel_error=comp[1], error=j.error[:4000], library_calls=tuple(rep.library_calls), seconds=secs)

    if rep.rejected and static_checks:
        j.fail("static", rep.reason, "rejected")
        return done()

    files = {"task.py": candidate.task.source}
    copies: dict[str, str] = {}
    if candidate.format in ("A", "K"):
        t1 = time.monotonic()
        b = build(candidate.source, backend=backend, format=candidate.format)
        secs["build"] = time.monotonic() - t1
        if not b.ok:
            j.fail("compile", b.error, "compile_error")
            return done()
        gap = f"; the compiler ran without a uid drop ({b.isolation})" if b.isolation and not uid_dropped(b.isolation) \
            else ""
        j.ok("compile", ("cached" if b.cached else f"built in {b.seconds:.1f} s ({b.path})") + gap)
        copies[f"{b.module_name}.so"] = b.so_path
        kernel = P.KernelSpec(format=candidate.format, module_name=b.module_name, so_path=f"{b.module_name}.so")
    else:
        files["candidate.py"] = candidate.source
        kernel = P.KernelSpec(format="B", source_path="candidate.py")

    if screen and size == "default" and has_small_size(candidate.task):
        t1 = time.monotonic()
        pre = verify(candidate, backend=backend, seeds=min(seeds, 2), size="small", timing=False, compile_baseline=False,
                     timeout_s=timeout_s, static_checks=static_checks, device_index=device_index, pool=pool,
                     screen=False)
        secs["screen"] = time.monotonic() - t1
        if pre.status != "verified":
            return replace(pre, checks=pre.checks + (Check("screen", "fail", f"{pre.status} at the task's small size: "
                                                           "not run at the default size"),),
                           seconds={**secs, **{f"screen.{k}": v for k, v in pre.seconds.items()}})
        j.ok("screen", "verified at the task's small size first")
    t1 = time.monotonic()
    ref = get_reference(candidate.task, backend=backend, seeds=seeds, size=size, device_index=device_index,
                        timing=timing, compile_baseline=compile_baseline, timeout_s=max(timeout_s, 600.0), pool=pool)
    secs["reference"] = time.monotonic() - t1
    if secs["reference"] >= 0.5 * ref.seconds.get("total", 0.0) > 0:  # computed by this call, not cached
        secs.update({f"reference.{k}": x for k, x in ref.seconds.items() if k != "total"})
    if ref.error:
        j.fail("reference", f"the task itself failed in the reference runner: {ref.error}", "runtime_error")
        return done(ref)
    job = P.Job(role="candidate", task_path="task.py", seeds=tuple(ref.seeds), init_seed=ref.init_seed, size=size,
                device=backend, kernel=kernel, kernel_names=tuple(rep.kernel_names),
                out_specs={cid: tuple(P.OutSpec(tuple(o.shape), str(o.dtype).replace("torch.", "")) for o in c.out)
                           for cid, c in ref.cases.items()},
                timing=timing_job(backend, repeats=repeats, warmup=warmup, compile_=False) if timing else None,
                probe=hardening.race_plan(backend, size))
    limits = Limits(timeout_s=timeout_s, startup_s=600.0 if candidate.format == "B" else 120.0,
                    budget=hardening.budget_for(ref, physical_device(device_index) if backend == "cuda" else ""))
    t1 = time.monotonic()
    # correctness shares the device with other runs; the timed calls get it alone (harness.sandbox.devlock.Gate)
    res = run_job(job, limits=limits, backend=backend, files=files, copies=copies, env=device_env(device_index),
                  pool=pool, lock=DeviceLock(backend, device_index))
    if res.reran_alone:
        j.skip("device_memory", f"{res.reran_alone}; the candidate was run again with the GPU to itself")
    secs["run"] = time.monotonic() - t1
    secs.update({f"run.{k}": x for k, x in res.phases(t1).items()})  # where the time went (start-up is in hello)
    secs["run.queued"] = res.gate_wait_s  # of which waiting for the device (shared, then the timing slot)
    t2 = time.monotonic()
    hardening.judge_memory(j, res)  # first: a run stopped for memory is `rejected`, whatever else failed
    _judge_protocol(j, res, ref, timing, job.probe)
    # Small outputs are compared on the host with no lock (microseconds of work, nothing to queue for). Large
    # ones are compared on the GPU where there is one, sharing the device: they never overlap a timing run.
    heavy = _output_bytes(res) >= HEAVY_COMPARE_BYTES
    dev = f"cuda:{device_index or 0}" if heavy and backend == "cuda" and torch.cuda.is_available() else None
    with device_shared(backend, device_index) if heavy else contextlib.nullcontext():
        comp = _judge_run(j, res, ref, backend, dev)
        hardening.judge_reuse(j, res, ref, dev)
        hardening.judge_race(j, res, ref, job.probe, dev)
        timing_ = _judge_timing(j, res, ref, job.timing.warmup, dev) \
            if timing and j.status == "verified" else None
    _judge_profile(j, res, backend)
    if ref.degenerate:
        j.fail("degenerate_task", f"the task's reference is unfit for judging: {ref.degenerate}", "rejected")
        j.flags.append("degenerate_task")
    j.checks.append(Check("isolation", "pass", res.isolation))
    j.checks.append(Check("transfer", "pass", f"outputs crossed to the judge through {res.transfer or 'the pipe'}"))
    secs["judge"] = time.monotonic() - t2
    return done(ref, timing_, comp)


HEAVY_COMPARE_BYTES = 64 << 20


def _output_bytes(res: RunResult) -> int:
    return sum(t.numel() * t.element_size() for _, ts in res.messages for t in ts.values())


def _judge_protocol(j: _Judge, res: RunResult, ref: Reference, timing: bool,
                    probe: P.ProbeSpec | None = None) -> None:
    """The worker speaks in a fixed order, each message once; anything else was written by someone else."""
    expected = P.expected_kinds("candidate", n_cases=len(ref.cases), timed=timing,
                                n_reuse=len(P.reuse_ids(list(ref.cases))), n_race=len(probe.threads) if probe else 0)
    got = res.kinds()
    ended_early = "error" in got or res.timed_out or res.exit_code != 0 or bool(res.wire_error)
    body = [k for k in got if k != "error"]
    if got.count("error") > 1 or ("error" in got and got[-1] != "error"):
        j.fail("channel", "messages after an error report: the channel carries forged messages", "runtime_error")
        return
    if body != expected[:len(body)] or (not ended_early and body != expected):
        j.fail("channel", f"the runner's messages {body[:12]} are not the protocol's {expected[:12]}: "
                          "duplicated, reordered or forged messages", "runtime_error")
        return
    ids = [m.id for m, _ in res.all("case")]
    if ids != list(ref.cases)[:len(ids)]:
        j.fail("channel", "case results came back for inputs that were not asked for", "runtime_error")
        return
    j.ok("channel", "every message once, in protocol order")


def _judge_run(j: _Judge, res: RunResult, ref: Reference, backend: str,
               dev: str | None = None) -> tuple[float | None, float | None]:
    if res.wire_error:
        j.fail("channel", f"the runner wrote a malformed message: {res.wire_error}", "runtime_error")
    err = res.first("error")
    if res.timed_out:
        j.fail("runtime", "the candidate ran past the time limit and its process tree was killed", "timeout")
    elif err is not None:
        j.fail("runtime", f"the candidate raised: {err[0].message}", "runtime_error")
    elif res.memory_exceeded:
        j.fail("runtime", "the parent stopped the run: it went past its memory budget", "rejected")
    elif res.exit_code != 0:
        how = f"signal {res.exit_code - 128}" if res.exit_code > 128 else f"exit code {res.exit_code}"
        j.fail("runtime", f"the runner process died ({how}); last output: {res.log_tail[-800:]}", "runtime_error")
    elif res.first("done") is None:
        j.fail("runtime", "the runner process ended before finishing (exit() called from the candidate?)",
               "runtime_error")
    hello = res.first("hello")
    if hello is not None and hello[0].weights_sha != ref.weights_sha:
        j.fail("weights", "the model's weights in the candidate's process differ from the reference's")
    got = {m.id: (m, t) for m, t in res.all("case")}
    worst_abs, worst_rel = 0.0, 0.0
    for cid, rc in ref.cases.items():
        if cid not in got:
            if j.status == "verified":
                j.fail(f"case:{cid}", "no output came back for this input")
            continue
        meta, tensors = got[cid]
        out = [tensors[f"out{i}"] for i in range(len(tensors)) if f"out{i}" in tensors]
        c = cmp.compare(out, rc.out, rc.ref, device=dev)
        worst_abs, worst_rel = max(worst_abs, c.max_abs_diff), max(worst_rel, c.rel_error)
        if c.ok:
            j.ok(f"case:{cid}", f"rel error {c.rel_error:.2e} (eager {c.eager_rel_error:.2e}), "
                               f"max abs diff {c.max_abs_diff:.2e}")
        else:
            j.fail(f"case:{cid}", c.reason)
        if meta.input_sha_after != rc.input_sha:
            j.fail(f"inputs:{cid}", "the candidate changed its inputs (they differ from the reference's after the call)")
        if meta.weights_sha_after != ref.weights_sha:
            j.fail(f"weights:{cid}", "the candidate changed the model's parameters")
        if meta.alias:
            j.flag(f"alias:{cid}", "output_aliases_input", "an output shares memory with an input")
            if not rc.identity:
                j.fail(f"alias:{cid}", "an output aliases an input, and this task's output is not an input")
    rep = res.first("repeat")
    first = next(iter(ref.cases))
    if rep is not None and first in got:
        a = [got[first][1][f"out{i}"] for i in range(len(got[first][1]))]
        b = [rep[1][f"out{i}"] for i in range(len(rep[1]))]
        same, why = cmp.same_result(a, b, cmp.tolerance(ref.cases[first].out[0].dtype), device=dev)
        (j.ok if same else j.fail)("determinism", why or "identical result on a repeated call")
    elif j.status == "verified":
        j.fail("determinism", "the repeated call did not come back")
    return (worst_abs if got else None), (worst_rel if got else None)


def _judge_timing(j: _Judge, res: RunResult, ref: Reference, warmup_n: int, dev: str | None = None) -> Timing | None:
    msg = res.first("timing")
    if msg is None:
        j.fail("timing", "no timing came back", "runtime_error")
        return None
    meta, tensors = msg
    for k, cid in enumerate(meta.snapshot_cases):
        rc = ref.cases.get(cid)
        outs = [tensors[f"snap{k}_{i}"] for i in range(len(rc.out))] if rc else []
        if rc is None or len(outs) != len(rc.out):
            j.fail("timed_outputs", "a timed call's output did not come back")
            break
        c = cmp.compare(outs, rc.out, rc.ref, device=dev)
        if not c.ok:
            j.fail("timed_outputs", f"an output of a timed call is wrong ({c.reason}): work escaped the timed "
                                   "region or results were cached")
            break
    else:
        if meta.snapshot_cases:
            j.ok("timed_outputs", f"{len(meta.snapshot_cases)} timed outputs checked")
        else:
            j.fail("timed_outputs", "no output of a timed call came back to be checked")
    kernel = stats(meta.samples)
    wall = idle = None
    # the idle loop starts when the timing slot was granted: "ready" is read (on_header) only after that
    start = res.read_time("ready") or res.read_time("repeat")
    mid, end = res.header_time("idle"), res.header_time("timing")
    idle_msg = res.first("idle")
    n_idle = idle_msg[0].n if idle_msg else None
    if None not in (start, mid, end) and isinstance(n_idle, int) and n_idle > 0:
        idle = (mid - start) * 1000 / n_idle   # the empty loop, as this process saw it
        wall = (end - mid) * 1000              # warm-up and timed calls, as this process saw them
    max_speedup = float(ref.max_speedup or DEFAULT_MAX_SPEEDUP)
    p = plausibility(kernel, eager=ref.eager, sol_ms=ref.sol_ms, bytes_moved=ref.bytes_moved, loop_wall_ms=wall,
                     idle_ms_per_call=idle, warmup=warmup_n, max_speedup=max_speedup)
    for f, why in zip(p.flags, p.reasons):
        j.flag("plausibility", f, why)
        j.fail("plausibility", why, "rejected")
    if not p.flags:
        j.ok("plausibility", f"floor {ref.sol_ms:.3g} ms" if ref.sol_ms else "no floor")
    if ref.compile_error:  # no torch.compile figure: say why, so a missing baseline is never silent
        j.checks.append(Check("compile_baseline", "skip", f"torch.compile of the task failed: {ref.compile_error[:600]}"))
    prof = res.first("profile")
    frac = prof[0].custom_kernel_fraction if prof else None
    se = ref.eager.median_ms / kernel.median_ms if ref.eager and kernel.median_ms > 0 else None
    sc = ref.compiled.median_ms / kernel.median_ms if ref.compiled and kernel.median_ms > 0 else None
    return Timing(kernel=kernel, eager=ref.eager, compiled=ref.compiled, speedup_eager=se, speedup_compile=sc,
                  method=ref.timing_method, sol_ms=ref.sol_ms, wall_ms=wall,
                  custom_kernel_fraction=float(frac) if isinstance(frac, (int, float)) else None,
                  **roofline(bytes_moved=ref.bytes_moved, flops=ref.flops, peak_gbps=ref.peak_gbps,
                             peak_gflops=ref.peak_gflops, kernel_ms=kernel.median_ms,
                             eager_ms=ref.eager.median_ms if ref.eager else None))


def _judge_profile(j: _Judge, res: RunResult, backend: str) -> None:
    prof = res.first("profile")
    if prof is None:
        return
    ops = [o for o in prof[0].aten_ops if isinstance(o, str) and o not in ALLOWED_ATEN]
    if ops:
        j.flag("library_calls_runtime", "library_call", "ATen compute ops ran inside the candidate: " + ", ".join(ops[:8]))
    frac = prof[0].custom_kernel_fraction
    if backend == "cuda" and isinstance(frac, (int, float)):
        if frac <= 0.0:
            j.fail("custom_kernel", "no device time was spent in the candidate's own __global__ kernels", "rejected")
        elif frac < 0.5:
            j.flag("custom_kernel", "library_call", f"only {frac:.0%} of device time is in the candidate's own kernels")


def check_functional(task, functional_source: str, *, backend: str = DEFAULT.backend, seeds: int = DEFAULT.seeds,
                     size: str = "auto", timeout_s: float = 300.0) -> Verdict:
    """Does a functional form (a whole task file with module_fn) equal the original module with the same weights?"""
    from harness.judge.functional import check_functional as _check
    backend = resolve_backend(backend)
    return _check(task, functional_source, backend=backend, seeds=seeds, size=resolve_size(size, backend),
                  timeout_s=timeout_s)


__all__ = ["verify", "check_functional"]
