"""Judging the hardening checks of a candidate's run: its memory, inputs at reused addresses, race repeats.

Called by `harness.judge.verify` in the trusted parent. The memory figures are the parent's own
(`harness.sandbox.memory`); the reuse and race outputs are raw tensors from the untrusted worker
(`harness.worker.probes`), each compared here with its case's float64 reference, and the race repeats of
one case under one thread count with each other.
"""
from __future__ import annotations

from collections import Counter
from typing import Protocol

import torch

from harness.judge import compare as cmp
from harness.judge.reference import Reference
from harness.sandbox.memory import MemoryBudget, candidate_budget, gib
from harness.sandbox.process import RunResult
from harness.worker import protocol as P
from harness.worker.probes import cpu_count

RACE_BYTES = 64 << 20   # outputs the race repeats may ship in all
RACE_SECONDS = 1.0      # per CPU thread count of 2 or more, at the small size (calls take microseconds) ...
RACE_TOGETHER = 500     # ... and on until this many calls ran with their threads together (a lost update
RACE_TOGETHER_S = 0.25  # needs that; a busy machine allows it only now and then), or such calls took this
RACE_MAX_SECONDS = 4.0  # long in all (slow kernels), for at most this long


class Judge(Protocol):
    """The verdict being built (`harness.judge.verify`'s accumulator)."""

    flags: list[str]

    def ok(self, name: str, reason: str = "") -> None: ...
    def skip(self, name: str, reason: str) -> None: ...
    def fail(self, name: str, reason: str, status: str = "incorrect") -> None: ...


# ---------------------------------------------------------------- plans


def budget_for(ref: Reference, device: str = "") -> MemoryBudget:
    """A candidate's memory budget from its task's reference run."""
    return candidate_budget(ref.host_peak, ref.device_peak, device)


def race_plan(backend: str, size: str, cores: int | None = None) -> P.ProbeSpec:
    """How the race repeats run. CPU: 1 thread, 2, every core and twice that (oversubscribed), each its own
    run of back-to-back repeats; CUDA: two runs as launched. At the small size each CPU count of two threads
    or more keeps calling for `RACE_SECONDS` and on until `RACE_TOGETHER` calls ran with their threads
    together (or `RACE_TOGETHER_S` of such calls; at most `RACE_MAX_SECONDS`; at least 4 calls); at the
    default size a few."""
    n = cores or cpu_count()
    threads = (1, 2, n, 2 * n) if backend == "cpu" else (0, 0)
    if size == "small":
        # CUDA: a race among thousands of GPU threads shows on almost every call; a short run each
        if backend == "cpu":
            return P.ProbeSpec(threads=threads, repeats=20000, min_repeats=4, budget_s=RACE_SECONDS,
                               max_bytes=RACE_BYTES, together=RACE_TOGETHER, together_s=RACE_TOGETHER_S,
                               max_s=RACE_MAX_SECONDS)
        return P.ProbeSpec(threads=threads, repeats=64, min_repeats=16, budget_s=0.5, max_bytes=RACE_BYTES)
    return P.ProbeSpec(threads=threads, repeats=200, min_repeats=2, budget_s=2.0, max_bytes=RACE_BYTES)


# ---------------------------------------------------------------- memory


def judge_memory(j: Judge, res: RunResult) -> None:
    """Past its budget the parent stopped the run: rejected, flag `memory`, with the numbers."""
    m = res.memory
    if m is None:
        j.skip("memory", "no memory budget was applied to this run")
        return
    if m.exceeded:
        if "memory" not in j.flags:
            j.flags.append("memory")
        j.fail("memory", f"stopped by the parent: {m.exceeded}", "rejected")
        return
    dev = ""
    if m.device_peak is not None or m.budget.device_bytes is not None:
        dev = f"; device peak {gib(m.device_peak)} of {gib(m.budget.device_bytes)} ({m.device_method})"
    elif m.budget.device:  # a CUDA run whose device memory nobody could measure: say so
        dev = f"; device memory {m.device_method}"
    j.ok("memory", f"host peak {gib(m.host_peak)} of a {gib(m.budget.host_bytes)} budget{dev} "
                   f"({m.budget.basis}; {m.polls} polls)")


# ---------------------------------------------------------------- reused addresses


def judge_reuse(j: Judge, res: RunResult, ref: Reference, dev: str | None = None) -> None:
    """Later seeds' values in the first call's own buffers must give each seed's own answer."""
    want = P.reuse_ids(list(ref.cases))
    got = res.all("reuse")
    if not want:
        j.skip("reuse", "one seed only: no other values to put in the first call's buffers")
        return
    bad = False
    for meta, tensors in got:
        rc = ref.cases.get(meta.id)
        if rc is None or meta.id not in want:
            j.fail("reuse", f"a reuse result came back for {meta.id!r}, which was not asked for", "runtime_error")
            return
        out = [tensors[f"out{i}"] for i in range(len(tensors)) if f"out{i}" in tensors]
        c = cmp.compare(out, rc.out, rc.ref, device=dev)
        if not c.ok:
            j.fail(f"reuse:{meta.id}", f"{meta.id}'s values in the input buffers of {meta.into}'s call gave a wrong "
                                      f"result ({c.reason}): the result is keyed on the input's address or shape, "
                                      "not its values")
            bad = True
        if meta.input_sha_after != rc.input_sha:
            j.fail(f"reuse_inputs:{meta.id}", "the candidate changed its inputs on a call with reused buffers")
            bad = True
    if len(got) < len(want):
        if bad:
            return
        if res.first("done") is None:  # the run ended early: the runtime check says why
            j.skip("reuse", f"the run ended after {len(got)} of {len(want)} calls with reused input buffers")
        else:
            j.fail("reuse", f"{len(got)} of {len(want)} calls with reused input buffers came back", "runtime_error")
        return
    if not bad:
        same = all(m.same_address for m, _ in got)
        rep = res.first("repeat")
        moved = "; the repeated call's inputs sat at new addresses" if rep is not None and rep[0].new_address else ""
        j.ok("reuse", f"{len(got)} call(s) with other seeds' values in the first call's input buffers "
                      f"({'the same addresses' if same else 'addresses not kept'}) each matched its own reference"
                      + moved)


