"""Training examples: archive rows -> TRL conversational prompt/completion datasets.

This module owns which archive rows teach the model and how they are shown to
it. A *translation* example is the pipeline's own translate prompt
(`pipeline.prompts.build_messages("translate", ...)`) with a verified kernel as
the assistant turn. A *repair* example is the translate prompt that carries a
failed kernel and the harness's feedback on it (exactly what the pipeline's
repair step sends) with the verified kernel that was made from it.

Rows are filtered (status `verified`, a minimum speedup, no library calls
unless allowed), reduced to the best kernel per task and backend (or the top
k), and split into train/eval **by task**: a task's split is decided by a hash
of its id alone, so no task is ever in both splits and adding tasks never
moves an existing one.
"""
from __future__ import annotations

import hashlib
import json
import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from harness.types import TaskRef, Verdict, sha256_text
from hub.schema import Row
from pipeline.prompts import build_messages, summarize_verdict

#: flags that disqualify a verified kernel from teaching anything, whatever the options
NEVER_TEACH_FLAGS = frozenset({"implausible", "timing_escape"})
LIBRARY_FLAG = "library_call"
#: statuses of a failed attempt worth repairing (a rejected completion usually holds no kernel at all)
REPAIRABLE = frozenset({"compile_error", "incorrect", "runtime_error", "timeout"})
SPLITS = ("train", "eval")


class ExampleError(ValueError):
    """Options that cannot build a dataset; the message says which to change."""


@dataclass(frozen=True)
class ExampleOptions:
    """How rows become examples."""

    min_speedup: float = 0.0            # keep verified rows whose speedup vs eager is at least this (0: any)
    allow_library_calls: bool = False   # keep kernels flagged as calling ATen/cuBLAS/... compute ops
    top_k: int = 1                      # kernels per (task, backend): 1 = best only
    eval_fraction: float = 0.1          # share of *tasks* (by hash of the id) that go to the eval split
    repairs: bool = True                # also emit repair examples from lineage (parent_id links)
    split_salt: str = "kernel-evolve"   # changes which tasks land in eval, deterministically

    def __post_init__(self) -> None:
        if self.top_k < 1:
            raise ExampleError(f"top_k must be at least 1 (got {self.top_k})")
        if not 0.0 <= self.eval_fraction < 1.0:
            raise ExampleError(f"eval_fraction must be in [0, 1) (got {self.eval_fraction})")
        if self.min_speedup < 0 or not math.isfinite(self.min_speedup):
            raise ExampleError(f"min_speedup must be a finite number >= 0 (got {self.min_speedup})")


def split_of(task_id: str, eval_fraction: float, salt: str = "kernel-evolve") -> str:
    """'eval' or 'train' for a task, from a hash of its id alone (stable across archives and runs)."""
    h = int.from_bytes(hashlib.sha256(f"{salt}\0{task_id}".encode()).digest()[:8], "big")
    return "eval" if h / 2.0**64 < eval_fraction else "train"


def as_row(r: Row | Mapping[str, Any]) -> Row:
    return r if isinstance(r, Row) else Row.from_dict(dict(r))


def task_of(row: Row) -> TaskRef:
    """The task a row was judged on, described for the prompt builder (never executed)."""
    return TaskRef(task_id=row.task_id, path="", source=row.task_code or "", sha256=sha256_text(row.task_code or ""),
                   level=int(row.level or 0), op_name=row.op_name or row.task_id.rsplit("/", 1)[-1],
                   functional=bool(row.functional_code) or "module_fn" in (row.task_code or ""))


def library_calls(row: Row) -> tuple[str, ...]:
    try:
        return tuple(json.loads(row.verdict_json or "{}").get("library_calls", ()))
    except (ValueError, AttributeError):
        return ()


def teachable(row: Row, opts: ExampleOptions, *, check_speed: bool = True) -> bool:
    """A verified, honest kernel that passes the options' filters."""
    if row.status != "verified" or not row.correct or not (row.kernel_code or "").strip():
        return False
    flags = set(row.flags or ())
    if flags & NEVER_TEACH_FLAGS:
        return False
    if not opts.allow_library_calls and (LIBRARY_FLAG in flags or library_calls(row)):
        return False
    if check_speed and opts.min_speedup > 0:
        s = row.speedup_eager
        if s is None or not math.isfinite(s) or s < opts.min_speedup:
            return False
    return True


def fence(code: str) -> str:
    """A kernel as the assistant answers it: one ```cpp block, as the system prompt asks."""
    return f"```cpp\n{code.rstrip()}\n```"


def prompt_for(row: Row, *, previous: str = "", feedback: str = "") -> list[dict[str, str]]:
    """The translate prompt the pipeline sends for this row's task (with a failed attempt for a repair)."""
    return build_messages("translate", task_of(row), backend=row.backend or "cpu",
                          functional_source=row.functional_code or None, previous=previous, feedback=feedback)


def _example(kind: str, prompt: list[dict[str, str]], target: Row, parent: Row | None = None) -> dict[str, Any]:
    return {
        "prompt": prompt,
        "completion": [{"role": "assistant", "content": fence(target.kernel_code)}],
        "kind": kind,
        "task_id": target.task_id,
        "level": int(target.level or 0),
        "backend": target.backend or "",
        "speedup": target.speedup_eager,
        "kernel_sha256": target.kernel_sha256,
        "parent_sha256": parent.kernel_sha256 if parent else "",
    }


