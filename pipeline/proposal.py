"""The request an operator answers and the answer it gives: `Proposal` and `Completion`.

A proposal carries everything its result needs to find its way back into the
search (task, parents, island, generation, stage) plus the chat messages that
an LLM operator sends, so no mutable state is shared between the loop and the
operators. A completion records what one operator call cost.

`TuneState` is what an offline search operator needs beyond the parent kernel:
every configuration of the parent's tunables the run already judged (`Trial`:
values, status, speedup, generation), the run's seed, and when to stop. The
strategy builds it from the population; the operator stays stateless.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Literal

from harness.types import TaskRef

Mode = Literal["rewrite", "diff", "crossover", "translate", "functionalize", "repair", "tune"]
MODES: tuple[str, ...] = ("rewrite", "diff", "crossover", "translate", "functionalize", "repair", "tune")
LLM_MODES: frozenset[str] = frozenset(MODES) - {"tune"}   # what a language-model operator can answer
Stage = Literal["functionalize", "translate", "optimize"]


@dataclass(frozen=True)
class Trial:
    """One judged configuration of a kernel's tunables."""

    values: tuple[tuple[str, str], ...]      # (tunable name, value), in declaration order
    status: str                              # a harness status ("verified", "compile_error", ...)
    speedup: float | None = None             # vs eager, when verified and timed
    generation: int = 0

    @property
    def valid(self) -> bool:
        return self.status == "verified"


@dataclass(frozen=True)
class TuneState:
    """The history and settings of a joint tunable search (see pipeline/operators/tune.py)."""

    trials: tuple[Trial, ...] = ()
    seed: int = 0                 # the run's random seed: same history + seed -> same proposals
    patience: int = 3             # rounds (generations) without a gain before the search says "converged"
    min_gain: float = 0.01        # a relative speedup gain below this is noise, not an improvement

    def __post_init__(self) -> None:
        if self.patience < 1:
            raise ValueError(f"tune patience must be at least 1 round, got {self.patience}")
        if self.min_gain < 0:
            raise ValueError(f"tune min_gain must be >= 0, got {self.min_gain}")


def new_id() -> str:
    return uuid.uuid4().hex[:12]


@dataclass(frozen=True)
class Proposal:
    """One request for a candidate."""

    task: TaskRef
    mode: Mode
    messages: tuple[dict[str, str], ...] = ()   # chat messages ({"role", "content"}) for LLM operators
    parent_ids: tuple[str, ...] = ()
    island: int = 0
    generation: int = 0
    stage: Stage = "optimize"
    base_source: str = ""          # the source a diff or tune applies to (the first parent's kernel)
    attempt: int = 0               # repair attempt number within a stage
    variant: int = 0               # which untried variant an offline operator should return
    avoid: frozenset[str] = frozenset()   # normalized-source hashes already tried for this task
    tune: TuneState | None = None  # tune mode: the judged configurations of base_source's tunables
    proposal_id: str = field(default_factory=new_id)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown proposal mode {self.mode!r}; expected one of {', '.join(MODES)}")


@dataclass(frozen=True)
class Completion:
    """An operator's answer to one proposal, with what it cost."""

    text: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    cost_usd: float = 0.0
    error: str = ""               # the operator could not answer (network, exhausted sweep, ...)
    llm_call: bool = True         # False for offline operators (they do not count against LLM budgets)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens
