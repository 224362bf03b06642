"""Sakana interop: Sakana AI's 19-column archive (`SakanaAI/AI-CUDA-Engineer-Archive`) to our rows and back.

Imported rows get `status="unverified"`, `correct=False` and `source="sakana"`;
what Sakana measured goes to the `claimed_*` columns, never to our measured
ones, and the columns we have no place for (kernel name, profiles, clang-tidy,
pandas index, the original Op_Name/Task_ID) go to `source_meta` so an export
gives back the same 19 columns. `kernel-evolve archive reverify` judges them.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from hub.schema import ARROW_SCHEMA, ArchiveError, conform, now_iso
from hub.store import ArchiveStore

SAKANA_SCHEMA = pa.schema([
    ("Op_Name", pa.string()), ("Level_ID", pa.int64()), ("Task_ID", pa.int64()), ("Kernel_Name", pa.string()),
    ("CUDA_Runtime", pa.float64()), ("PyTorch_Native_Runtime", pa.float64()),
    ("PyTorch_Compile_Runtime", pa.float64()), ("CUDA_Speedup_Native", pa.float64()),
    ("CUDA_Speedup_Compile", pa.float64()), ("CUDA_Code", pa.string()), ("PyTorch_Code_Module", pa.string()),
    ("PyTorch_Code_Functional", pa.string()), ("Correct", pa.bool_()), ("Max_Diff", pa.float64()),
    ("Error", pa.string()), ("NCU_Profile", pa.string()), ("Torch_Profile", pa.string()),
    ("Clang_Tidy", pa.string()), ("__index_level_0__", pa.int64()),
])
SAKANA_COLUMNS = tuple(SAKANA_SCHEMA.names)
_META = ("Op_Name", "Task_ID", "Kernel_Name", "NCU_Profile", "Torch_Profile", "Clang_Tidy", "__index_level_0__")
_CLAIMS = {  # ours <- theirs
    "claimed_correct": "Correct", "claimed_max_diff": "Max_Diff", "claimed_runtime_ms": "CUDA_Runtime",
    "claimed_eager_ms": "PyTorch_Native_Runtime", "claimed_compile_ms": "PyTorch_Compile_Runtime",
    "claimed_speedup_eager": "CUDA_Speedup_Native", "claimed_speedup_compile": "CUDA_Speedup_Compile",
}
_MEASURED = {  # theirs <- ours, for rows our harness judged
    "Correct": "correct", "Max_Diff": "max_abs_diff", "CUDA_Runtime": "runtime_ms",
    "PyTorch_Native_Runtime": "torch_eager_ms", "PyTorch_Compile_Runtime": "torch_compile_ms",
    "CUDA_Speedup_Native": "speedup_eager", "CUDA_Speedup_Compile": "speedup_compile",
}


def normalize_op_name(op: str) -> str:
    """"23_Softmax" -> "softmax": the short name used for retrieval of related ops."""
    return re.sub(r"^\d+_", "", op or "").strip("_").lower() or "unknown"


def from_sakana(table: pa.Table) -> pa.Table:
    """Sakana rows -> our schema (status unverified, claims kept apart)."""
    missing = [c for c in SAKANA_COLUMNS if c not in table.column_names and c != "__index_level_0__"]
    if missing:
        raise ArchiveError(f"not Sakana's archive schema: missing column(s) {', '.join(missing)}")
    t = {c: table.column(c).to_pylist() if c in table.column_names else [None] * table.num_rows for c in SAKANA_COLUMNS}
    n, now = table.num_rows, now_iso()
    codes = [c or "" for c in t["CUDA_Code"]]
    metas = []
    for i in range(n):
        m = {k: t[k][i] for k in _META}
        if t["Error"][i] is None:
            m["Error_null"] = True
        metas.append(json.dumps(m, sort_keys=True))
    cols = {
        "task_id": [f"sakana/level{lv}/{op}" for lv, op in zip(t["Level_ID"], t["Op_Name"])],
        "op_name": [normalize_op_name(op) for op in t["Op_Name"]],
        "level": t["Level_ID"],
        "task_code": [s or "" for s in t["PyTorch_Code_Module"]],
        "functional_code": [s or "" for s in t["PyTorch_Code_Functional"]],
        "kernel_code": codes,
        "kernel_format": ["A"] * n, "backend": ["cuda"] * n, "status": ["unverified"] * n, "correct": [False] * n,
        "flags": [[] for _ in range(n)],
        "error": [e or "" for e in t["Error"]],
        "device": [""] * n, "torch_version": [""] * n, "cuda_version": [""] * n, "harness_version": [""] * n,
        "verdict_json": [""] * n, "generation": [0] * n, "operator": ["sakana-import"] * n, "model": [""] * n,
        "run_id": [""] * n, "created_at": [now] * n, "source": ["sakana"] * n, "source_meta": metas,
        "kernel_sha256": [hashlib.sha256(c.encode("utf-8")).hexdigest() for c in codes],
    }
    for ours, theirs in _CLAIMS.items():
        cols[ours] = t[theirs]
    arrays = [pa.array(cols[f.name], f.type) if f.name in cols else pa.nulls(n, f.type) for f in ARROW_SCHEMA]
    return pa.Table.from_arrays(arrays, schema=ARROW_SCHEMA)


_KERNEL_NAME = re.compile(r"__global__\s+(?:[\w:<>\s\*]+?\s)?(\w+)\s*\(")


def to_sakana(table: pa.Table) -> pa.Table:
    """Our rows -> Sakana's 19 columns. Unverified rows export their claims; judged rows our measurements."""
    t = conform(table).to_pylist()
    out: dict[str, list] = {c: [] for c in SAKANA_COLUMNS}
    for i, r in enumerate(t):
        meta = json.loads(r["source_meta"]) if r["source_meta"] else {}
        judged = r["status"] != "unverified"
        name = _KERNEL_NAME.search(r["kernel_code"] or "")
        lead = re.match(r"(\d+)_", r["op_name"] or "")
        out["Op_Name"].append(meta.get("Op_Name", r["op_name"]))
        out["Level_ID"].append(r["level"])
        out["Task_ID"].append(meta.get("Task_ID", int(lead.group(1)) if lead else 0))
        out["Kernel_Name"].append(meta.get("Kernel_Name", name.group(1) if name else ""))
        for theirs, ours in _MEASURED.items():
            claim = next(k for k, v in _CLAIMS.items() if v == theirs)
            out[theirs].append(r[ours] if judged else r[claim])
        out["CUDA_Code"].append(r["kernel_code"])
        out["PyTorch_Code_Module"].append(r["task_code"])
        out["PyTorch_Code_Functional"].append(r["functional_code"])
        if judged:
            out["Error"].append(r["error"] or None)
        else:
            out["Error"].append(None if meta.get("Error_null") else r["error"])
        for k in ("NCU_Profile", "Torch_Profile", "Clang_Tidy"):
            out[k].append(meta.get(k))
        out["__index_level_0__"].append(meta.get("__index_level_0__", i))
    return pa.table(out, schema=SAKANA_SCHEMA)


