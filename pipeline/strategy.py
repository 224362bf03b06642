"""Search strategies for stage 3: which proposals to make next from a population.

`SearchStrategy` is the seam: `select(population) -> list[Proposal]` and
`update(results)`. `IslandsEvolution` samples parents per island (speedup-weighted,
few-children-rewarded), mixes rewrite / diff / crossover (or offline `tune`)
and migrates the best member of each island around a ring. `BestOfN` is the
baseline: every proposal starts from the same seed, so comparing the two on
one budget shows whether evolution beats plain resampling.

`tune` proposals all start from one kernel (the task's best, or the seed for
`BestOfN`) and carry a `TuneState`: every judged configuration of that kernel's
tunables, the run's seed and the stopping rule (`patience`, `min_gain`). They
are numbered across the generation (`variant`), so one batch never asks the
stateless operator for the same configuration twice.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Protocol

from harness.types import TaskRef
from pipeline.population import Member, Population
from pipeline.prompts import Shot, build_messages
from pipeline.operators.tune import trials_of
from pipeline.population import source_hash
from pipeline.proposal import Proposal, TuneState


class SearchStrategy(Protocol):
    def select(self, population: Population) -> list[Proposal]: ...

    def update(self, results: list[tuple[Proposal, Member]]) -> None: ...


def shot_of(member: Member, label: str) -> Shot:
    return Shot(code=member.source, label=label, verdict=member.verdict)


@dataclass
class _Base:
    task: TaskRef
    backend: str = "cpu"
    kernel_format: str = "A"         # what the prompts ask for; candidates are judged in whatever format they are
    per_generation: int = 4
    modes: dict[str, float] = field(default_factory=lambda: {"rewrite": 1.0, "diff": 1.0, "crossover": 0.5})
    functional_source: str | None = None
    inspirations: tuple[Shot, ...] = ()
    seed: int = 0
    generation: int = 0
    patience: int = 3                # tune: rounds without a gain before the search converges
    min_gain: float = 0.01           # tune: the relative gain that counts as one
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed * 7919 + self.generation)
        TuneState(patience=self.patience, min_gain=self.min_gain)     # a bad stopping rule fails here, not mid-run

    def _mode(self, can_cross: bool) -> str:
        modes = {m: w for m, w in self.modes.items() if w > 0 and (m != "crossover" or can_cross)}
        if not modes:
            return "rewrite"
        return self.rng.choices(list(modes), weights=list(modes.values()), k=1)[0]

    def _tune_state(self, population: Population, base: Member) -> TuneState:
        return TuneState(trials=trials_of(base.source, population.of_task(self.task.task_id)), seed=self.seed,
                         patience=self.patience, min_gain=self.min_gain)

    def _stones(self, population: Population) -> tuple[Shot, ...]:
        """The inspirations, less any kernel already in the population (a same-task archive kernel that seeded it)."""
        tried = population.tried_hashes(self.task.task_id)
        return tuple(s for s in self.inspirations if source_hash(s.code) not in tried)

    def _proposal(self, population: Population, mode: str, parent: Member, island: int,
                  variant: int, other: Member | None = None, tune: TuneState | None = None) -> Proposal:
        msgs: list[dict[str, str]] = []
        if mode != "tune":
            best = tuple(shot_of(m, f"best #{i + 1} (member {m.id})")
                         for i, m in enumerate(population.best(self.task.task_id, 3)) if m.id != parent.id)[:2]
            kind = "crossover" if mode == "crossover" else mode
            msgs = build_messages(kind, self.task, backend=self.backend, functional_source=self.functional_source,
                                  kernel_format=self.kernel_format,
                                  parent=shot_of(parent, f"parent (member {parent.id})"),
                                  other=shot_of(other, f"member {other.id}") if other else None,
                                  best=best, inspirations=self._stones(population))
        return Proposal(
            task=self.task, mode=mode, messages=tuple(msgs),  # type: ignore[arg-type]
            parent_ids=(parent.id,) + ((other.id,) if other else ()), island=island,
            generation=self.generation, stage="optimize", base_source=parent.source, variant=variant,
            avoid=population.tried_hashes(self.task.task_id), tune=tune,
        )


@dataclass
class IslandsEvolution(_Base):
    """Island-model evolution with speedup-weighted, novelty-rewarding parent selection."""

    migrate_every: int = 3

    def select(self, population: Population) -> list[Proposal]:
        self.generation += 1
        out: list[Proposal] = []
        used: dict[str, int] = {}
        if "tune" in self.modes:       # one joint search from the task's best kernel, numbered across the batch
            best = population.best(self.task.task_id)
            self._population = population
            if not best:
                return []
            state = self._tune_state(population, best[0])
            return [self._proposal(population, "tune", best[0], i % max(1, population.n_islands), i, tune=state)
                    for i in range(self.per_generation)]
        for i in range(self.per_generation):
            island = i % max(1, population.n_islands)
            parent = population.select_parent(self.task.task_id, island, self.rng)
            if parent is None:
                break
            mode = self._mode(len(population.verified(self.task.task_id)) >= 2)
            other = None
            if mode == "crossover":
                other = population.select_parent(self.task.task_id, (island + 1) % population.n_islands,
                                                 self.rng, exclude=(parent.id,))
                if other is None:
                    mode = "rewrite"
            variant = used.get(parent.id, 0)
            used[parent.id] = variant + 1
            out.append(self._proposal(population, mode, parent, island, variant, other))
        self._population = population
        return out

    def update(self, results: list[tuple[Proposal, Member]]) -> None:
        pop = getattr(self, "_population", None)
        if pop is not None and self.migrate_every and self.generation % self.migrate_every == 0:
            pop.migrate(self.task.task_id)


@dataclass
class BestOfN(_Base):
    """Baseline: N independent samples per generation, all from the first verified (seed) member."""

    def select(self, population: Population) -> list[Proposal]:
        self.generation += 1
        seeds = sorted(population.verified(self.task.task_id), key=lambda m: (m.generation, m.id))
        if not seeds:
            return []
        seed = seeds[0]
        mode = "tune" if "tune" in self.modes else "rewrite"
        state = self._tune_state(population, seed) if mode == "tune" else None
        return [self._proposal(population, mode, seed, i % max(1, population.n_islands), i, tune=state)
                for i in range(self.per_generation)]

    def update(self, results: list[tuple[Proposal, Member]]) -> None:
        return None


STRATEGIES = {"islands": IslandsEvolution, "best_of_n": BestOfN}


def make_strategy(name: str, **kw: object) -> SearchStrategy:
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")
    return STRATEGIES[name](**kw)  # type: ignore[arg-type]
