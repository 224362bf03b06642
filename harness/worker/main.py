"""Code that runs inside a sandboxed runner process: builds inputs, calls models, times, ships raw results.

Started by `harness/sandbox/supervisor.py` as `python worker.py JOB.json`, or pre-started by `harness.sandbox.warm` as
`python worker.py --wait READY_FD DIR`: it imports torch (no CUDA), writes a byte to READY_FD, and reads
its job's path from stdin (relayed by the supervisor); from there it is a cold worker. It has three
roles, each in its own process:
- "reference": the task's eager outputs in its own dtype and in float64,
  input fingerprints, eager and torch.compile timings, the device bandwidth;
- "candidate": the same inputs through the candidate (format A extension or
  format B ModelNew), with poisoned allocator memory, cloned inputs, a repeat
  at new addresses, reused buffers with new values and race repeats
  (`harness.worker.probes`), and the timed loop with output snapshots;
- "functional": the original Model against its functional form.
Nothing here decides a verdict: it only ships raw tensors and numbers to the
parent over the private pipe (`harness.worker.wire`). In the candidate role this
process is untrusted, so the parent treats everything it sends as a claim.
"""
from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
import os
import platform
import random
import sys
import traceback

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import torch  # noqa: E402

from harness.worker import procguard, probes, protocol as P, wire  # noqa: E402
from harness.worker.k_abi import KBinding  # noqa: E402
from harness.worker.measure import (bandwidth_gbps, fill_poison, flat, peak_gflops, profile, sync,  # noqa: E402
                                    task_flops, time_calls)

OUT = None
CUDA_AT_START = None  # was CUDA initialised when the job started? (a pre-started CUDA worker has done it: `prepare`)


ARENA = None  # the parent's sealed shared-memory file for tensor bytes, when it gave one (harness.worker.wire)


def send(msg: P.Message, tensors=None):
    wire.send(OUT, msg.KIND, P.fields_of(msg), tensors, arena=ARENA)


def _idle(n):
    send(P.Idle(n=n))


def wait_for_timing_slot(job: P.Job):
    """Correctness is done: ask the parent for the device's timing slot and block until it grants it."""
    send(P.Ready())  # also ungated (the parent holds the device alone for the whole run): one protocol
    if job.gate_fd is None:
        return
    if os.read(job.gate_fd, 1) != b"g":
        raise RuntimeError("the parent withdrew the timing slot")
    os.close(job.gate_fd)


