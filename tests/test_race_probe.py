"""Reused input addresses with new values, and race repeats under several thread counts (issue 18).

The worker's side (`harness.worker.probes`) with stand-in kernels, the protocol's new messages, the
parent's judging (`harness.judge.hardening`) on fabricated results, and one honest kernel end to end.
The racy and address-keyed corpus candidates run in tests/adversarial; `scripts/race_repeat.py` runs
the racy one 50 times.
"""
from __future__ import annotations

import pytest
import torch

from harness.judge import compare as cmp
from harness.judge import hardening as H
from harness.judge.reference import RefCase, Reference
from harness.sandbox.process import RunResult
from harness.worker import probes
from harness.worker import protocol as P


# ---------------------------------------------------------------- protocol


def test_the_candidates_order_has_reuse_and_race_after_the_repeat():
    kinds = P.expected_kinds("candidate", n_cases=3, timed=True, n_reuse=1, n_race=4)
    assert kinds == ["hello", "case", "case", "case", "repeat", "reuse", "race", "race", "race", "race", "profile",
                     "ready", "idle", "timing", "done"]
    assert P.expected_kinds("candidate", n_cases=1, timed=False) == ["hello", "case", "repeat", "profile", "done"]
    assert P.reuse_ids(["seed5", "seed9", "seed12", "variant0"]) == ["seed9", "seed12"]
    assert P.reuse_ids(["seed5", "variant0"]) == []


def test_the_probe_spec_travels_in_the_job_and_the_new_messages_are_typed():
    spec = P.ProbeSpec(threads=(1, 2, 4), repeats=8, min_repeats=2, budget_s=3.0, max_bytes=1 << 20)
    job = P.Job(role="candidate", task_path="task.py", seeds=(1, 2), init_seed=3, size="small", device="cpu",
                probe=spec)
    back = P.Job.from_json(job.to_json())
    assert back == job and back.probe.threads == (1, 2, 4)
    assert P.decode("candidate", "race", {"threads": 2, "cases": ["seed1"], "seconds": 0.5}) == \
        P.Race(threads=2, cases=["seed1"], seconds=0.5)
    assert P.decode("candidate", "reuse", {"id": "seed2", "into": "seed1", "same_address": True,
                                           "input_sha_after": "ab"}).into == "seed1"
    with pytest.raises(P.ProtocolError):
        P.decode("candidate", "race", {"threads": "2", "cases": [], "seconds": 0.5})
    with pytest.raises(P.ProtocolError):
        P.decode("reference", "reuse", {"id": "x", "into": "y", "same_address": True, "input_sha_after": ""})
    assert P.decode("candidate", "repeat", {"id": "seed1", "new_address": True}).new_address is True


# ---------------------------------------------------------------- the worker's calls


def test_thread_counts_reach_torch_and_every_loaded_openmp_runtime_and_are_restored():
    libs = probes.openmp_runtimes()
    if not libs:
        pytest.skip("this torch build loads no OpenMP runtime")
    before = torch.get_num_threads(), [int(lib.omp_get_max_threads()) for lib in libs]
    with probes.ThreadCounts():
        probes.set_threads(3)
        assert torch.get_num_threads() == 3
        assert all(int(lib.omp_get_max_threads()) == 3 for lib in libs)
    assert (torch.get_num_threads(), [int(lib.omp_get_max_threads()) for lib in libs]) == before


class AddressCache:
    """A stand-in kernel that keys its answer on the input's address: right only for new addresses."""

    def __init__(self):
        self.seen: dict[int, torch.Tensor] = {}

    def __call__(self, args: list) -> list:
        x = args[0]
        if x.data_ptr() not in self.seen:
            self.seen[x.data_ptr()] = x.sum(1)
        return [self.seen[x.data_ptr()].clone()]


def _seeds(n: int, shape=(3, 5, 4)) -> list[tuple[str, list]]:
    out = []
    for i in range(n):
        torch.manual_seed(100 + i)
        out.append((f"seed{i}", [torch.randn(*shape), 1]))
    return out


