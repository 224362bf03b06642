"""The population of a run: members with lineage, grouped into islands per task.

Parent selection weights a member's speedup (a sigmoid of its log-speedup
relative to the island's median) and divides by one plus its number of
children, so strong parents are used often but the search keeps exploring
members that have not been tried yet. Near-duplicate candidates are rejected
before evaluation: by the hash of the normalized source, and (for LLM modes) by
a difflib similarity threshold.
"""
from __future__ import annotations

import difflib
import hashlib
import json
import math
import random
import re
from dataclasses import dataclass, field, fields
from typing import Any

from harness.types import Verdict

SIMILARITY_THRESHOLD = 0.985
MAX_COMPARE = 200


def normalize_source(source: str) -> str:
    """Source without comments and with whitespace collapsed (what makes two kernels 'the same')."""
    s = re.sub(r"/\*.*?\*/", " ", source, flags=re.S)
    s = re.sub(r"//[^\n]*", " ", s)
    s = re.sub(r"#[ \t]*(?=[a-z])", "#", s)
    return re.sub(r"\s+", " ", s).strip()


def source_hash(source: str) -> str:
    return hashlib.sha256(normalize_source(source).encode()).hexdigest()


@dataclass(frozen=True)
class Member:
    """One judged candidate (or a candidate that produced no code), with its lineage."""

    id: str
    task_id: str
    source: str
    status: str                       # a harness status, or "no_code" when nothing could be extracted
    stage: str = "optimize"
    mode: str = "rewrite"
    island: int = 0
    generation: int = 0
    parent_ids: tuple[str, ...] = ()
    speedup: float | None = None      # vs eager, when timed
    runtime_ms: float | None = None
    operator: str = ""
    model: str = ""
    error: str = ""
    verdict: Verdict | None = None    # the harness's verdict (None: nothing was judged)
    proposal_id: str = ""
    tokens: int = 0

    @property
    def verified(self) -> bool:
        return self.status == "verified"

    @property
    def fitness(self) -> float:
        """Log-speedup of a verified member (0 when untimed); -inf for anything else."""
        if not self.verified:
            return -math.inf
        return math.log(self.speedup) if self.speedup and self.speedup > 0 else 0.0

    def to_json(self) -> str:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["verdict"] = self.verdict.to_dict() if self.verdict is not None else None
        return json.dumps(d)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Member":
        """From a journal line (also an older one, whose verdict is JSON text under `verdict_json`)."""
        d = dict(d)
        d["parent_ids"] = tuple(d.get("parent_ids", ()))
        v = d.get("verdict")
        if isinstance(v, dict):
            d["verdict"] = Verdict.from_dict(v)
        elif d.get("verdict_json"):
            d["verdict"] = Verdict.from_json(d["verdict_json"])
        else:
            d["verdict"] = None
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


@dataclass
class Population:
    """Members of every task of a run, by island."""

    n_islands: int = 2
    members: dict[str, Member] = field(default_factory=dict)
    children: dict[str, int] = field(default_factory=dict)
    hashes: dict[str, dict[str, str]] = field(default_factory=dict)   # task -> normalized hash -> member id
    extra_islands: dict[str, set[int]] = field(default_factory=dict)  # migrants: member id -> islands

    def add(self, member: Member) -> None:
        """Add a judged kernel. Stage-1 members (functional task files, not kernels) are not kept."""
        if member.id in self.members or member.stage == "functionalize":
            return
        self.members[member.id] = member
        for pid in member.parent_ids:
            self.children[pid] = self.children.get(pid, 0) + 1
        if member.source:
            self.hashes.setdefault(member.task_id, {}).setdefault(source_hash(member.source), member.id)

    def of_task(self, task_id: str) -> list[Member]:
        return [m for m in self.members.values() if m.task_id == task_id]

    def verified(self, task_id: str, island: int | None = None) -> list[Member]:
        out = [m for m in self.of_task(task_id) if m.verified]
        if island is not None:
            out = [m for m in out if m.island == island or island in self.extra_islands.get(m.id, set())]
        return out

    def best(self, task_id: str, k: int = 1) -> list[Member]:
        return sorted(self.verified(task_id), key=lambda m: (-m.fitness, m.generation, m.id))[:k]

    def tried_hashes(self, task_id: str) -> frozenset[str]:
        return frozenset(self.hashes.get(task_id, {}))

    def select_parent(self, task_id: str, island: int, rng: random.Random,
                      exclude: tuple[str, ...] = (), sharpness: float = 4.0) -> Member | None:
        """A verified parent: weighted by speedup, rewarding members with few children."""
        pool = [m for m in self.verified(task_id, island) if m.id not in exclude]
        if not pool:
            pool = [m for m in self.verified(task_id) if m.id not in exclude]
        if not pool:
            return None
        fit = [m.fitness for m in pool]
        med = sorted(fit)[len(fit) // 2]
        spread = (sum((f - med) ** 2 for f in fit) / len(fit)) ** 0.5 or 1.0
        weights = [
            1.0 / (1.0 + math.exp(-sharpness * (f - med) / spread)) / (1.0 + self.children.get(m.id, 0))
            for m, f in zip(pool, fit)
        ]
        return rng.choices(pool, weights=weights, k=1)[0]

    def duplicate_of(self, task_id: str, source: str, *, threshold: float | None = SIMILARITY_THRESHOLD) -> str:
        """A reason when `source` repeats (or nearly repeats) a member of the task; "" otherwise."""
        h = source_hash(source)
        seen = self.hashes.get(task_id, {})
        if h in seen:
            return f"duplicate of member {seen[h]} (same normalized source)"
        if threshold is None:
            return ""
        norm = normalize_source(source)
        for m in self.of_task(task_id)[-MAX_COMPARE:]:
            if not m.source:
                continue
            sm = difflib.SequenceMatcher(None, norm, normalize_source(m.source), autojunk=False)
            if sm.real_quick_ratio() >= threshold and sm.quick_ratio() >= threshold and sm.ratio() >= threshold:
                return f"near-duplicate of member {m.id} (similarity {sm.ratio():.3f} >= {threshold})"
        return ""

    def migrate(self, task_id: str) -> list[tuple[str, int]]:
        """Ring migration: each island's best verified member also joins the next island."""
        moved = []
        for isl in range(self.n_islands):
            best = sorted(self.verified(task_id, isl), key=lambda m: -m.fitness)[:1]
            dest = (isl + 1) % self.n_islands
            if best and dest != isl:
                self.extra_islands.setdefault(best[0].id, set()).add(dest)
                moved.append((best[0].id, dest))
        return moved