def load_module(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def apply_size(mod, size):
    if size == "small" and isinstance(getattr(mod, "SMALL", None), dict):
        for k, v in mod.SMALL.items():
            setattr(mod, k, v)


def to_device(xs, device):
    return [x.to(device) if isinstance(x, torch.Tensor) else x for x in xs]


def upcast(xs):
    return [x.double() if isinstance(x, torch.Tensor) and x.is_floating_point() else x for x in xs]


def fingerprint(tensors):
    h = hashlib.sha256()
    for t in tensors:
        if isinstance(t, torch.Tensor):
            c = t.detach().to("cpu").contiguous()
            h.update(f"{tuple(c.shape)}{c.dtype}".encode())
            h.update((c.view(torch.int16) if c.dtype == torch.bfloat16 else c).numpy().tobytes())
        else:
            h.update(repr(t).encode())
    return h.hexdigest()


def cases(mod, job):
    """[(case_id, inputs)] in a fixed order: one per seed, then each declared variant."""
    out = []
    for s in job.seeds:
        torch.manual_seed(s)
        out.append((f"seed{s}", list(mod.get_inputs())))
    if hasattr(mod, "get_input_variants"):
        torch.manual_seed(job.seeds[0] + 7919)
        for i, v in enumerate(mod.get_input_variants()):
            out.append((f"variant{i}", list(v)))
    return out


def build_model(mod, job, device, cls=None):
    torch.manual_seed(job.init_seed)
    model = (cls or mod.Model)(*mod.get_init_inputs())
    return model.to(device)


def poison(specs: tuple[P.OutSpec, ...], device: str) -> None:
    """Fill the allocator's free blocks of the output sizes with NaN (or all-ones bits), then free them."""
    junk = []
    for spec in specs:
        shape, dt = list(spec.shape), wire.DTYPES[spec.dtype]
        for _ in range(2):
            junk.append(fill_poison(torch.empty(shape, dtype=dt, device=device)))
    sync(device)
    del junk


def _nbytes(shape, dtype):
    n = 1
    for d in shape:
        n *= int(d)
    return n * torch.empty((), dtype=wire.DTYPES[dtype]).element_size()


def functional(mod, model):
    import inspect

    return callable(getattr(mod, "module_fn", None)) and "fn" in inspect.signature(model.forward).parameters


def spy(fn, seen):
    """module_fn, recording the kinds and shapes of what Model.forward passes it (format K's signature)."""
    def describe(a):
        if isinstance(a, torch.Tensor):
            return ["tensor", list(a.shape), str(a.dtype).replace("torch.", "")]
        return ["number", a if isinstance(a, (bool, int, float)) else repr(a)]

    def call(*args, **kwargs):
        seen.append({"args": [describe(a) for a in args], "kwargs": {k: describe(v) for k, v in kwargs.items()}})
        return fn(*args, **kwargs)
    return call


def role_reference(job: P.Job):
    device = job.device
    mod = load_module(job.task_path, "ke_task")
    apply_size(mod, job.size)
    model = build_model(mod, job, device)
    model64 = copy.deepcopy(model).double()
    weights = fingerprint(list(model.state_dict().values()))
    all_cases = cases(mod, job)
    name = torch.cuda.get_device_name() if device == "cuda" else (platform.processor() or platform.machine())
    send(P.ReferenceHello(weights_sha=weights, pid=os.getpid(), device_name=name, cuda=torch.version.cuda or "",
                          torch=torch.__version__))
    sets = []
    flops_seen = 0
    with torch.no_grad():
        for cid, inputs in all_cases:
            inputs = to_device(inputs, device)
            seen = []
            out = flat(model(*inputs, fn=spy(mod.module_fn, seen)) if functional(mod, model) else model(*inputs))
            out64 = flat(model64(*upcast(inputs)))
            sync(device)
            tensors = {f"out{i}": o for i, o in enumerate(out)}
            tensors.update({f"ref{i}": o for i, o in enumerate(out64)})
            nbytes = sum(x.numel() * x.element_size() for x in inputs if isinstance(x, torch.Tensor))
            nbytes += sum(p.numel() * p.element_size() for p in model.state_dict().values())
            nbytes += sum(o.numel() * o.element_size() for o in out)
            identity = any(isinstance(x, torch.Tensor) and x.shape == o.shape and x.dtype == o.dtype
                           and torch.equal(x, o) for o in out for x in inputs)
            flops = task_flops(model, inputs) if cid == all_cases[0][0] else 0
            flops_seen = max(flops_seen, flops)
            send(P.ReferenceCase(id=cid, input_sha=fingerprint(inputs), bytes=nbytes, identity=identity,
                                 fn_args=seen[0] if seen else None, flops=flops), tensors)
            if cid.startswith("seed"):
                sets.append(inputs)
        if job.timing is not None:
            compiled, compile_error = None, ""
            if job.timing.compile:
                try:  # build the torch.compile baseline (minutes of CPU) before asking for the device alone
                    compiled = torch.compile(model)
                    compiled(*sets[0])
                    sync(device)
                except Exception as e:  # noqa: BLE001 - a baseline failure is reported, not fatal
                    compiled, compile_error = None, f"{type(e).__name__}: {e}"[:1000]
            wait_for_timing_slot(job)  # the slot ends at the `bandwidth` message
            samples, _ = time_calls(lambda s: model(*s), sets, job.timing, device, on_idle=_idle)
            send(P.Eager(samples=samples))
            if compiled is not None:
                try:
                    samples, _ = time_calls(lambda s: compiled(*s), sets, job.timing, device, on_idle=_idle)
                    send(P.Compiled(samples=samples))
                except Exception as e:  # noqa: BLE001
                    send(P.CompiledError(message=f"{type(e).__name__}: {e}"[:1000]))
            elif compile_error:
                send(P.CompiledError(message=compile_error))
            send(P.Bandwidth(gbps=bandwidth_gbps(device), peak_gflops=peak_gflops(device) if flops_seen else 0.0))
    send(P.Done())


K_BINDING = None  # the format-K binding, when the candidate is format K


def expect_outputs(specs: tuple[P.OutSpec, ...]):
    """Format K allocates the outputs itself: tell it this call's shapes and dtypes (the reference's)."""
    if K_BINDING is not None:
        K_BINDING.expect([(list(o.shape), wire.DTYPES[o.dtype]) for o in specs])


def load_candidate(job: P.Job, mod, device):
    c = job.kernel
    if c is None:
        raise RuntimeError("a candidate job names no kernel")
    if c.format == "A":
        spec = importlib.util.spec_from_file_location(c.module_name, c.so_path)
        ext = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(ext)
        model = build_model(mod, job, device)
        return model, (lambda s: model(*s, fn=ext.forward))
    if c.format == "K":
        global K_BINDING
        K_BINDING = KBinding(os.path.abspath(c.so_path), device)
        model = build_model(mod, job, device)
        return model, (lambda s: model(*s, fn=K_BINDING))
    new = load_module(c.source_path, "ke_candidate")
    reference = build_model(mod, job, device)
    torch.manual_seed(job.init_seed)
    model_new = new.ModelNew(*mod.get_init_inputs()).to(device)
    ref_state = reference.state_dict()
    new_state = model_new.state_dict()
    if set(ref_state) == set(new_state) and all(ref_state[k].shape == new_state[k].shape for k in ref_state):
        model_new.load_state_dict(ref_state)
    del reference
    return model_new, (lambda s: model_new(*s))


def role_candidate(job: P.Job):
    device = job.device
    mod = load_module(job.task_path, "ke_task")
    apply_size(mod, job.size)
    model, call = load_candidate(job, mod, device)
    params = list(model.state_dict().values())
    send(P.CandidateHello(weights_sha=fingerprint(params), pid=os.getpid(), cuda_at_start=CUDA_AT_START))
    all_cases = cases(mod, job)
    specs = job.out_specs
    sets = []
    first_args = []  # the first call's own input buffers: alive to the end, reused with other values below

    def prepare(cid):  # before a call on case `cid`'s shapes: poisoned free memory, format K told the shapes
        poison(specs.get(cid, ()), device)
        expect_outputs(specs.get(cid, ()))
    with torch.no_grad():
        for cid, inputs in all_cases:
            inputs = to_device(inputs, device)
            args = [x.clone() if isinstance(x, torch.Tensor) else x for x in inputs]
            prepare(cid)
            out = flat(call(args))
            sync(device)
            ptrs = {x.untyped_storage().data_ptr() for x in args + params if isinstance(x, torch.Tensor)}
            alias = any(o.untyped_storage().data_ptr() in ptrs for o in out)
            send(P.CandidateCase(id=cid, input_sha_after=fingerprint(args), alias=alias,
                                 weights_sha_after=fingerprint(params)),
                 {f"out{i}": o for i, o in enumerate(out)})
            if cid.startswith("seed"):
                sets.append(inputs)
            first_args = first_args or args
            del out, args
        # the same inputs again, after other calls, at new addresses (the first call's buffers are alive):
        # a moving result means a race or hidden state
        first_id, first_inputs = all_cases[0][0], to_device(all_cases[0][1], device)
        prepare(first_id)
        again = [x.clone() if isinstance(x, torch.Tensor) else x for x in first_inputs]
        out = flat(call(again))
        sync(device)
        send(P.Repeat(id=first_id, new_address=probes.new_addresses(again, first_args)),
             {f"out{i}": o for i, o in enumerate(out)})
        del out
        seed_ids = [c for c, _ in all_cases if c.startswith("seed")]
        # later seeds' values in the first call's own buffers: no key from the address or shape stands in
        for cid, out, same, after in probes.reuse_calls(lambda a: flat(call(a)), first_args,
                                                        [(c, sets[seed_ids.index(c)]) for c in P.reuse_ids(seed_ids)],
                                                        prepare):
            sync(device)
            send(P.Reuse(id=cid, into=first_id, same_address=same, input_sha_after=fingerprint(after)),
                 {f"out{i}": o for i, o in enumerate(out)})
        if job.probe is not None:  # repeats under several thread counts, values alternating in one buffer
            for t, ids, stacked, secs, together in probes.race_calls(lambda a: flat(call(a)), again,
                                                                     list(zip(seed_ids, sets)), job.probe, device,
                                                                     prepare, sync):
                send(P.Race(threads=t, cases=ids, seconds=secs, together=together), stacked)
        # the profile runs with the correctness work: the timing slot holds nothing but the timed loop
        send(P.Profile(**profile(call, sets[0] if sets else first_inputs, list(job.kernel_names), device)))
        if job.timing is not None:
            wait_for_timing_slot(job)
            rng = random.SystemRandom()
            reps = job.timing.repeats
            # at least 3 timed outputs come back for checking; small outputs all of them (up to 256 MB in all)
            out_bytes = max(1, sum(_nbytes(o.shape, o.dtype) for o in specs.get(all_cases[0][0], ())))
            snap_at = set(rng.sample(range(reps), k=min(reps, max(3, (256 << 20) // out_bytes))))
            samples, snaps = time_calls(call, sets, job.timing, device, snapshot_at=snap_at, on_idle=_idle,
                                        before=K_BINDING.arm if K_BINDING is not None else None)
            tensors = {}
            meta = []
            for j, (set_idx, outs) in enumerate(snaps):
                meta.append(all_cases[set_idx][0])
                tensors.update({f"snap{j}_{i}": o for i, o in enumerate(outs)})
            send(P.Timing(samples=samples, snapshot_cases=meta), tensors)
    send(P.Done())


def role_functional(job: P.Job):
    device = job.device
    mod = load_module(job.task_path, "ke_task")
    fmod = load_module(job.functional_path, "ke_functional")
    apply_size(mod, job.size)
    apply_size(fmod, job.size)
    orig = build_model(mod, job, device)
    func = build_model(fmod, job, device)
    o_state, f_state = orig.state_dict(), func.state_dict()
    loaded = False
    if set(o_state) == set(f_state) and all(o_state[k].shape == f_state[k].shape for k in o_state):
        func.load_state_dict(o_state)
        loaded = True
    send(P.FunctionalHello(state_dict_loaded=loaded, has_module_fn=hasattr(fmod, "module_fn")))
    with torch.no_grad():
        for cid, inputs in cases(mod, job):
            inputs = to_device(inputs, device)
            a = flat(orig(*[x.clone() if isinstance(x, torch.Tensor) else x for x in inputs]))
            b = flat(func(*[x.clone() if isinstance(x, torch.Tensor) else x for x in inputs], fn=fmod.module_fn))
            o64 = flat(copy.deepcopy(orig).double()(*upcast(inputs)))
            tensors = {f"orig{i}": o for i, o in enumerate(a)}
            tensors.update({f"func{i}": o for i, o in enumerate(b)})
            tensors.update({f"ref{i}": o for i, o in enumerate(o64)})
            send(P.FunctionalCase(id=cid), tensors)
    send(P.Done())


def prepare(backend: str) -> None:
    """Pre-started: everything a job of `backend` would otherwise start itself, before the job exists.

    On CUDA that is the context (seconds per process on the GPU hosts), cuBLAS (a reference's matmuls) and
    the profiler's CUPTI session (every candidate is profiled once); on the CPU, the profiler. This is the
    harness's own code in the worker's own sandbox: no task and no candidate has been seen yet.
    """
    import torch.profiler
    acts = [torch.profiler.ProfilerActivity.CPU]
    if backend == "cuda":
        a = torch.ones(8, 8, device="cuda")
        (a @ a).sum().item()
        acts.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=acts):
        if backend == "cuda":
            (torch.ones(1024, device="cuda") * 2).sum().item()
    if backend == "cuda":
        torch.cuda.synchronize()


def wait_for_job(ready_fd: int, backend: str) -> str:
    """Pre-started: prepare for a job of `backend`, then wait for the job's path (the deadline starts then). A
    worker that cannot prepare exits without saying it is ready, so the pool discards it (no job is lost)."""
    try:
        prepare(backend)
    except Exception:  # noqa: BLE001 - e.g. no device memory left for a context: this sandbox serves no job
        os._exit(5)
    os.write(ready_fd, b"R")
    os.close(ready_fd)
    path = sys.stdin.readline().strip()
    os.dup2(null := os.open(os.devnull, os.O_RDONLY), 0)  # the candidate never gets the control pipe
    os.close(null)
    if not path:
        os._exit(4)  # the pool went away before a job came
    return path


ROLES = {"reference": role_reference, "candidate": role_candidate, "functional": role_functional}


def main():
    global OUT, ARENA, CUDA_AT_START
    procguard.close_to_same_user()  # before any task or candidate code: a reference's outputs, a rival's memory
    # cold: `main.py JOB_PATH`; pre-started: `main.py --wait READY_FD DIR BACKEND` (harness.sandbox.warm)
    path = wait_for_job(int(sys.argv[2]), sys.argv[4]) if sys.argv[1] == "--wait" else sys.argv[1]
    CUDA_AT_START = torch.cuda.is_initialized()
    with open(path) as f:
        job = P.Job.from_json(f.read())
    OUT = wire.open_writer(job.out_fd)
    if job.arena_fd is not None:
        ARENA = wire.ArenaWriter(job.arena_fd, job.arena_bytes)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    try:
        ROLES[job.role](job)
    except BaseException as e:  # noqa: BLE001 - every failure becomes a message, then a non-zero exit
        tb = traceback.format_exc(limit=6)
        try:
            send(P.Error(message=f"{type(e).__name__}: {e}"[:2000], traceback=tb[-3000:]))
        finally:
            OUT.flush()
            os._exit(3)
    OUT.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
