"""The dataset card: summary statistics of an archive and the README.md rendered from cards/dataset_card.md.j2.

Statistics are kept per shard (`Summary`) and merged, so regenerating the card
on every append costs the number of shards, not the number of rows.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import pyarrow as pa

TEMPLATE = Path(__file__).resolve().parent.parent / "cards" / "dataset_card.md.j2"


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

    def merge(self, other: "Summary") -> "Summary":
        self.rows += other.rows
        for mine, theirs in ((self.splits, other.splits), (self.statuses, other.statuses)):
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
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Summary":
        return cls(
            rows=d["rows"], splits=dict(d["splits"]), statuses=dict(d["statuses"]), tasks=set(d["tasks"]),
            devices=set(d["devices"]), verified=d["verified"],
            log_speedup={k: list(v) for k, v in d["log_speedup"].items()},
        )

    def geomean_speedups(self) -> dict[str, float]:
        return {k: math.exp(s / n) for k, (s, n) in sorted(self.log_speedup.items()) if n}


def summarize(table: pa.Table, split: str) -> Summary:
    """Statistics of one shard (all its rows belong to `split`)."""
    status = table.column("status").to_pylist()
    speed = table.column("speedup_eager").to_pylist()
    out = Summary(rows=table.num_rows, splits={split: table.num_rows} if table.num_rows else {})
    for s in status:
        out.statuses[s] = out.statuses.get(s, 0) + 1
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


def render_card(summary: Summary, *, repo_id: str | None = None, name: str = "kernel-evolve archive") -> str:
    """README.md for an archive: YAML front matter (configs per split) plus statistics and how to load it."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE.parent)),
        keep_trailing_newline=True, undefined=jinja2.StrictUndefined, autoescape=False,
    )
    return env.get_template(TEMPLATE.name).render(
        name=name,
        repo_id=repo_id or "",
        splits=sorted(summary.splits) or ["level_0"],
        split_rows=summary.splits,
        size_category=size_category(summary.rows),
        rows=summary.rows,
        tasks=len(summary.tasks),
        verified=summary.verified,
        statuses=sorted(summary.statuses.items()),
        devices=sorted(summary.devices),
        geomeans=summary.geomean_speedups(),
        counts={k: int(v[1]) for k, v in summary.log_speedup.items()},
    )
