"""The worker protocol: the job a sandboxed worker gets, the messages it answers with, and their order.

Every side uses this module: the judge builds a `Job` (`harness.judge`), the worker reads it and sends
typed messages (`harness.worker.main`), the parent decodes what came back (`harness.sandbox.process`)
and checks the order (`expected_kinds`). On the wire a message is its `KIND`, its fields as a JSON
header and its tensors as raw bytes (`harness.worker.wire`). What a candidate's worker sends is
untrusted: `decode` accepts exactly the fields of the kind, each of its declared type, and raises
`ProtocolError` for anything else, which the parent turns into a failed `channel` check.
"""
from __future__ import annotations

import json
import types
import typing
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from typing import Any, ClassVar, Literal, Mapping

Role = Literal["reference", "candidate", "functional"]
ROLES: tuple[str, ...] = ("reference", "candidate", "functional")


class ProtocolError(ValueError):
    """A message that is not one of the protocol's, or a field of the wrong type."""


# ---------------------------------------------------------------- the job


@dataclass(frozen=True)
class TimingSpec:
    """How the timed loop runs: warm-up calls, timed calls, the cache flush between calls, thread count."""

    warmup: int
    repeats: int
    flush_bytes: int
    compile: bool = False          # the reference also builds and times a torch.compile baseline
    threads: int | None = None     # CPU: the fixed thread count of every timed call


@dataclass(frozen=True)
class ProbeSpec:
    """A candidate's extra correctness calls after its `repeat` (race detection): for each entry of `threads`
    (a CPU thread count; 0 leaves it as it is, CUDA), repeated calls back to back on one buffer whose values
    alternate between the seeds: at least `min_repeats`, more while `budget_s` seconds last (per count; a
    count of 1 stops at the minimum), at most `repeats`, and no more once the count's share of `max_bytes`
    of outputs would be passed (one call always runs). A lost update needs the threads on cores at the same
    time, which a busy machine allows only now and then: a call no slower than twice the fastest so far
    (the one-thread calls come first) ran with its team together, and a count of no more threads than
    cores goes on past `budget_s`, up to `max_s`, until `together` of its calls did (or they took
    `together_s` seconds in all)."""

    threads: tuple[int, ...]
    repeats: int
    min_repeats: int
    budget_s: float
    max_bytes: int
    together: int = 0          # ... and past `budget_s`, until this many calls ran with the team together
    together_s: float = 0.0    # ... or such calls took this many seconds in all (slow calls: a few suffice)
    max_s: float = 0.0         # ... but never past `max_s` seconds per count (0: `budget_s` is the limit)


@dataclass(frozen=True)
class KernelSpec:
    """The candidate's code in its run folder: a built library (formats A, K) or a Python file (format B)."""

    format: Literal["A", "B", "K"]
    module_name: str = ""
    so_path: str = ""
    source_path: str = ""


@dataclass(frozen=True)
class OutSpec:
    """One output's shape and dtype (the reference's), so a format-K call can allocate and poison it."""

    shape: tuple[int, ...]
    dtype: str


@dataclass(frozen=True)
class Job:
    """Everything a worker is told. Seeds are secret to the candidate until its run."""

    role: Role
    task_path: str
    seeds: tuple[int, ...]
    init_seed: int
    size: str
    device: str
    timing: TimingSpec | None = None
    kernel: KernelSpec | None = None                        # role "candidate"
    out_specs: Mapping[str, tuple[OutSpec, ...]] = field(default_factory=dict)  # per case id
    kernel_names: tuple[str, ...] = ()                      # the candidate's `__global__` functions
    functional_path: str = ""                               # role "functional"
    out_fd: int = -1                                        # the result pipe's write end (the worker's number)
    gate_fd: int | None = None                              # the timing-slot pipe's read end, if gated
    arena_fd: int | None = None                             # the sealed shared-memory file for tensor bytes
    arena_bytes: int = 0
    probe: ProbeSpec | None = None                          # role "candidate": the race repeats

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "Job":
        d = json.loads(text)
        d["seeds"] = tuple(d["seeds"])
        d["kernel_names"] = tuple(d.get("kernel_names", ()))
        d["timing"] = TimingSpec(**d["timing"]) if d.get("timing") else None
        d["kernel"] = KernelSpec(**d["kernel"]) if d.get("kernel") else None
        d["probe"] = ProbeSpec(**{**d["probe"], "threads": tuple(d["probe"]["threads"])}) if d.get("probe") else None
        d["out_specs"] = {cid: tuple(OutSpec(tuple(o["shape"]), o["dtype"]) for o in specs)
                          for cid, specs in (d.get("out_specs") or {}).items()}
        return cls(**d)

    def with_fds(self, *, out_fd: int, gate_fd: int | None, arena_fd: int | None = None,
                 arena_bytes: int = 0) -> "Job":
        return replace(self, out_fd=out_fd, gate_fd=gate_fd, arena_fd=arena_fd, arena_bytes=arena_bytes)