def test_reuse_calls_put_new_values_at_the_first_calls_addresses():
    seeds = _seeds(3)
    first = [seeds[0][1][0].clone(), 1]
    kernel = AddressCache()
    kernel(first)  # the first case's call
    prepared = []
    got = list(probes.reuse_calls(kernel, first, seeds[1:], prepared.append))
    assert [g[0] for g in got] == ["seed1", "seed2"] and prepared == ["seed1", "seed2"]
    for (cid, out, same, after), (_, values) in zip(got, seeds[1:]):
        assert same and after[0].data_ptr() == first[0].data_ptr()
        assert not torch.allclose(out[0], values[0].sum(1))  # the cache answered for the old values
    honest = list(probes.reuse_calls(lambda a: [a[0].sum(1)], first, seeds[1:], lambda c: None))
    assert all(torch.allclose(out[0], v[0].sum(1)) for (_, out, _, _), (_, v) in zip(honest, seeds[1:]))


def test_values_that_do_not_fit_the_buffers_go_to_fresh_ones():
    buf = [torch.zeros(3, 5, 4), 1]
    assert probes.place(buf, [torch.ones(3, 5, 4), 1]) is buf and bool((buf[0] == 1).all())
    other = probes.place(buf, [torch.ones(2, 5, 4), 1])
    assert other is not buf and other[0].shape == (2, 5, 4)
    assert probes.place(buf, [torch.ones(3, 5, 4, dtype=torch.float64), 1]) is not buf
    assert probes.place(buf, [torch.ones(3, 5, 4), 2]) is not buf


def _unstack(ids: list[str], stacked: dict) -> list[tuple[str, torch.Tensor]]:
    """(case, output 0) per call, in call order, from a race message's stacked tensors."""
    order = list(dict.fromkeys(ids))
    seen: dict[str, int] = {}
    out = []
    for cid in ids:
        k = seen.get(cid, 0)
        seen[cid] = k + 1
        out.append((cid, stacked[f"s{order.index(cid)}_0"][k]))
    return out


def test_race_calls_alternate_values_in_one_buffer_under_each_thread_count():
    seeds = _seeds(2)
    buf = [seeds[0][1][0].clone(), 1]
    seen_threads, ptrs = [], set()

    def call(args):
        seen_threads.append(torch.get_num_threads())
        ptrs.add(args[0].data_ptr())
        return [args[0].sum(1)]

    spec = P.ProbeSpec(threads=(1, 2), repeats=5, min_repeats=3, budget_s=60.0, max_bytes=1 << 20)
    before = torch.get_num_threads()
    runs = list(probes.race_calls(call, buf, seeds, spec, "cpu", lambda c: None, lambda d: None))
    assert [r[0] for r in runs] == [1, 2] and torch.get_num_threads() == before
    # one thread: the minimum (a race needs two); two: up to `repeats` while the budget lasts
    assert seen_threads == [1] * 3 + [2] * 5 and ptrs == {buf[0].data_ptr()}
    assert runs[0][1] == ["seed1", "seed0", "seed1"] and runs[1][1] == ["seed1", "seed0", "seed1", "seed0", "seed1"]
    for _, ids, stacked, secs, together in runs:
        assert set(stacked) == {"s0_0", "s1_0"} and stacked["s0_0"].shape == (ids.count("seed1"), 3, 4) and secs >= 0
        assert 1 <= together <= len(ids)
        for cid, out in _unstack(ids, stacked):
            assert torch.allclose(out, dict(seeds)[cid][0].sum(1))
    # past the time budget only the minimum runs; past the byte budget the calls that fit (at least one)
    (_, ids, _, _, _), = probes.race_calls(call, buf, seeds, P.ProbeSpec(threads=(2,), repeats=50, min_repeats=3,
                                                                      budget_s=0.0, max_bytes=1 << 20),
                                        "cpu", lambda c: None, lambda d: None)
    assert len(ids) == 3
    per_call = 3 * 4 * 4
    for max_bytes, calls in ((1, 1), (2 * per_call, 2)):
        (_, ids, _, _, _), = probes.race_calls(call, buf, seeds, P.ProbeSpec(threads=(2,), repeats=50, min_repeats=10,
                                                                          budget_s=60.0, max_bytes=max_bytes),
                                            "cpu", lambda c: None, lambda d: None)
        assert len(ids) == calls


