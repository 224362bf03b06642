"""The innovation archive: verified kernels retrieved from any ArchiveStore as stepping stones.

Reads a store (local, pulled from the Hub, or imported from Sakana) and returns
verified kernels as prompt shots, most useful first:
1. the same task's fastest kernels (only when asked: `same_task=True`, as the
   optimize stage does; translate prompts show other tasks only, and a
   same-task archive kernel is a seed there, see pipeline/starter.py);
2. kernels of other tasks, ranked by a simple, explained similarity
   (`similarity`): the same op name counts 2, the same op *family* 1 (ops of
   one family share their performance structure: tiled MMA for matmul and
   conv, block or warp reductions for reductions and normalizations,
   vectorised streaming for elementwise ops, so a fast sibling is a usable
   template), the overlap of op-name words up to 1 and the similarity of the
   task code up to 0.5.
Prompt size stays bounded: at most `k` stones, each cut to `max_chars`, all of
them within `budget_chars`. Retrieval never fails a run: an unreadable or empty
archive gives no stepping stones.
"""
from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from typing import Any, Iterable

from harness.types import TaskRef
from hub.store import ArchiveStore
from pipeline.population import source_hash
from pipeline.prompts import Shot

MAX_STONE_CHARS = 6000        # one stepping stone's code, cut beyond this
STONES_BUDGET_CHARS = 14000   # all stepping stones of one prompt together

# op families, checked in this order: a fused op belongs to the family of its costliest part
FAMILIES: tuple[tuple[str, frozenset[str]], ...] = (
    ("matmul", frozenset({"matmul", "mm", "bmm", "matvec", "gemm", "gemv", "linear", "conv", "conv1d", "conv2d",
                          "conv3d", "einsum", "attention"})),
    ("normalization", frozenset({"softmax", "layernorm", "rmsnorm", "batchnorm", "groupnorm", "instancenorm",
                                 "normalize", "norm", "logsumexp"})),
    ("reduction", frozenset({"sum", "mean", "max", "min", "prod", "argmax", "argmin", "cumsum", "cumprod", "reduce"})),
    ("elementwise", frozenset({"relu", "gelu", "tanh", "sigmoid", "silu", "swish", "elu", "selu", "add", "mul", "sub",
                               "div", "scale", "bias", "residual", "broadcast", "exp", "clamp", "hardtanh", "leaky"})),
)


@dataclass(frozen=True)
class ArchivedKernel:
    task_id: str
    op_name: str
    kernel_code: str
    speedup: float | None
    backend: str
    task_code: str = ""
    kernel_sha256: str = ""
    bandwidth_fraction: float | None = None   # from the verdict's timing, where the harness reported it
    flops_fraction: float | None = None


def _rows(store: ArchiveStore) -> Iterable[dict[str, Any]]:
    try:
        data = store.read()
    except Exception:
        return []
    if hasattr(data, "values") and not hasattr(data, "column_names"):   # a DatasetDict
        return [r for split in data.values() for r in split]
    return list(data) if data is not None else []


def _fractions(verdict_json: str | None) -> tuple[float | None, float | None]:
    try:
        timing = json.loads(verdict_json or "{}").get("timing") or {}
    except (ValueError, AttributeError):
        return None, None
    return timing.get("bandwidth_fraction"), timing.get("flops_fraction")


def verified_kernels(store: ArchiveStore, *, backend: str | None = None) -> list[ArchivedKernel]:
    out = []
    for r in _rows(store):
        if r.get("status") != "verified" or not r.get("kernel_code"):
            continue
        if backend and r.get("backend") and r.get("backend") != backend:
            continue
        bw, fl = _fractions(r.get("verdict_json"))
        out.append(ArchivedKernel(task_id=r.get("task_id", ""), op_name=r.get("op_name", ""),
                                  kernel_code=r["kernel_code"], speedup=r.get("speedup_eager"),
                                  backend=r.get("backend", ""), task_code=r.get("task_code", "") or "",
                                  kernel_sha256=r.get("kernel_sha256", ""), bandwidth_fraction=bw, flops_fraction=fl))
    return out


def _tokens(name: str) -> set[str]:
    return {t for t in re.split(r"[^a-z0-9]+", name.lower()) if t}


