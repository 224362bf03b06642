"""The dataset card: an archive's statistics, and its README.md kept through `huggingface_hub.DatasetCard`.

Statistics are kept per shard (`Summary`) and merged, so updating the card on
every append costs the number of shards, not the number of rows. The card is
updated *in place*: `update_card` parses the README.md at the head commit with
`DatasetCard`, rewrites only the metadata kernel-evolve owns (`configs` for the
splits that exist, `dataset_info` from `datasets.DatasetInfo`, `license` and
`source_datasets` from the rows' sources, `size_categories`, our tags) and the
body between the `kernel-evolve:managed` markers; edits made by hand anywhere
else (on the Hub or locally) survive. A fresh card comes from
`hub/templates/dataset_card.md.j2` (package data, so an installed wheel has it).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import pyarrow as pa

TEMPLATES = Path(__file__).resolve().parent / "templates"
TEMPLATE = TEMPLATES / "dataset_card.md.j2"
MANAGED_TEMPLATE = TEMPLATES / "dataset_card_managed.md.j2"
BEGIN = "<!-- kernel-evolve:managed:begin (rewritten on every append; edit outside this block) -->"
END = "<!-- kernel-evolve:managed:end -->"
OUR_TAGS = ("cuda", "gpu-kernels", "code", "kernel-evolve", "verified")
OWN_SOURCE = "kernel-evolve"


@dataclass(frozen=True)
class SourceTerms:
    """What a row source's license asks of this archive."""

    license: str                  # a Hub license id
    dataset: str | None           # the Hub dataset it came from (for `source_datasets`)
    origin: str                   # one line for the card's table
    attribution: str = ""         # the notice its license requires ("" when none)


SOURCES: dict[str, SourceTerms] = {
    OWN_SOURCE: SourceTerms("apache-2.0", None, "judged by the kernel-evolve harness"),
    "sakana": SourceTerms(
        "cc-by-4.0", "SakanaAI/AI-CUDA-Engineer-Archive",
        "[SakanaAI/AI-CUDA-Engineer-Archive](https://huggingface.co/datasets/SakanaAI/AI-CUDA-Engineer-Archive)",
        "Rows with `source == \"sakana\"` come from Sakana AI's *AI CUDA Engineer* archive "
        "(Lange et al., \"The AI CUDA Engineer\", Sakana AI, 2025), released under "
        "[CC BY 4.0](https://creativecommons.org/licenses/by/4.0/). Changes made here: its 19 columns were "
        "mapped to this schema, its measurements moved to the `claimed_*` columns, and each row is "
        "`unverified` until kernel-evolve's harness judges it."),
}
UNKNOWN_TERMS = SourceTerms("other", None, "unknown: check this source's license before reusing these rows")


