"""A candidate's extra correctness calls: inputs at reused addresses with new values, and race repeats.

Run inside the sandboxed worker (`harness.worker.main.role_candidate`) after the `repeat` call, so the
candidate cannot tell them from any other call. Nothing here judges: the outputs go to the parent
(`harness.judge.hardening`), which compares every one with its case's reference.

- `reuse_calls`: the values of each later seed case copied into the very buffers the first case's call
  got, and called again. A result cached by the input's address (or shape) gives the first case's answer.
- `race_calls`: for each thread count of the job's `ProbeSpec` (the candidate's OpenMP runtime and torch's
  both told), repeated calls back to back on one buffer whose values alternate between the seeds, so a
  lost update in a racy reduction has many chances to show and no address can stand in for the values.
"""
from __future__ import annotations

import ctypes
import os
import time
from typing import Callable, Iterator

import torch

from harness.worker import protocol as P

Call = Callable[[list], list]


def ptrs(args: list) -> list[int]:
    return [x.data_ptr() for x in args if isinstance(x, torch.Tensor)]


def new_addresses(args: list, earlier: list) -> bool:
    """Does every tensor of `args` sit at an address none of `earlier`'s tensors has?"""
    return not set(ptrs(args)) & set(ptrs(earlier))


def fits(dst: list, src: list) -> bool:
    """Can `src`'s values go into `dst`'s buffers as they are (same tensors' shapes, dtypes, devices, numbers)?"""
    if len(dst) != len(src):
        return False
    for d, s in zip(dst, src):
        if isinstance(d, torch.Tensor) != isinstance(s, torch.Tensor):
            return False
        if isinstance(d, torch.Tensor) and (d.shape != s.shape or d.dtype != s.dtype or d.device != s.device):
            return False
        if not isinstance(d, torch.Tensor) and not (d is s or (isinstance(d, (bool, int, float, str, type(None)))
                                                              and type(d) is type(s) and d == s)):
            return False
    return True


def place(dst: list, src: list) -> list:
    """`src`'s values in `dst`'s buffers where they fit (the arguments are then `dst`), else in fresh clones (a
    task whose seeds differ in shape)."""
    if not fits(dst, src):
        return [x.clone() if isinstance(x, torch.Tensor) else x for x in src]
    for d, s in zip(dst, src):
        if isinstance(d, torch.Tensor):
            d.copy_(s)
    return dst


def reuse_calls(call: Call, first_args: list, values: list[tuple[str, list]],
                prepare: Callable[[str], None]) -> Iterator[tuple[str, list, bool, list]]:
    """For each (case id, inputs): those values into `first_args` and a call on them; yields (case id, outputs,
    whether the candidate got exactly `first_args`' addresses, the inputs after the call)."""
    before = ptrs(first_args)
    for cid, inputs in values:
        args = place(first_args, inputs)
        prepare(cid)
        out = call(args)
        yield cid, out, ptrs(args) == before, args


# ---------------------------------------------------------------- thread counts


def openmp_runtimes() -> list[ctypes.CDLL]:
    """Every OpenMP runtime loaded in this process (torch's libgomp, a candidate's own libgomp/libomp/libiomp)."""
    seen, libs = set(), []
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "omp" in line and "/" in line}
    except OSError:
        return []
    for p in sorted(paths):
        name = p.rsplit("/", 1)[-1]
        if p in seen or not any(k in name for k in ("libgomp", "libomp", "libiomp")):
            continue
        seen.add(p)
        try:
            lib = ctypes.CDLL(p)
            lib.omp_set_num_threads  # noqa: B018 - present, or AttributeError
            libs.append(lib)
        except (OSError, AttributeError):
            continue
    return libs


def set_threads(n: int) -> None:
    """`n` threads for torch and for every loaded OpenMP runtime's next parallel region on this thread."""
    torch.set_num_threads(n)
    for lib in openmp_runtimes():
        lib.omp_set_num_threads(ctypes.c_int(n))


class ThreadCounts:
    """Restores torch's and the OpenMP runtimes' thread counts on exit (the profile and timed loop are unchanged)."""

    def __enter__(self) -> "ThreadCounts":
        self.torch_n = torch.get_num_threads()
        self.omp = []
        for lib in openmp_runtimes():
            try:
                self.omp.append((lib, int(lib.omp_get_max_threads())))
            except AttributeError:
                continue
        return self

    def __exit__(self, *exc) -> None:
        torch.set_num_threads(self.torch_n)
        for lib, n in self.omp:
            lib.omp_set_num_threads(ctypes.c_int(n))


# ---------------------------------------------------------------- race repeats


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def out_bytes(out: list) -> int:
    return sum(o.numel() * o.element_size() for o in out)


def race_calls(call: Call, buffer: list, seeds: list[tuple[str, list]], spec: P.ProbeSpec, device: str,
               prepare: Callable[[str], None], sync: Callable[[str], None]) \
        -> Iterator[tuple[int, list[str], dict[str, torch.Tensor], float, int]]:
    """For each thread count of `spec`: (threads, case id per call, the outputs stacked per case, seconds,
    calls that ran with the team together), as `P.ProbeSpec` says.

    Call k puts seed (k + 1) mod n's values into `buffer` (which holds the first seed's values when this
    starts). A count of 1 stops at the minimum (a race needs two threads). Outputs of the u-th distinct case
    come back as s{u}_{i}: [calls, *shape]."""
    share = spec.max_bytes // max(1, len(spec.threads))
    fastest = float("inf")  # over every count so far: the one-thread calls (first in a CPU plan) never wait
    cores = cpu_count()     # more threads than cores are never all together: those counts stop at `budget_s`
    with ThreadCounts():
        for t in spec.threads:
            if t > 0 and device == "cpu":
                set_threads(t)
            ids: list[str] = []
            outs: dict[str, list[list[torch.Tensor]]] = {}
            shipped, k, together, together_s = 0, 0, 0, 0.0
            durations: list[float] = []
            t0 = time.monotonic()
            while k < spec.repeats:
                cid, values = seeds[(k + 1) % len(seeds)]
                if k >= 1 and shipped + shipped // k > share:
                    break
                spent = time.monotonic() - t0
                enough = together >= spec.together or (spec.together_s > 0 and together_s >= spec.together_s)
                if k >= spec.min_repeats and (t == 1 or spent > max(spec.max_s, spec.budget_s) or
                                              (spent > spec.budget_s and (enough or t > cores))):
                    break
                args = place(buffer, values)
                prepare(cid)
                c0 = time.perf_counter()
                out = call(args)
                sync(device)
                took = time.perf_counter() - c0
                durations.append(took)
                if took < fastest:  # a new fastest call: count again which of this count's were within twice it
                    fastest = took
                    together = sum(d <= 2 * fastest for d in durations)
                    together_s = sum(d for d in durations if d <= 2 * fastest)
                elif took <= 2 * fastest:
                    together, together_s = together + 1, together_s + took
                out = [o.detach().clone() for o in out]
                shipped += out_bytes(out)
                ids.append(cid)
                outs.setdefault(cid, []).append(out)
                k += 1
            order = list(dict.fromkeys(ids))
            stacked = {f"s{u}_{i}": torch.stack([o[i] for o in outs[cid]])
                       for u, cid in enumerate(order) for i in range(len(outs[cid][0]))}
            yield t, ids, stacked, time.monotonic() - t0, together
