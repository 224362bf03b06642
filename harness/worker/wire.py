"""The private channel between a runner process and the trusted parent.

A message is an 8-byte little-endian header length, a JSON header, then the
raw bytes of each tensor the header lists. No pickle: the parent parses what an
untrusted process wrote, so the format is plain data with a whitelist of
dtypes and hard size limits. Anything malformed raises `WireError`, which the
parent turns into a verdict, never a crash.

Tensor bytes cross either inline on the pipe or, where the host allows it, through an *arena*: a
memfd the parent creates, sizes (sparse) and seals against shrinking and growing before the worker
gets it, so nothing the worker does can make the parent's reads fault. The header names the tensor's
page-aligned offset in the arena; once its bytes are there the worker writes one byte on the pipe,
and the parent copies them out at once into memory of its own and frees the pages. The worker can
still write anywhere in the arena at any time, which only changes what it sends, never what the
parent already holds. GB-sized outputs then cost one copy each way instead of a pipe's system calls
(costly under gVisor). `Arena.create` says why when the host refuses (the run then uses the pipe).
"""
from __future__ import annotations

import fcntl
import json
import mmap
import os
import struct
from typing import Any, BinaryIO, Callable, Iterator

import torch

MAX_HEADER = 1 << 20

DTYPES: dict[str, torch.dtype] = {
    "float64": torch.float64, "float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16,
    "int64": torch.int64, "int32": torch.int32, "int16": torch.int16, "int8": torch.int8, "uint8": torch.uint8,
    "bool": torch.bool, "complex64": torch.complex64, "complex128": torch.complex128,
}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}


class WireError(RuntimeError):
    """The peer wrote something that is not a well-formed message."""


def _tensor_view(t: torch.Tensor) -> memoryview:
    t = t.detach().to("cpu").contiguous().reshape(-1)  # 1-d: 0-d and empty tensors have a byte view too
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return memoryview(t.numpy()).cast("B") if t.numel() else memoryview(b"")


PAGE = mmap.ALLOCATIONGRANULARITY
_MFD_SEALS = getattr(fcntl, "F_SEAL_SHRINK", 2) | getattr(fcntl, "F_SEAL_GROW", 4) | getattr(fcntl, "F_SEAL_SEAL", 1)


def _aligned(n: int) -> int:
    return (n + PAGE - 1) // PAGE * PAGE