@dataclass
class Summary:
    """Mergeable statistics of some rows."""

    rows: int = 0
    splits: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    tasks: set[str] = field(default_factory=set)
    devices: set[str] = field(default_factory=set)
    verified: int = 0
    # level -> [sum of log(speedup_eager), count] over verified rows with a speedup
    log_speedup: dict[str, list[float]] = field(default_factory=dict)
    sources: dict[str, int] = field(default_factory=dict)     # row `source` -> rows
    split_bytes: dict[str, int] = field(default_factory=dict)  # split -> uncompressed bytes (parquet metadata)

    def merge(self, other: "Summary") -> "Summary":
        self.rows += other.rows
        for mine, theirs in ((self.splits, other.splits), (self.statuses, other.statuses),
                             (self.sources, other.sources), (self.split_bytes, other.split_bytes)):
            for k, v in theirs.items():
                mine[k] = mine.get(k, 0) + v
        self.tasks |= other.tasks
        self.devices |= other.devices
        self.verified += other.verified
        for k, (s, n) in other.log_speedup.items():
            acc = self.log_speedup.setdefault(k, [0.0, 0])
            acc[0] += s
            acc[1] += n
        return self

    def to_json(self) -> dict[str, Any]:
        return {
            "rows": self.rows, "splits": self.splits, "statuses": self.statuses, "tasks": sorted(self.tasks),
            "devices": sorted(self.devices), "verified": self.verified, "log_speedup": self.log_speedup,
            "sources": self.sources, "split_bytes": self.split_bytes,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Summary":
        return cls(
            rows=d["rows"], splits=dict(d["splits"]), statuses=dict(d["statuses"]), tasks=set(d["tasks"]),
            devices=set(d["devices"]), verified=d["verified"],
            log_speedup={k: list(v) for k, v in d["log_speedup"].items()},
            sources=dict(d["sources"]), split_bytes=dict(d["split_bytes"]),
        )

    def geomean_speedups(self) -> dict[str, float]:
        return {k: math.exp(s / n) for k, (s, n) in sorted(self.log_speedup.items()) if n}


#: the columns `summarize` reads (readers project shards onto these)
SUMMARY_COLUMNS = ("kernel_sha256", "task_id", "device", "status", "speedup_eager", "level", "source")


def summarize(table: pa.Table, split: str, *, nbytes: int | None = None) -> Summary:
    """Statistics of one shard (all its rows belong to `split`); `nbytes`: its uncompressed size, if known."""
    status = table.column("status").to_pylist()
    speed = table.column("speedup_eager").to_pylist()
    n = table.num_rows
    out = Summary(rows=n, splits={split: n} if n else {})
    if n:
        out.split_bytes = {split: int(nbytes if nbytes is not None else table.nbytes)}
    for s in status:
        out.statuses[s] = out.statuses.get(s, 0) + 1
    for src in table.column("source").to_pylist() if "source" in table.column_names else [OWN_SOURCE] * n:
        src = src or OWN_SOURCE
        out.sources[src] = out.sources.get(src, 0) + 1
    out.tasks = set(table.column("task_id").to_pylist())
    out.devices = {d for d, s in zip(table.column("device").to_pylist(), status) if d and s != "unverified"}
    for s, sp in zip(status, speed):
        if s == "verified":
            out.verified += 1
            if sp is not None and sp > 0 and math.isfinite(sp):
                acc = out.log_speedup.setdefault(split, [0.0, 0])
                acc[0] += math.log(sp)
                acc[1] += 1
    return out


def size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < limit:
            return name
    return "1M<n<10M"


def terms(source: str) -> SourceTerms:
    return SOURCES.get(source, UNKNOWN_TERMS)


def card_license(summary: Summary) -> str | list[str]:
    """One license id when every row shares it, else the list of them (the Hub accepts a list)."""
    found = sorted({terms(s).license for s in summary.sources}) or [SOURCES[OWN_SOURCE].license]
    return found[0] if len(found) == 1 else found


def source_datasets(summary: Summary) -> list[str]:
    """The Hub's `source_datasets`: `original` for our own rows, `extended|OWNER/NAME` for imported ones."""
    out = ["original"] if not summary.sources or OWN_SOURCE in summary.sources else []
    return out + sorted(f"extended|{terms(s).dataset}" for s in summary.sources if terms(s).dataset)


def configs(splits: list[str]) -> list[dict[str, Any]]:
    """`configs` for the splits that exist: a `default` config with all of them, and one config per split."""
    if not splits:
        return []
    files = [{"split": s, "path": f"data/{s}/*.parquet"} for s in splits]
    return [{"config_name": "default", "data_files": files}] + [
        {"config_name": s, "data_files": [dict(f)]} for s, f in zip(splits, files)]   # copies: no YAML anchors


def dataset_info(summary: Summary) -> dict[str, Any] | None:
    """The `dataset_info` block as `datasets` writes it (features, splits with their sizes), or None when empty."""
    from datasets.info import DatasetInfo, DatasetInfosDict
    from datasets.splits import SplitDict, SplitInfo

    from hub.schema import FEATURES

    if not summary.splits:
        return None
    splits = SplitDict()
    for s in sorted(summary.splits):
        splits.add(SplitInfo(name=s, num_bytes=summary.split_bytes.get(s, 0), num_examples=summary.splits[s]))
    info = DatasetInfo(features=FEATURES, splits=splits, dataset_size=sum(summary.split_bytes.values()))
    holder: dict[str, Any] = {}
    DatasetInfosDict({"default": info}).to_dataset_card_data(holder)
    return holder["dataset_info"]


def _managed_block(summary: Summary, repo_id: str | None) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), keep_trailing_newline=False,
                             undefined=jinja2.StrictUndefined, autoescape=False)
    splits = sorted(summary.splits)
    rows = [{"source": s, "rows": n, "license": terms(s).license, "origin": terms(s).origin,
             "attribution": terms(s).attribution} for s, n in sorted(summary.sources.items())]
    body = env.get_template(MANAGED_TEMPLATE.name).render(
        repo_id=repo_id or "", splits=splits, split_rows=summary.splits, rows=summary.rows,
        tasks=len(summary.tasks), verified=summary.verified, statuses=sorted(summary.statuses.items()),
        devices=sorted(summary.devices), geomeans=summary.geomean_speedups(),
        counts={k: int(v[1]) for k, v in summary.log_speedup.items()}, sources=rows,
        mixed=len({r["license"] for r in rows}) > 1,
    )
    return f"{BEGIN}\n{body.strip()}\n{END}"


def _apply_metadata(data: Any, summary: Summary, *, name: str) -> None:
    """Set the metadata kernel-evolve owns on a `DatasetCardData`; leave every other key as it was."""
    splits = sorted(summary.splits)
    data.license = card_license(summary)
    data.source_datasets = source_datasets(summary)
    data.size_categories = [size_category(summary.rows)]
    data.pretty_name = data.pretty_name or name
    data.task_categories = data.task_categories or ["text-generation"]
    tags = list(getattr(data, "tags", None) or [])
    data.tags = tags + [t for t in OUR_TAGS if t not in tags]
    ours = {"default", *(c["config_name"] for c in configs(splits))}
    theirs = [c for c in (data.get("configs") or []) if isinstance(c, dict)
              and c.get("config_name") not in ours and not re.fullmatch(r"level_\d+", str(c.get("config_name")))]
    new_configs = configs(splits) + theirs
    info = dataset_info(summary)
    for key, value in (("configs", new_configs), ("dataset_info", info)):
        if value:
            data[key] = value
        elif key in data:
            data.pop(key)


def update_card(existing: str | None, summary: Summary, *, repo_id: str | None = None,
                name: str = "kernel-evolve archive") -> str:
    """README.md for an archive at `summary`: `existing` (the card at head) updated in place, or a fresh card."""
    from huggingface_hub import DatasetCard, DatasetCardData

    block = _managed_block(summary, repo_id)
    if not existing or not existing.strip():
        data = DatasetCardData()
        _apply_metadata(data, summary, name=name)
        return str(DatasetCard.from_template(data, template_path=str(TEMPLATE), name=name, managed=block))
    card = DatasetCard(existing, ignore_metadata_errors=True)
    _apply_metadata(card.data, summary, name=name)
    text = card.text
    start, end = text.find(BEGIN), text.find(END)
    if start >= 0 and end > start:
        text = text[:start] + block + text[end + len(END):]
    else:  # a card written by hand without our block: add it at the end, touch nothing else
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    card.text = text
    return str(card)


def render_card(summary: Summary, *, repo_id: str | None = None, name: str = "kernel-evolve archive") -> str:
    """A fresh card (no earlier README.md to keep)."""
    return update_card(None, summary, repo_id=repo_id, name=name)