def test_race_calls_go_on_until_enough_calls_ran_with_their_threads_together():
    """A busy machine: most two-thread calls wait for a core (slow); only a fast one had its team together. The
    one-thread calls, first, never wait: they set the pace."""
    import time as _time

    seeds = _seeds(2)
    buf = [seeds[0][1][0].clone(), 1]
    n = [0]

    def call(args):  # 2 ms of work; a two-thread call that waits for a core takes 20 ms more
        if torch.get_num_threads() == 2:
            n[0] += 1
            if n[0] % 4:
                _time.sleep(0.02)
        _time.sleep(0.002)
        return [args[0].sum(1)]

    spec = P.ProbeSpec(threads=(1, 2), repeats=1000, min_repeats=2, budget_s=0.0, max_bytes=1 << 20, together=3,
                       max_s=30.0)
    one, two = probes.race_calls(call, buf, seeds, spec, "cpu", lambda c: None, lambda d: None)
    assert len(one[1]) == 2 and one[4] >= 1
    # every fourth call is fast: 12 calls to see 3 of them (a few more where a loaded machine slows one)
    assert two[4] >= 3 and 12 <= len(two[1]) <= 24
    n[0] = 0
    # slow calls: enough seconds of calls together end it (here 3 x 2 ms) ...
    n[0] = 0
    timed = P.ProbeSpec(threads=(1, 2), repeats=1000, min_repeats=2, budget_s=0.0, max_bytes=1 << 20,
                        together=10 ** 6, together_s=0.005, max_s=30.0)
    _, (_, ids, _, _, together) = probes.race_calls(call, buf, seeds, timed, "cpu", lambda c: None, lambda d: None)
    assert together >= 3 and 12 <= len(ids) <= 24
    # ... and never past max_s
    capped = P.ProbeSpec(threads=(1, 2), repeats=1000, min_repeats=2, budget_s=0.0, max_bytes=1 << 20,
                         together=10 ** 6, max_s=0.3)
    t0 = _time.monotonic()
    _, (_, ids, _, secs, _) = probes.race_calls(call, buf, seeds, capped, "cpu", lambda c: None, lambda d: None)
    assert 0.3 <= secs < 2.0 and _time.monotonic() - t0 < 3.0 and len(ids) >= 2


def test_an_address_keyed_cache_fails_the_race_repeats():
    seeds = _seeds(2)
    buf = [seeds[0][1][0].clone(), 1]
    kernel = AddressCache()
    kernel(buf)  # the repeat call on this buffer
    spec = P.ProbeSpec(threads=(0,), repeats=4, min_repeats=4, budget_s=0.0, max_bytes=1 << 20)
    (_, ids, stacked, _, _), = probes.race_calls(kernel, buf, seeds, spec, "cpu", lambda c: None, lambda d: None)
    wrong = [cid for cid, out in _unstack(ids, stacked) if not torch.allclose(out, dict(seeds)[cid][0].sum(1))]
    assert "seed1" in wrong


def test_race_plan_covers_one_two_every_core_and_oversubscribed():
    cpu = H.race_plan("cpu", "small", cores=8)
    assert cpu.threads == (1, 2, 8, 16) and cpu.repeats >= 1000 and cpu.min_repeats >= 4 and cpu.budget_s >= 1.0
    assert cpu.together >= 100 and cpu.max_s > cpu.budget_s
    assert H.race_plan("cpu", "default", cores=8).repeats < cpu.repeats
    assert H.race_plan("cuda", "small").threads == (0, 0)


# ---------------------------------------------------------------- the parent's judging


class J:
    def __init__(self):
        self.flags, self.checks, self.status = [], [], "verified"

    def ok(self, name, reason=""):
        self.checks.append((name, "pass", reason))

    def skip(self, name, reason):
        self.checks.append((name, "skip", reason))

    def fail(self, name, reason, status="incorrect"):
        self.checks.append((name, "fail", reason))
        self.status = status if self.status == "verified" else self.status


def _reference(seeds, eager_error: float = 0.0) -> Reference:
    """Each seed's reference; `eager_error`: how far (relative) the task's own eager output is from float64."""
    cases = {cid: RefCase(out=[(v[0].double().sum(1) * (1 + eager_error)).float()], ref=[v[0].double().sum(1)],
                          input_sha=f"sha-{cid}", bytes=0, identity=False) for cid, v in seeds}
    return Reference(seeds=[0, 1], init_seed=0, cases=cases)