class Arena:
    """The parent's side of a sealed shared-memory file for tensor bytes (see the module's docstring)."""

    def __init__(self, fd: int, capacity: int):
        self.fd, self.capacity = fd, capacity

    @classmethod
    def create(cls, capacity: int) -> "tuple[Arena | None, str]":
        """(arena, "") or (None, why the host refused: the run then sends its tensors through the pipe)."""
        if not hasattr(os, "memfd_create"):
            return None, "no memfd_create on this platform"
        try:
            fd = os.memfd_create("ke-arena", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        except OSError as e:
            return None, f"memfd_create: {e}"
        try:
            os.ftruncate(fd, _aligned(capacity))
            fcntl.fcntl(fd, getattr(fcntl, "F_ADD_SEALS", 1033), _MFD_SEALS)
            if fcntl.fcntl(fd, getattr(fcntl, "F_GET_SEALS", 1034)) & _MFD_SEALS != _MFD_SEALS:
                raise OSError("the seals did not hold")
        except OSError as e:
            os.close(fd)
            return None, f"sealing the shared-memory file: {e}"
        return cls(fd, _aligned(capacity)), ""

    def take(self, offset: int, nbytes: int, spec: dict[str, Any]) -> torch.Tensor:
        """Copy one tensor's bytes out of the arena into memory of our own, then free those pages."""
        if not (isinstance(offset, int) and offset >= 0 and offset % PAGE == 0 and offset + nbytes <= self.capacity):
            raise WireError(f"tensor {spec.get('name')!r}: arena offset {offset!r} is outside the arena")
        dtype, shape = _checked_spec(spec, nbytes)
        if nbytes == 0:
            return torch.empty(shape, dtype=dtype)
        m = mmap.mmap(self.fd, _aligned(nbytes), offset=offset)
        try:
            src = torch.frombuffer(m, dtype=torch.uint8, count=nbytes)
            raw = src.clone()
            del src
            if hasattr(mmap, "MADV_REMOVE"):
                m.madvise(mmap.MADV_REMOVE)
        finally:
            m.close()
        return raw.view(dtype).reshape(shape)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class ArenaWriter:
    """The worker's side: tensors written at increasing page-aligned offsets until the arena is full."""

    def __init__(self, fd: int, capacity: int):
        self.fd, self.capacity, self.next = fd, capacity, 0

    def reserve(self, nbytes: int) -> int | None:
        """An offset for `nbytes` (None when the arena is full: that tensor goes through the pipe)."""
        if nbytes == 0 or self.next + _aligned(nbytes) > self.capacity:
            return None
        off, self.next = self.next, self.next + _aligned(nbytes)
        return off

    def write(self, offset: int, t: torch.Tensor) -> None:
        n = t.numel() * t.element_size()
        m = mmap.mmap(self.fd, _aligned(n), offset=offset)
        try:
            dst = torch.frombuffer(m, dtype=torch.uint8, count=n)
            src = t.detach().contiguous().reshape(-1)
            if src.dtype == torch.bool:
                src = src.view(torch.uint8)
            dst.view(src.dtype).copy_(src)  # one device-to-host copy straight into the shared pages
            del dst
        finally:
            m.close()


def send(stream: BinaryIO, kind: str, meta: dict[str, Any] | None = None,
         tensors: dict[str, torch.Tensor] | None = None, arena: ArenaWriter | None = None) -> None:
    """Write one message and flush.

    The header goes out (flushed) before any tensor is copied to the host: the parent stamps each message
    by its header's arrival, and a timing message's stamp must not include moving its snapshots off the GPU.
    With an `arena`, each tensor that fits goes there, followed by one byte on the pipe once it is written.
    """
    tensors = tensors or {}
    specs = []
    for name, t in tensors.items():
        if t.dtype not in DTYPE_NAMES:
            raise WireError(f"tensor {name!r} has unsupported dtype {t.dtype}")
        spec = {"name": name, "dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape),
                "nbytes": t.numel() * t.element_size()}
        at = arena.reserve(spec["nbytes"]) if arena is not None else None
        if at is not None:
            spec["at"] = at
        specs.append(spec)
    header = json.dumps({"type": kind, "meta": meta or {}, "tensors": specs}).encode()
    stream.write(struct.pack("<Q", len(header)))
    stream.write(header)
    stream.flush()
    for spec, t in zip(specs, tensors.values()):
        if "at" in spec:
            arena.write(spec["at"], t)  # type: ignore[union-attr]
            stream.write(b"\x01")
            stream.flush()
            continue
        view = _tensor_view(t)
        if view.nbytes != spec["nbytes"]:
            raise WireError(f"tensor {spec['name']!r}: {view.nbytes} bytes, header said {spec['nbytes']}")
        stream.write(view)
    stream.flush()


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    chunks = []
    left = n
    while left:
        chunk = stream.read(min(left, 1 << 24))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _checked_spec(spec: dict[str, Any], nbytes: int) -> tuple[torch.dtype, list[int]]:
    dtype = DTYPES.get(spec.get("dtype", ""))
    shape = spec.get("shape")
    if dtype is None or not isinstance(shape, list) or not all(isinstance(s, int) and s >= 0 for s in shape):
        raise WireError(f"bad tensor spec {spec!r}")
    numel = 1
    for s in shape:
        numel *= s
    if numel * torch.empty((), dtype=dtype).element_size() != nbytes:
        raise WireError(f"tensor {spec.get('name')!r}: {nbytes} bytes for shape {shape} {spec['dtype']}")
    return dtype, shape


def _read_tensor(stream: BinaryIO, spec: dict[str, Any], nbytes: int) -> torch.Tensor:
    """Read one tensor's bytes straight into a fresh tensor (no intermediate copies of GB-sized outputs)."""
    dtype, shape = _checked_spec(spec, nbytes)
    raw = torch.empty(nbytes, dtype=torch.uint8)
    view = memoryview(raw.numpy()).cast("B") if nbytes else memoryview(b"")
    got = 0
    while got < nbytes:
        n = stream.readinto(view[got:got + (1 << 24)])  # type: ignore[attr-defined]
        if not n:
            raise WireError("truncated tensor data")
        got += n
    return raw.view(dtype).reshape(shape) if nbytes else torch.empty(shape, dtype=dtype)


def receive(stream: BinaryIO, *, max_bytes: int, on_header: Callable[[str], None] | None = None,
            arena: Arena | None = None) -> Iterator[tuple[str, dict[str, Any], dict[str, torch.Tensor]]]:
    """Yield (kind, meta, tensors) until EOF. Raises WireError past `max_bytes` in total or on garbage.

    `on_header(kind)` is called as soon as a message's header is read, before its tensor data. Tensors the
    header places in the `arena` are copied out of it once their byte arrives on the pipe.
    """
    total = 0
    while True:
        try:
            head = _read_exact(stream, 8)
        except EOFError:
            return
        (n,) = struct.unpack("<Q", head)
        if n > MAX_HEADER:
            raise WireError(f"header of {n} bytes")
        try:
            header = json.loads(_read_exact(stream, n))
        except (EOFError, ValueError) as e:
            raise WireError(f"truncated or invalid header: {e}") from None
        if not isinstance(header, dict) or not isinstance(header.get("type"), str):
            raise WireError("header is not a message")
        if on_header is not None:
            on_header(header["type"])
        tensors = {}
        for spec in header.get("tensors", []):
            nbytes = spec.get("nbytes") if isinstance(spec, dict) else None
            if not isinstance(nbytes, int) or nbytes < 0:
                raise WireError("bad tensor length")
            total += nbytes
            if total > max_bytes:
                raise WireError(f"more than {max_bytes} bytes of tensors")
            if "at" in spec:
                if arena is None:
                    raise WireError("a tensor in an arena this run does not have")
                if stream.read(1) != b"\x01":
                    raise WireError("truncated message: an arena tensor was never committed")
                tensors[str(spec.get("name"))] = arena.take(spec["at"], nbytes, spec)
            else:
                tensors[str(spec.get("name"))] = _read_tensor(stream, spec, nbytes)
        meta = header.get("meta")
        yield header["type"], meta if isinstance(meta, dict) else {}, tensors


def open_writer(fd: int) -> BinaryIO:
    return os.fdopen(fd, "wb", buffering=1 << 20)
