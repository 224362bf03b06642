"""The private channel between a runner process and the trusted parent.

A message is an 8-byte little-endian header length, a JSON header, then the
raw bytes of each tensor the header lists. No pickle: the parent parses what an
untrusted process wrote, so the format is plain data with a whitelist of
dtypes and hard size limits. Anything malformed raises `WireError`, which the
parent turns into a verdict, never a crash.
"""
from __future__ import annotations

import json
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


def send(stream: BinaryIO, kind: str, meta: dict[str, Any] | None = None,
         tensors: dict[str, torch.Tensor] | None = None) -> None:
    """Write one message and flush.

    The header goes out (flushed) before any tensor is copied to the host: the parent stamps each message
    by its header's arrival, and a timing message's stamp must not include moving its snapshots off the GPU.
    """
    tensors = tensors or {}
    specs = []
    for name, t in tensors.items():
        if t.dtype not in DTYPE_NAMES:
            raise WireError(f"tensor {name!r} has unsupported dtype {t.dtype}")
        specs.append({"name": name, "dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape),
                      "nbytes": t.numel() * t.element_size()})
    header = json.dumps({"type": kind, "meta": meta or {}, "tensors": specs}).encode()
    stream.write(struct.pack("<Q", len(header)))
    stream.write(header)
    stream.flush()
    for spec, t in zip(specs, tensors.values()):
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


def _read_tensor(stream: BinaryIO, spec: dict[str, Any], nbytes: int) -> torch.Tensor:
    """Read one tensor's bytes straight into a fresh tensor (no intermediate copies of GB-sized outputs)."""
    dtype = DTYPES.get(spec.get("dtype", ""))
    shape = spec.get("shape")
    if dtype is None or not isinstance(shape, list) or not all(isinstance(s, int) and s >= 0 for s in shape):
        raise WireError(f"bad tensor spec {spec!r}")
    numel = 1
    for s in shape:
        numel *= s
    if numel * torch.empty((), dtype=dtype).element_size() != nbytes:
        raise WireError(f"tensor {spec.get('name')!r}: {nbytes} bytes for shape {shape} {spec['dtype']}")
    raw = torch.empty(nbytes, dtype=torch.uint8)
    view = memoryview(raw.numpy()).cast("B") if nbytes else memoryview(b"")
    got = 0
    while got < nbytes:
        n = stream.readinto(view[got:got + (1 << 24)])  # type: ignore[attr-defined]
        if not n:
            raise WireError("truncated tensor data")
        got += n
    return raw.view(dtype).reshape(shape) if nbytes else torch.empty(shape, dtype=dtype)


def receive(stream: BinaryIO, *, max_bytes: int,
            on_header: Callable[[str], None] | None = None) -> Iterator[tuple[str, dict[str, Any], dict[str, torch.Tensor]]]:
    """Yield (kind, meta, tensors) until EOF. Raises WireError past `max_bytes` in total or on garbage.

    `on_header(kind)` is called as soon as a message's header is read, before its tensor data.
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
            tensors[str(spec.get("name"))] = _read_tensor(stream, spec, nbytes)
        meta = header.get("meta")
        yield header["type"], meta if isinstance(meta, dict) else {}, tensors


def open_writer(fd: int) -> BinaryIO:
    return os.fdopen(fd, "wb", buffering=1 << 20)