def _race_msg(threads, ids, outs):
    """A race message as the worker stacks it: outputs of the u-th distinct case as s{u}_{i}."""
    order = list(dict.fromkeys(ids))
    tensors = {f"s{u}_{i}": torch.stack([o[i] for c, o in zip(ids, outs) if c == cid])
               for u, cid in enumerate(order) for i in range(len(outs[0]))}
    return P.Race(threads=threads, cases=list(ids), seconds=0.01), tensors


def _result(*msgs, done=True) -> RunResult:
    return RunResult(exit_code=0, timed_out=False, messages=list(msgs) + ([(P.Done(), {})] if done else []),
                     log_tail="", wall_s=1.0)


def test_judge_race_counts_repeats_per_thread_count():
    seeds = _seeds(2)
    ref = _reference(seeds)
    spec = P.ProbeSpec(threads=(1, 2), repeats=4, min_repeats=2, budget_s=1.0, max_bytes=1 << 20)
    good = {cid: [v[0].sum(1)] for cid, v in seeds}
    ids = ["seed1", "seed0", "seed1"]
    j = J()
    H.judge_race(j, _result(_race_msg(1, ids, [good[c] for c in ids]), _race_msg(2, ids, [good[c] for c in ids])),
                 ref, spec)
    assert j.status == "verified" and j.checks[-1][1] == "pass"
    assert "6 repeats" in j.checks[-1][2] and "3 with 1 thread(s)" in j.checks[-1][2] and "3 with 2" in j.checks[-1][2]
    assert "4 distinct result(s)" in j.checks[-1][2]  # seed0 and seed1, under each count


def test_judge_race_refuses_a_wrong_repeat_a_moving_result_and_a_short_report():
    seeds = _seeds(2)
    ref = _reference(seeds)
    spec = P.ProbeSpec(threads=(2,), repeats=4, min_repeats=2, budget_s=1.0, max_bytes=1 << 20)
    good = {cid: [v[0].sum(1)] for cid, v in seeds}
    lost = [good["seed1"][0].clone()]
    lost[0][0, 0] += 1.0  # one lost update
    j = J()
    H.judge_race(j, _result(_race_msg(2, ["seed1", "seed1"], [good["seed1"], lost])), ref, spec)
    assert j.status == "incorrect" and "repeat 2 of 2 with 2 thread(s) on seed1 is wrong" in j.checks[-1][2]
    # within the reference's tolerance (where eager itself is 1e-5 off), not within rounding of the other repeat
    loose = _reference(seeds, eager_error=1e-5)
    nudged = [good["seed1"][0] * (1 + 5e-5)]
    assert all(cmp.compare(o, loose.cases["seed1"].out, loose.cases["seed1"].ref).ok for o in (good["seed1"], nudged))
    j = J()
    H.judge_race(j, _result(_race_msg(2, ["seed1", "seed1"], [good["seed1"], nudged])), loose, spec)
    assert j.status == "incorrect" and "disagree" in j.checks[-1][2]
    j = J()
    H.judge_race(j, _result(_race_msg(2, ["seed1"], [good["seed1"]])), ref, spec)
    assert j.status == "runtime_error" and "only 1 repeat" in j.checks[-1][2]
    j = J()
    H.judge_race(j, _result(_race_msg(3, ["seed1", "seed0"], [good["seed1"], good["seed0"]])), ref, spec)
    assert j.status == "runtime_error" and "3 threads where 2 were asked for" in j.checks[-1][2]
    j = J()
    H.judge_race(j, _result(), ref, spec)
    assert j.status == "runtime_error" and "0 of 1 runs" in j.checks[-1][2]
    meta, tensors = _race_msg(2, ["seed1", "seed1"], [good["seed1"], good["seed1"]])
    j = J()
    H.judge_race(j, _result((meta, {"s0_0": tensors["s0_0"][:1]})), ref, spec)  # one call's output is missing
    assert j.status == "runtime_error" and "did not come back as asked" in j.checks[-1][2]
    j = J()
    H.judge_race(j, _result(done=False), ref, spec)  # the run died first: the runtime check says so
    assert j.status == "verified" and j.checks[-1][1] == "skip"