# ---------------------------------------------------------------- messages


@dataclass(frozen=True)
class Message:
    KIND: ClassVar[str] = ""


@dataclass(frozen=True)
class ReferenceHello(Message):
    KIND: ClassVar[str] = "hello"
    weights_sha: str
    pid: int
    device_name: str
    cuda: str
    torch: str


@dataclass(frozen=True)
class CandidateHello(Message):
    KIND: ClassVar[str] = "hello"
    weights_sha: str
    pid: int
    cuda_at_start: bool | None      # was CUDA initialised (by the harness, in a pre-started worker) before the job


@dataclass(frozen=True)
class FunctionalHello(Message):
    KIND: ClassVar[str] = "hello"
    state_dict_loaded: bool
    has_module_fn: bool


@dataclass(frozen=True)
class ReferenceCase(Message):
    """Tensors: out0.. (the task's dtype), ref0.. (float64)."""
    KIND: ClassVar[str] = "case"
    id: str
    input_sha: str
    bytes: int                      # inputs + parameters + outputs, for the speed-of-light floor
    identity: bool                  # an output equals an input (aliasing is then legitimate)
    fn_args: dict | None            # what Model.forward passed module_fn (format K's signature)
    flops: int = 0                  # matmul/conv FLOPs of the call (torch's FlopCounterMode), for the roofline


@dataclass(frozen=True)
class CandidateCase(Message):
    """Tensors: out0.."""
    KIND: ClassVar[str] = "case"
    id: str
    input_sha_after: str
    alias: bool
    weights_sha_after: str


@dataclass(frozen=True)
class FunctionalCase(Message):
    """Tensors: orig0.., func0.., ref0.."""
    KIND: ClassVar[str] = "case"
    id: str


@dataclass(frozen=True)
class Repeat(Message):
    """The first case's inputs again, after the others (tensors: out0..): a moving result is a race or state.
    The first call's buffers are still alive, so these inputs sit at other addresses (`new_address`)."""
    KIND: ClassVar[str] = "repeat"
    id: str
    new_address: bool | None = None


@dataclass(frozen=True)
class Reuse(Message):
    """Case `id`'s values copied into the input buffers of case `into`'s call and called again: the same
    addresses, new contents (tensors: out0..). A result keyed on the address gives `into`'s answer."""
    KIND: ClassVar[str] = "reuse"
    id: str
    into: str
    same_address: bool
    input_sha_after: str


@dataclass(frozen=True)
class Race(Message):
    """Repeated calls with `threads` threads (0: as set), call k on case `cases[k]`'s values in one buffer.
    Tensors: s{u}_{i}, output i of every call on the u-th distinct case of `cases` (first-seen order),
    stacked in call order; every one is compared with its case's reference and with the others."""
    KIND: ClassVar[str] = "race"
    threads: int
    cases: list
    seconds: float
    together: int = 0               # calls no slower than twice the fastest: the team ran together


@dataclass(frozen=True)
class Profile(Message):
    KIND: ClassVar[str] = "profile"
    aten_ops: list
    custom_kernel_fraction: float | None = None
    kernels: list | None = None


@dataclass(frozen=True)
class Ready(Message):
    """Correctness is done: the worker asks for the device's timing slot (and blocks until granted)."""
    KIND: ClassVar[str] = "ready"


@dataclass(frozen=True)
class Idle(Message):
    """The empty loop is done (its length): the parent times it to learn the honest overhead per call."""
    KIND: ClassVar[str] = "idle"
    n: int


@dataclass(frozen=True)
class Timing(Message):
    """Timed calls' samples (ms) and which cases the snapshots (tensors snap{k}_{i}) are outputs of."""
    KIND: ClassVar[str] = "timing"
    samples: list
    snapshot_cases: list


@dataclass(frozen=True)
class Eager(Message):
    KIND: ClassVar[str] = "eager"
    samples: list


@dataclass(frozen=True)
class Compiled(Message):
    KIND: ClassVar[str] = "compiled"
    samples: list


@dataclass(frozen=True)
class CompiledError(Message):
    KIND: ClassVar[str] = "compiled_error"
    message: str


