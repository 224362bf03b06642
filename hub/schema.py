"""The archive row: its columns, their `datasets.Features`, and how a harness verdict becomes one.

A row is one judged kernel for one task on one device. Rows cross package
boundaries (pipeline -> hub -> finetune), so `Row` is a frozen dataclass; on
disk a batch of rows is a parquet shard whose schema is `ARROW_SCHEMA`.
Rows imported from elsewhere (Sakana's archive) keep what they *claimed* in
the `claimed_*` columns and stay `status="unverified"` until our harness
re-verifies them.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import json
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import pyarrow as pa
from datasets import Features, List, Value

from harness.types import TaskRef, Verdict, sha256_text

#: Statuses a row may carry: the harness's six, plus "unverified" for imported rows.
ROW_STATUSES = ("verified", "incorrect", "compile_error", "runtime_error", "timeout", "rejected", "unverified")


class ArchiveError(RuntimeError):
    """An archive operation that cannot proceed; the message says what to do about it."""


@dataclass(frozen=True)
class Row:
    """One archive row (DESIGN.md's columns, then the provenance/claim columns)."""

    task_id: str
    op_name: str
    level: int
    task_code: str
    functional_code: str
    kernel_code: str
    kernel_format: str
    backend: str
    status: str
    correct: bool
    max_abs_diff: float | None
    rel_error: float | None
    runtime_ms: float | None
    runtime_iqr_ms: float | None
    torch_eager_ms: float | None
    torch_compile_ms: float | None
    speedup_eager: float | None
    speedup_compile: float | None
    flags: tuple[str, ...]
    error: str
    device: str
    torch_version: str
    cuda_version: str
    harness_version: str
    verdict_json: str
    parent_id: str | None
    generation: int
    operator: str
    model: str
    run_id: str
    kernel_sha256: str
    created_at: str
    # provenance of imported rows; what they claimed, never trusted as verified
    source: str = "kernel-evolve"
    claimed_correct: bool | None = None
    claimed_max_diff: float | None = None
    claimed_runtime_ms: float | None = None
    claimed_eager_ms: float | None = None
    claimed_compile_ms: float | None = None
    claimed_speedup_eager: float | None = None
    claimed_speedup_compile: float | None = None
    source_meta: str = ""          # JSON object of source-specific fields kept for a lossless export

    def key(self) -> tuple[str, str, str]:
        return (self.kernel_sha256, self.task_id, self.device)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["flags"] = list(self.flags)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Row":
        kw = {f.name: d.get(f.name) for f in dataclasses.fields(cls) if f.name in d}
        kw["flags"] = tuple(kw.get("flags") or ())
        return cls(**kw)


_STR, _F64, _BOOL, _I32 = Value("string"), Value("float64"), Value("bool"), Value("int32")
FEATURES = Features(
    {
        "task_id": _STR, "op_name": _STR, "level": _I32, "task_code": _STR, "functional_code": _STR,
        "kernel_code": _STR, "kernel_format": _STR, "backend": _STR, "status": _STR, "correct": _BOOL,
        "max_abs_diff": _F64, "rel_error": _F64, "runtime_ms": _F64, "runtime_iqr_ms": _F64,
        "torch_eager_ms": _F64, "torch_compile_ms": _F64, "speedup_eager": _F64, "speedup_compile": _F64,
        "flags": List(_STR), "error": _STR, "device": _STR, "torch_version": _STR, "cuda_version": _STR,
        "harness_version": _STR, "verdict_json": _STR, "parent_id": _STR, "generation": _I32,
        "operator": _STR, "model": _STR, "run_id": _STR, "kernel_sha256": _STR, "created_at": _STR,
        "source": _STR, "claimed_correct": _BOOL, "claimed_max_diff": _F64, "claimed_runtime_ms": _F64,
        "claimed_eager_ms": _F64, "claimed_compile_ms": _F64, "claimed_speedup_eager": _F64,
        "claimed_speedup_compile": _F64, "source_meta": _STR,
    }
)
COLUMNS: tuple[str, ...] = tuple(FEATURES)
ARROW_SCHEMA: pa.Schema = FEATURES.arrow_schema
assert COLUMNS == tuple(f.name for f in dataclasses.fields(Row)), "Row and FEATURES must list the same columns"
KEY_COLUMNS = ("kernel_sha256", "task_id", "device")


def split_for_level(level: int | None) -> str:
    """Sakana's split naming: level_1, level_2, ...; an unknown level goes to level_0."""
    return f"level_{level}" if isinstance(level, int) and level > 0 else "level_0"


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def row_from_verdict(
    verdict: Verdict,
    *,
    task: TaskRef,
    kernel_code: str,
    functional_code: str = "",
    parent_id: str | None = None,
    generation: int = 0,
    operator: str = "",
    model: str = "",
    run_id: str = "",
) -> Row:
    """One archive row from a harness verdict plus the kernel's lineage."""
    t = verdict.timing
    return Row(
        task_id=task.task_id,
        op_name=task.op_name,
        level=task.level,
        task_code=task.source,
        functional_code=functional_code,
        kernel_code=kernel_code,
        kernel_format=verdict.format,
        backend=verdict.env.backend,
        status=verdict.status,
        correct=verdict.status == "verified",
        max_abs_diff=verdict.max_abs_diff,
        rel_error=verdict.rel_error,
        runtime_ms=t.kernel.median_ms if t else None,
        runtime_iqr_ms=t.kernel.iqr_ms if t else None,
        torch_eager_ms=t.eager.median_ms if t and t.eager else None,
        torch_compile_ms=t.compiled.median_ms if t and t.compiled else None,
        speedup_eager=t.speedup_eager if t else None,
        speedup_compile=t.speedup_compile if t else None,
        flags=tuple(verdict.flags),
        error=verdict.error,
        device=verdict.env.device,
        torch_version=verdict.env.torch_version,
        cuda_version=verdict.env.cuda_version,
        harness_version=verdict.env.harness_version,
        verdict_json=verdict.to_json(),
        parent_id=parent_id,
        generation=generation,
        operator=operator,
        model=model,
        run_id=run_id,
        kernel_sha256=verdict.kernel_sha256 or sha256_text(kernel_code),
        created_at=now_iso(),
    )


def rows_to_table(rows: Iterable[Row]) -> pa.Table:
    """Rows as an Arrow table with exactly `ARROW_SCHEMA`."""
    cols: dict[str, list[Any]] = {c: [] for c in COLUMNS}
    for r in rows:
        for c in COLUMNS:
            v = getattr(r, c)
            cols[c].append(list(v) if c == "flags" else v)
    return pa.table(cols, schema=ARROW_SCHEMA)


def table_to_rows(table: pa.Table) -> list[Row]:
    return [Row.from_dict(d) for d in conform(table).to_pylist()]


def conform(table: pa.Table) -> pa.Table:
    """Give a table exactly our columns and types: missing columns become nulls, extra ones are dropped."""
    arrays = []
    for f in ARROW_SCHEMA:
        if f.name in table.column_names:
            col = table.column(f.name)
            arrays.append(col if col.type == f.type else col.cast(f.type))
        else:
            arrays.append(pa.nulls(table.num_rows, f.type))
    return pa.Table.from_arrays(arrays, schema=ARROW_SCHEMA)


def table_keys(table: pa.Table) -> list[tuple[str, str, str]]:
    """The dedup key (kernel_sha256, task_id, device) of every row, reading only those columns."""
    cols = [table.column(c).to_pylist() for c in KEY_COLUMNS]
    return [(a or "", b or "", c or "") for a, b, c in zip(*cols)]


def validate_table(table: pa.Table) -> None:
    """Refuse rows that would poison the archive (a clear error, not a traceback)."""
    bad = set(table.column("status").to_pylist()) - set(ROW_STATUSES)
    if bad:
        raise ArchiveError(f"rows carry unknown status {sorted(map(str, bad))}; allowed: {', '.join(ROW_STATUSES)}")
    st, ok = table.column("status").to_pylist(), table.column("correct").to_pylist()
    if any(c and s != "verified" for s, c in zip(st, ok)):
        raise ArchiveError("a row has correct=True but status != 'verified'; only verified kernels are correct")
    if any(not k for k in table.column("kernel_sha256").to_pylist()):
        raise ArchiveError("a row has no kernel_sha256; build rows with hub.schema.row_from_verdict")


def meta_json(d: dict[str, Any]) -> str:
    return json.dumps(d, sort_keys=True, default=str)


def as_rows(rows: Sequence[Row] | pa.Table) -> pa.Table:
    return conform(rows) if isinstance(rows, pa.Table) else rows_to_table(rows)


__all__ = [
    "ARROW_SCHEMA", "COLUMNS", "FEATURES", "KEY_COLUMNS", "ROW_STATUSES", "ArchiveError", "Row",
    "as_rows", "conform", "meta_json", "now_iso", "row_from_verdict", "rows_to_table", "split_for_level",
    "table_keys", "table_to_rows", "validate_table",
]