def _speed(r: Row) -> float:
    s = r.speedup_eager
    return s if s is not None and math.isfinite(s) else 0.0


def select(rows: Iterable[Row], opts: ExampleOptions) -> list[Row]:
    """The top-k teachable kernels per (task, backend), fastest first; one row per kernel."""
    best: dict[tuple[str, str, str], Row] = {}
    for r in rows:
        if teachable(r, opts):
            key = (r.task_id, r.backend or "", r.kernel_sha256)
            if key not in best or _speed(r) > _speed(best[key]):   # the same kernel judged on several devices
                best[key] = r
    groups: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for (tid, backend, _), r in best.items():
        groups[(tid, backend)].append(r)
    out: list[Row] = []
    for key in sorted(groups):
        out.extend(sorted(groups[key], key=lambda r: (-_speed(r), r.kernel_sha256))[: opts.top_k])
    return out


def row_ids(row: Row) -> list[str]:
    """The ids a child's `parent_id` may use for this row: its kernel hash, and a member id in source_meta."""
    ids = [row.kernel_sha256]
    try:
        meta = json.loads(row.source_meta) if row.source_meta else {}
    except ValueError:
        meta = {}
    if isinstance(meta, dict):
        ids += [str(meta[k]) for k in ("member_id", "id") if meta.get(k)]
    return [i for i in ids if i]


def repair_pairs(rows: list[Row], opts: ExampleOptions) -> list[tuple[Row, Row]]:
    """(failed parent, verified child) pairs linked by the child's parent_id, one per pair of kernels."""
    by_id: dict[str, Row] = {}
    for r in rows:
        for i in row_ids(r):
            by_id.setdefault(i, r)
    pairs: dict[tuple[str, str], tuple[Row, Row]] = {}
    for child in rows:
        if not child.parent_id or not teachable(child, opts, check_speed=False):
            continue
        parent = by_id.get(child.parent_id)
        if parent is None or parent.status not in REPAIRABLE or not (parent.kernel_code or "").strip():
            continue
        if parent.task_id != child.task_id or (parent.backend or "") != (child.backend or ""):
            continue
        pairs.setdefault((parent.kernel_sha256, child.kernel_sha256), (parent, child))
    return [pairs[k] for k in sorted(pairs)]


def feedback_for(row: Row) -> str:
    """The designed feedback the pipeline would have sent about this failed row."""
    try:
        return summarize_verdict(Verdict.from_json(row.verdict_json))
    except (ValueError, KeyError, TypeError):
        return f"Status: {row.status}." + (f"\nError excerpt:\n{row.error}" if row.error else "")


def build_records(rows: Iterable[Row | Mapping[str, Any]], opts: ExampleOptions = ExampleOptions()
                  ) -> dict[str, list[dict[str, Any]]]:
    """Examples as plain records per split (the DatasetDict's content, without `datasets`)."""
    all_rows = [as_row(r) for r in rows]
    records: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
    for r in select(all_rows, opts):
        records[split_of(r.task_id, opts.eval_fraction, opts.split_salt)].append(
            _example("translate", prompt_for(r), r))
    if opts.repairs:
        for parent, child in repair_pairs(all_rows, opts):
            prompt = prompt_for(child, previous=parent.kernel_code, feedback=feedback_for(parent))
            records[split_of(child.task_id, opts.eval_fraction, opts.split_salt)].append(
                _example("repair", prompt, child, parent))
    return records


def features():
    """The columns of an example dataset (explicit, so an empty split still has them)."""
    from datasets import Features, List, Value

    msg = List({"role": Value("string"), "content": Value("string")})
    return Features({
        "prompt": msg, "completion": msg, "kind": Value("string"), "task_id": Value("string"),
        "level": Value("int32"), "backend": Value("string"), "speedup": Value("float64"),
        "kernel_sha256": Value("string"), "parent_sha256": Value("string"),
    })


def build_examples(rows: Iterable[Row | Mapping[str, Any]], *, split_by: str = "task",
                   options: ExampleOptions = ExampleOptions()):
    """A `datasets.DatasetDict` with `train` and `eval` splits of conversational prompt/completion examples."""
    if split_by != "task":
        raise ExampleError(f"split_by={split_by!r} is not supported: examples are split by task so none leaks")
    from datasets import Dataset, DatasetDict

    records = build_records(rows, options)
    feats = features()
    cols = {s: {k: [r[k] for r in records[s]] for k in feats} for s in SPLITS}
    return DatasetDict({s: Dataset.from_dict(cols[s], features=feats) for s in SPLITS})


def examples_from_store(store: Any, *, revision: str | None = None, options: ExampleOptions = ExampleOptions()):
    """Examples from an `ArchiveStore` (local path or Hub repo) at a revision."""
    ds = store.read(revision)
    return build_examples((Row.from_dict(d) for d in ds.to_list()) if hasattr(ds, "to_list") else ds,
                          options=options)


def summary(dd: Mapping[str, Any]) -> dict[str, Any]:
    """Counts per split and kind, and the tasks in each split (for logs, the model card and `finetune eval`)."""
    out: dict[str, Any] = {}
    for s in SPLITS:
        d = dd[s]
        kinds = list(d["kind"]) if len(d) else []
        task_ids = sorted(set(d["task_id"])) if len(d) else []
        out[s] = {"examples": len(d), "translate": kinds.count("translate"), "repair": kinds.count("repair"),
                  "tasks": len(task_ids), "task_ids": task_ids}
    return out