@dataclass(frozen=True)
class Bandwidth(Message):
    """The device's measured roofs: copy bandwidth, and matmul throughput (the reference's last timing)."""
    KIND: ClassVar[str] = "bandwidth"
    gbps: float
    peak_gflops: float = 0.0


@dataclass(frozen=True)
class Done(Message):
    KIND: ClassVar[str] = "done"


@dataclass(frozen=True)
class Error(Message):
    KIND: ClassVar[str] = "error"
    message: str
    traceback: str = ""


_COMMON = (Ready, Idle, Done, Error)
KINDS: dict[str, dict[str, type[Message]]] = {
    "reference": {c.KIND: c for c in (ReferenceHello, ReferenceCase, Eager, Compiled, CompiledError, Bandwidth,
                                      *_COMMON)},
    "candidate": {c.KIND: c for c in (CandidateHello, CandidateCase, Repeat, Reuse, Race, Profile, Timing,
                                      *_COMMON)},
    "functional": {c.KIND: c for c in (FunctionalHello, FunctionalCase, Done, Error)},
}


def expected_kinds(role: Literal["candidate", "functional"], *, n_cases: int, timed: bool, n_reuse: int = 0,
                   n_race: int = 0) -> list[str]:
    """The kinds a candidate's or functional check's worker sends, in order, when all goes well (an `error`
    may end it early). A candidate sends `n_reuse` reuse messages (one per seed after the first: `reuse_ids`)
    and `n_race` race messages (one per entry of its job's `ProbeSpec.threads`) after its repeat.

    A candidate's profile runs with its correctness work (the device shared), before it asks for the
    timing slot, so the exclusive slot holds nothing but the timed loop. (A reference, the task's own
    code, sends hello, its cases, then in its slot ready, idle, eager, [idle, compiled | compiled_error],
    bandwidth, and done; its order is not judged.)
    """
    if role == "candidate":
        return ["hello"] + ["case"] * n_cases + ["repeat"] + ["reuse"] * n_reuse + ["race"] * n_race + ["profile"] \
            + (["ready", "idle", "timing"] if timed else []) + ["done"]
    return ["hello"] + ["case"] * n_cases + ["done"]


def reuse_ids(case_ids: list[str]) -> list[str]:
    """The cases whose values a candidate's reuse calls copy into the first case's buffers: every seed case
    after the first (the variants have other shapes)."""
    return [c for c in case_ids if c.startswith("seed")][1:]


def _hint(tp: Any) -> tuple[type, ...]:
    """The runtime types a field annotation admits (int for float too; None where Optional)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return tuple(t for a in typing.get_args(tp) for t in _hint(a))
    if origin is Literal:
        return (str,)
    if tp is type(None):
        return (type(None),)
    if tp is float:
        return (float, int)
    return (origin or tp,)


_FIELDS: dict[type, list[tuple[str, tuple[type, ...], bool]]] = {}


def _schema(cls: type[Message]) -> list[tuple[str, tuple[type, ...], bool]]:
    if cls not in _FIELDS:
        hints = typing.get_type_hints(cls)
        _FIELDS[cls] = [(f.name, _hint(hints[f.name]), f.default is MISSING) for f in fields(cls)]
    return _FIELDS[cls]


def decode(role: Role, kind: str, meta: Any) -> Message:
    """The typed message for `kind` from `role`'s worker, or `ProtocolError` (unknown kind, missing, extra
    or mistyped field)."""
    cls = KINDS.get(role, {}).get(kind)
    if cls is None:
        raise ProtocolError(f"a {role} worker sends no {kind!r} message")
    if not isinstance(meta, dict):
        raise ProtocolError(f"{kind!r}: fields must be an object")
    schema = _schema(cls)
    extra = set(meta) - {n for n, _, _ in schema}
    if extra:
        raise ProtocolError(f"{kind!r}: unexpected field(s) {sorted(extra)[:4]}")
    kw = {}
    for name, allowed, required in schema:
        if name not in meta:
            if required:
                raise ProtocolError(f"{kind!r}: missing field {name!r}")
            continue
        v = meta[name]
        if isinstance(v, bool) and bool not in allowed:  # JSON true is no number here
            raise ProtocolError(f"{kind!r}.{name}: expected {allowed[0].__name__}, got bool")
        if not isinstance(v, allowed):
            raise ProtocolError(f"{kind!r}.{name}: expected {allowed[0].__name__}, got {type(v).__name__}")
        kw[name] = float(v) if float in allowed and isinstance(v, int) and not isinstance(v, bool) else v
    return cls(**kw)


def fields_of(msg: Message) -> dict[str, Any]:
    """A message's fields, for the wire header."""
    return {f.name: getattr(msg, f.name) for f in fields(msg)}