def family(op_name: str) -> str:
    """The op's family ("matmul", "normalization", "reduction", "elementwise"), or "" when none matches."""
    words = _tokens(op_name)
    return next((name for name, members in FAMILIES if words & members), "")


def similarity(task: TaskRef, other: ArchivedKernel) -> float:
    """How useful `other` is as a template for `task` (see the module docstring for the weights)."""
    mine, theirs = _tokens(task.op_name), _tokens(other.op_name)
    score = 2.0 if task.op_name and task.op_name == other.op_name else 0.0
    score += 1.0 if family(task.op_name) and family(task.op_name) == family(other.op_name) else 0.0
    score += len(mine & theirs) / max(1, len(mine | theirs))
    if other.task_code:
        score += 0.5 * difflib.SequenceMatcher(None, task.source[:2000], other.task_code[:2000]).quick_ratio()
    return score


def best_for_task(kernels: list[ArchivedKernel], task: TaskRef) -> ArchivedKernel | None:
    """The fastest verified kernel of the same task id, else of the same op name."""
    for match in (lambda k: k.task_id == task.task_id, lambda k: k.op_name == task.op_name):
        hits = [k for k in kernels if match(k)]
        if hits:
            return max(hits, key=lambda k: k.speedup or 0.0)
    return None


def related(kernels: list[ArchivedKernel], task: TaskRef, k: int = 2) -> list[ArchivedKernel]:
    """Verified kernels of *other* tasks, most similar first, one per op (the fastest at equal similarity)."""
    scored = sorted(((similarity(task, a), a.speedup or 0.0, a) for a in kernels if a.task_id != task.task_id),
                    key=lambda t: (-t[0], -t[1]))
    seen, out = set(), []
    if k <= 0:
        return out
    for _, _, a in scored:
        if a.op_name in seen:
            continue
        seen.add(a.op_name)
        out.append(a)
        if len(out) == k:
            break
    return out


def _label(a: ArchivedKernel, task: TaskRef) -> str:
    why = ("same task" if a.task_id == task.task_id else "same op" if a.op_name == task.op_name
           else f"same family: {family(a.op_name)}" if family(a.op_name) and family(a.op_name) == family(task.op_name)
           else "related op")
    parts = [f"{a.op_name} ({a.task_id}, {why})"]
    if a.speedup:
        parts.append(f"speedup {a.speedup:.3g}x vs eager")
    if a.bandwidth_fraction is not None:
        parts.append(f"{a.bandwidth_fraction:.0%} of peak bandwidth")
    if a.flops_fraction is not None:
        parts.append(f"{a.flops_fraction:.0%} of peak FLOP/s")
    return ", ".join(parts)


def _cut(code: str, max_chars: int) -> str:
    if len(code) <= max_chars:
        return code
    return code[:max_chars].rstrip() + f"\n// [... {len(code) - max_chars} more characters cut]\n"


def stepping_stones(store: ArchiveStore | None, task: TaskRef, *, backend: str, k: int = 2, same_task: bool = False,
                    exclude: frozenset[str] = frozenset(), max_chars: int = MAX_STONE_CHARS,
                    budget_chars: int = STONES_BUDGET_CHARS) -> tuple[Shot, ...]:
    """Prompt shots of verified kernels from the archive: the same task's fastest first when `same_task`
    (at most k-1 of them, so a related op still gets a slot when k > 1), then related ops, within the size bounds.
    `exclude`: normalized-source hashes (`pipeline.population.source_hash`) of kernels the prompt shows anyway."""
    if store is None or k <= 0:
        return ()
    kernels = [a for a in verified_kernels(store, backend=backend) if source_hash(a.kernel_code) not in exclude]
    picks: list[ArchivedKernel] = []
    if same_task:
        own = sorted((a for a in kernels if a.task_id == task.task_id), key=lambda a: -(a.speedup or 0.0))
        seen: set[str] = set()
        for a in own:
            if a.kernel_code not in seen and len(picks) < max(1, k - 1):
                seen.add(a.kernel_code)
                picks.append(a)
    if k > len(picks):
        picks += related(kernels, task, k - len(picks))
    out, used = [], 0
    for a in picks:
        code = _cut(a.kernel_code, max_chars)
        if used + len(code) > budget_chars:
            continue
        used += len(code)
        out.append(Shot(code=code, label=_label(a, task)))
    return tuple(out)