# ---------------------------------------------------------------- races


def required_repeats(spec: P.ProbeSpec, ref: Reference) -> int:
    """How many race repeats per thread count the worker must send: the minimum, unless the count's share of
    the byte budget holds fewer calls of this task's outputs (never under one)."""
    first = next(iter(ref.cases.values()), None)
    per_call = sum(t.numel() * t.element_size() for t in first.out) if first else 0
    share = spec.max_bytes // max(1, len(spec.threads))
    return max(1, min(spec.min_repeats, share // per_call if per_call else spec.min_repeats))


def distinct_calls(stacks: list[torch.Tensor]) -> list[int]:
    """The first call of every distinct result (bit for bit, all outputs together), in call order: calls with
    the same bits get the same verdict, so each distinct result is judged once."""
    n = stacks[0].shape[0]
    rows = torch.cat([s.detach().contiguous().reshape(n, -1).view(torch.uint8) if s.numel() else
                      torch.zeros(n, 0, dtype=torch.uint8) for s in stacks], dim=1)
    if rows.shape[1] == 0:
        return [0] if n else []
    _, inverse = torch.unique(rows, dim=0, return_inverse=True)
    first: dict[int, int] = {}
    for k, g in enumerate(inverse.tolist()):
        first.setdefault(g, k)
    return sorted(first.values())


def _judge_race_case(j: Judge, label: str, cid: str, stacks: list[torch.Tensor], rc, dev: str | None) -> int:
    """One case's repeats under one thread count, each distinct result against the reference and against the
    first call's; how many distinct results there were (0 once one failed)."""
    n = stacks[0].shape[0]
    first = [s[0] for s in stacks]
    ks = distinct_calls(stacks)
    for k in ks:
        out = [s[k] for s in stacks]
        c = cmp.compare(out, rc.out, rc.ref, device=dev)
        if not c.ok:
            j.fail("race", f"repeat {k + 1} of {n} {label} on {cid} is wrong ({c.reason}): the result depends on "
                           "scheduling (a race) or on earlier calls")
            return 0
        if k:
            same, why = cmp.same_result(first, out, cmp.tolerance(rc.out[0].dtype), device=dev)
            if not same:
                j.fail("race", f"repeats {label} on {cid} disagree: {why}")
                return 0
    return len(ks)


def judge_race(j: Judge, res: RunResult, ref: Reference, spec: P.ProbeSpec | None, dev: str | None = None) -> None:
    """Every race repeat against its case's reference, and the repeats of one case and thread count with
    each other; the check says how many were compared under which thread counts."""
    if spec is None:
        j.skip("race", "no race repeats were asked for")
        return
    msgs = res.all("race")
    need = required_repeats(spec, ref)
    counts: Counter = Counter()
    together: Counter = Counter()
    secs, distinct = 0.0, 0
    for n, (meta, tensors) in enumerate(msgs):
        label = f"with {meta.threads} thread(s)" if meta.threads > 0 else "as launched"
        if n < len(spec.threads) and meta.threads != spec.threads[n]:
            j.fail("race", f"race repeats came back for {meta.threads} threads where {spec.threads[n]} were asked for",
                   "runtime_error")
            return
        if len(meta.cases) < need:
            j.fail("race", f"only {len(meta.cases)} repeat(s) came back {label} (at least {need} asked for)",
                   "runtime_error")
            return
        for u, cid in enumerate(dict.fromkeys(meta.cases)):
            rc = ref.cases.get(cid) if isinstance(cid, str) else None
            calls = meta.cases.count(cid)
            stacks = [tensors.get(f"s{u}_{i}") for i in range(len(rc.out))] if rc is not None else []
            if rc is None or any(s is None or s.dim() < 1 or s.shape[0] != calls or tuple(s.shape[1:]) != tuple(o.shape)
                                 for s, o in zip(stacks, rc.out)):
                j.fail("race", f"the race repeats {label} on {cid!r} did not come back as asked", "runtime_error")
                return
            kinds = _judge_race_case(j, label, cid, stacks, rc, dev)
            if not kinds:
                return
            distinct += kinds
        counts[label] += len(meta.cases)
        together[label] += min(meta.together, len(meta.cases))
        secs += meta.seconds
    if len(msgs) < len(spec.threads):
        if res.first("done") is None:  # the run ended early: the runtime check says why
            j.skip("race", f"the run ended after {len(msgs)} of {len(spec.threads)} runs of race repeats")
        else:
            j.fail("race", f"{len(msgs)} of {len(spec.threads)} runs of race repeats came back", "runtime_error")
        return
    total = sum(counts.values())
    j.ok("race", f"{total} repeats compared with the reference and with each other: "
                 + ", ".join(f"{n} {label} ({together[label]} with the threads together)" if label != "as launched"
                             else f"{n} {label}" for label, n in counts.items())
                 + f"; {distinct} distinct result(s), {secs:.1f} s of calls")