def test_large_outputs_need_only_the_repeats_their_byte_share_holds():
    ref = _reference(_seeds(2))  # 3 x 4 float32 outputs: 48 bytes a call
    spec = P.ProbeSpec(threads=(1, 2), repeats=100, min_repeats=16, budget_s=1.0, max_bytes=2 * 48 * 5)
    assert H.required_repeats(spec, ref) == 5
    assert H.required_repeats(P.ProbeSpec(threads=(1, 2), repeats=100, min_repeats=16, budget_s=1.0, max_bytes=1),
                              ref) == 1
    assert H.required_repeats(P.ProbeSpec(threads=(1,), repeats=100, min_repeats=16, budget_s=1.0,
                                          max_bytes=1 << 20), ref) == 16


def test_judge_reuse_refuses_the_old_values_answer():
    seeds = _seeds(3)
    ref = _reference(seeds)
    right = (P.Reuse(id="seed1", into="seed0", same_address=True, input_sha_after="sha-seed1"),
             {"out0": seeds[1][1][0].sum(1)})
    j = J()
    H.judge_reuse(j, _result(right, (P.Reuse(id="seed2", into="seed0", same_address=True,
                                             input_sha_after="sha-seed2"), {"out0": seeds[2][1][0].sum(1)})), ref)
    assert j.status == "verified" and j.checks[-1][1] == "pass" and "2 call(s)" in j.checks[-1][2]
    stale = (P.Reuse(id="seed2", into="seed0", same_address=True, input_sha_after="sha-seed2"),
             {"out0": seeds[0][1][0].sum(1)})
    j = J()
    H.judge_reuse(j, _result(right, stale), ref)
    assert j.status == "incorrect" and j.checks[-1][0] == "reuse:seed2" and "keyed on the input's address" in \
        j.checks[-1][2]
    mutated = (P.Reuse(id="seed1", into="seed0", same_address=True, input_sha_after="other"),
               {"out0": seeds[1][1][0].sum(1)})
    j = J()
    H.judge_reuse(j, _result(mutated), ref)
    assert ("reuse_inputs:seed1", "fail") in [(c[0], c[1]) for c in j.checks]
    j = J()
    H.judge_reuse(j, _result(right), ref)
    assert j.status == "runtime_error" and "1 of 2" in j.checks[-1][2]
    one_seed = _reference(seeds[:1])
    j = J()
    H.judge_reuse(j, _result(), one_seed)
    assert j.checks[-1][1] == "skip"


# ---------------------------------------------------------------- end to end


HONEST_SUM = r"""
#include "ke_abi.h"
// sum over dim 1: each thread owns whole output elements (no shared accumulation)
extern "C" int ke_launch(const ke_tensor* in, int n_in, ke_tensor* out, int n_out, const double* attrs,
                         int n_attrs, void* workspace, int64_t workspace_bytes, void* stream) {
  if (n_in != 1 || n_out != 1 || n_attrs != 1 || in[0].dtype != KE_F32 || in[0].ndim != 3) return 1;
  const int64_t B = in[0].shape[0], R = in[0].shape[1], C = in[0].shape[2];
  const float* x = (const float*)in[0].data;
  float* y = (float*)out[0].data;
#pragma omp parallel for
  for (int64_t bc = 0; bc < B * C; ++bc) {
    const int64_t b = bc / C, c = bc % C;
    float s = 0.f;
    for (int64_t r = 0; r < R; ++r) s += x[(b * R + r) * C + c];
    y[bc] = s;
  }
  return 0;
}
"""


def test_an_honest_reduction_passes_every_repeat_and_the_verdict_says_how_many():
    from harness.candidate import load_candidate
    from harness.judge.verify import verify
    from harness.task import load_task

    task = load_task("level1/sum_dim")
    v = verify(load_candidate(HONEST_SUM, task, format="K"), backend="cpu", size="small", seeds=3, timing=False,
               compile_baseline=False, timeout_s=60.0, static_checks=False)
    assert v.status == "verified", (v.status, v.error)
    checks = {c.name: c for c in v.checks}
    n = H.cpu_count()
    assert checks["race"].outcome == "pass" and "with 1 thread(s)" in checks["race"].reason
    assert f"with {2 * n} thread(s)" in checks["race"].reason
    assert checks["reuse"].outcome == "pass" and "2 call(s)" in checks["reuse"].reason
    assert "the same addresses" in checks["reuse"].reason