def iter_source(source: str) -> Iterator[tuple[str, pa.Table]]:
    """(label, table) for a parquet file, a folder of them, or a Hub dataset id."""
    p = Path(source).expanduser()
    if p.is_file():
        yield str(p), _read_parquet(p)
    elif p.is_dir():
        files = sorted(p.rglob("*.parquet"))
        if not files:
            raise ArchiveError(f"no .parquet files under {p}")
        for f in files:
            yield str(f), _read_parquet(f)
    elif re.fullmatch(r"[\w.-]+/[\w.-]+", source):
        import datasets

        try:
            dd = datasets.load_dataset(source)
        except Exception as e:  # noqa: BLE001 - datasets raises many kinds; the message is what matters
            raise ArchiveError(f"cannot load the Hub dataset {source!r}: {e}") from None
        for split, ds in dd.items():
            yield f"{source}:{split}", ds.data.table
    else:
        raise ArchiveError(f"{source!r} is neither a parquet file, a folder, nor a Hub dataset id (owner/name)")


def _read_parquet(path: Path) -> pa.Table:
    try:
        return pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as e:
        raise ArchiveError(f"{path} is not a readable parquet file: {e}") from None


def import_sakana(store: ArchiveStore, source: str, *, progress: bool = True, message: str | None = None) -> int:
    """Append Sakana-schema rows from `source` to `store` as one commit; return the number of new rows."""
    from tqdm.auto import tqdm

    parts = []
    for label, table in tqdm(iter_source(source), desc="convert", unit="file", disable=not progress):
        parts.append(from_sakana(table))
    table = pa.concat_tables(parts) if parts else ARROW_SCHEMA.empty_table()
    before = _rows(store)
    store.append(table, message or f"Import {table.num_rows} Sakana-schema rows from {source} (unverified)")
    return _rows(store) - before


def _rows(store: ArchiveStore) -> int:
    summary = getattr(store, "summary", None)
    return summary().rows if summary else store.read().num_rows


def export_sakana(store: ArchiveStore, out: str | Path, *, revision: str | None = None) -> list[Path]:
    """Write the archive in Sakana's schema: OUT.parquet (one file) or OUT/<split>.parquet (a folder)."""
    table = store.read(revision).data.table
    out = Path(out).expanduser()
    sak = to_sakana(table)
    if out.suffix == ".parquet":
        out.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(sak, out)
        return [out]
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for level in sorted(set(sak.column("Level_ID").to_pylist()), key=lambda v: (v is None, v)):
        col = sak.column("Level_ID")
        mask = pc.equal(col, level) if level is not None else pc.is_null(col)
        dest = out / f"level_{level or 0}.parquet"
        pq.write_table(sak.filter(mask), dest)
        written.append(dest)
    return written
