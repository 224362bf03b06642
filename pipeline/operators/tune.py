"""The offline `tune` operator: a joint search over the tunables a kernel declares, with no LLM call.

A tunable is `#define NAME VALUE  // tunable: V1 V2 V3`. The kernel's tunables span a grid (its *space*);
every member of the run that shares the kernel's code apart from those values is a judged point of it.
The strategy hands those points to the operator as `Proposal.tune` (`TuneState`: a tuple of `Trial`s,
each the values, the status and the speedup), and the operator answers the `variant`-th configuration
of its next batch. Nothing is kept between calls: the same history and seed give the same batch.

The search (see `rank`), and why this one:
- *Surrogate*: a kernel regression of log-speedup over the grid (Nadaraya-Watson with a product kernel
  on each tunable's normalized ordinal distance; categorical values are 0/1 apart), shrunk towards the
  mean. It is local, so it models interactions (BLOCK=512 is good *with* ITEMS=8) that a per-value
  main-effects model averages away, and it needs no linear algebra: a run judges tens to hundreds of
  configurations, and each batch must cost well under a second on a busy CPU.
- *Acquisition*: upper confidence bound, mean + kappa * uncertainty, where uncertainty falls with the
  kernel weight of nearby trials. Configurations next to ones that improved have a high mean and get
  most proposals (the budget goes where the speedup moves); unexplored regions keep a bonus.
- *Batches*: after each pick the pick joins the data as a pseudo-observation at its predicted mean
  (the "kriging believer"), so one batch spreads out instead of proposing one neighbourhood N times.
  Every `EXPLORE_EVERY`-th slot takes the least-covered configuration instead (a restart), so a
  deceptive neighbourhood cannot trap the search the way it traps one-coordinate hill climbing.
- *Invalid combinations*: a configuration that failed (compile error, runtime error, incorrect,
  timeout) is never proposed again, and a pair of values that failed twice and never worked (a single
  value that failed three times and never worked, too) marks every configuration containing it as
  suspect: suspects are proposed only when nothing else is left. One failure blames all of its pairs
  alike, so it marks nothing: suspicion that never gets tested again must rest on two.
- *Stopping*: when `patience` rounds (generations) in a row did not raise the best speedup by more than
  `min_gain`, every proposal answers "converged: ..." with the reason; when the grid is used up,
  "exhausted: ...". Either ends the task's search early instead of spending the rest of its budget.

A proposal without a `TuneState` (a caller that keeps no history) gets the plain one-coordinate sweep:
the `variant`-th untried neighbour of the parent.
"""
from __future__ import annotations

import hashlib
import math
import random
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Iterable, Protocol

from pipeline.population import normalize_source, source_hash
from pipeline.proposal import Completion, Proposal, Trial, TuneState

TUNABLE = re.compile(
    r"^(?P<head>[ \t]*#[ \t]*define[ \t]+(?P<name>[A-Za-z_]\w*)[ \t]+)(?P<value>[^\s/]+)"
    r"(?P<tail>[ \t]*//[ \t]*tunable:?[ \t]*(?P<choices>[^\n]*))$",
    re.M,
)

Config = tuple[int, ...]          # one index into each tunable's domain

ELL = 1.0                 # kernel length scale, in units of one tunable's full range
PRIOR = 0.5               # weight of the prior mean (the mean log-speedup) in every prediction
KAPPA = 2.0               # exploration weight of the uncertainty in the acquisition
SPREAD_FLOOR = 0.05       # smallest log-speedup spread assumed (a flat start still explores)
EXPLORE_EVERY = 4         # every 4th slot of a batch is a restart at the least-covered configuration
FULL_GRID = 4096          # grids up to this size are scored whole; larger ones around the best trials
SAMPLED = 1024            # random configurations added to the pool of a larger grid


@dataclass(frozen=True)
class Tunable:
    name: str
    value: str
    choices: tuple[str, ...]


def tunables(source: str) -> list[Tunable]:
    out = []
    for m in TUNABLE.finditer(source):
        choices = tuple(c for c in re.split(r"[\s,]+", m["choices"].strip()) if c)
        out.append(Tunable(m["name"], m["value"], choices))
    return out


def set_tunable(source: str, name: str, value: str) -> str:
    def sub(m: re.Match[str]) -> str:
        return m["head"] + value + m["tail"] if m["name"] == name else m.group(0)
    return TUNABLE.sub(sub, source)


def set_tunables(source: str, values: Iterable[tuple[str, str]]) -> str:
    want = dict(values)

    def sub(m: re.Match[str]) -> str:
        return m["head"] + want[m["name"]] + m["tail"] if m["name"] in want else m.group(0)
    return TUNABLE.sub(sub, source)


def neighbours(source: str) -> list[str]:
    """Every source that differs from `source` in exactly one tunable's value."""
    out = []
    for t in tunables(source):
        for v in t.choices:
            if v != t.value:
                out.append(set_tunable(source, t.name, v))
    return out


def _number(v: str) -> float | None:
    try:
        return float(v.rstrip("uUlLfF") or "x") if not v.lower().startswith("0x") else float(int(v, 16))
    except ValueError:
        return None


@dataclass(frozen=True)
class Space:
    """The grid a kernel's tunables span: each tunable's values, ordered by size when they are numbers."""

    names: tuple[str, ...]
    domains: tuple[tuple[str, ...], ...]
    ordinal: tuple[bool, ...]

    @classmethod
    def of(cls, source: str) -> "Space":
        names, domains, ordinal = [], [], []
        for t in tunables(source):
            dom = tuple(dict.fromkeys(t.choices + (t.value,)))
            nums = [_number(v) for v in dom]
            if all(n is not None for n in nums):
                dom = tuple(v for _, v in sorted(zip(nums, dom)))
            names.append(t.name)
            domains.append(dom)
            ordinal.append(all(n is not None for n in nums))
        return cls(tuple(names), tuple(domains), tuple(ordinal))

    @property
    def size(self) -> int:
        return math.prod(len(d) for d in self.domains)

    def encode(self, values: tuple[tuple[str, str], ...]) -> Config | None:
        got = dict(values)
        if set(got) != set(self.names):
            return None
        try:
            return tuple(dom.index(got[n]) for n, dom in zip(self.names, self.domains))
        except ValueError:
            return None

    def decode(self, x: Config) -> tuple[tuple[str, str], ...]:
        return tuple((n, dom[i]) for n, dom, i in zip(self.names, self.domains, x))

    def describe(self, x: Config) -> str:
        return ", ".join(f"{n}={v}" for n, v in self.decode(x))


def skeleton(source: str) -> str:
    """What two kernels of one space share: the code with tunable values masked, and the declared choices."""
    masked = TUNABLE.sub(lambda m: m["head"] + "@" + m["tail"], source)
    decl = ";".join(f"{t.name}:{' '.join(t.choices)}" for t in tunables(source))
    return hashlib.sha256((normalize_source(masked) + "\0" + decl).encode()).hexdigest()


class Judged(Protocol):
    """What `trials_of` reads from a population member."""

    source: str
    status: str
    speedup: float | None
    generation: int


def trials_of(base_source: str, members: Iterable[Judged]) -> tuple[Trial, ...]:
    """The judged configurations of `base_source`'s space among `members` (other kernels are skipped)."""
    if not tunables(base_source):
        return ()
    key = skeleton(base_source)
    return tuple(Trial(values=tuple((t.name, t.value) for t in tunables(m.source)), status=m.status,
                       speedup=m.speedup, generation=m.generation)
                 for m in members if m.source and skeleton(m.source) == key)


def convergence(trials: tuple[Trial, ...], patience: int, min_gain: float) -> str:
    """"converged: <reason>" when the last `patience` rounds raised the best speedup by no more than `min_gain`."""
    def best(ts: Iterable[Trial]) -> float | None:
        return max((t.speedup for t in ts if t.valid and t.speedup), default=None)
    rounds = sorted({t.generation for t in trials if t.generation > 0})
    top = best(t for t in trials if t.generation <= 0)
    stale = 0
    for g in rounds:
        got = best(t for t in trials if t.generation == g)
        stale = 0 if got is not None and (top is None or got > top * (1 + min_gain)) else stale + 1
        top = got if top is None or (got is not None and got > top) else top
    if stale < patience:
        return ""
    return (f"converged: the last {stale} rounds did not raise the best speedup"
            + (f" ({top:.3g}x)" if top is not None else "") + f" by more than {min_gain:.0%} "
            f"({len(trials)} configurations judged, {sum(not t.valid for t in trials)} invalid)")


class _Data:
    """The valid trials as (config, log-speedup), the tried set, and the suspect value combinations."""

    def __init__(self, space: Space, trials: tuple[Trial, ...]):
        self.tried: set[Config] = set()
        self.obs: list[tuple[Config, float]] = []
        fails: dict[tuple[int, ...], int] = {}
        works: set[tuple[int, ...]] = set()
        for t in trials:
            x = space.encode(t.values)
            if x is None:
                continue
            self.tried.add(x)
            if t.valid and t.speedup and t.speedup > 0:
                self.obs.append((x, math.log(t.speedup)))
            for key in _combinations(x):
                if t.valid:
                    works.add(key)
                else:
                    fails[key] = fails.get(key, 0) + 1
        # a pair of values that failed twice and never worked (one failure blames all its pairs alike;
        # a second one that shares a pair points at it), or a single value that failed three times
        self.bad = {k for k, n in fails.items() if k not in works and n >= (2 if len(k) == 4 else 3)}

    def suspicion(self, x: Config) -> int:
        return sum(k in self.bad for k in _combinations(x)) if self.bad else 0


def _combinations(x: Config) -> list[tuple[int, ...]]:
    out: list[tuple[int, ...]] = [(i, v) for i, v in enumerate(x)]
    out += [(i, x[i], j, x[j]) for i in range(len(x)) for j in range(i + 1, len(x))]
    return out


def _pool(space: Space, data: _Data, rng: random.Random) -> list[Config]:
    """Untried configurations to score: the whole grid, or (a large one) the best trials' surroundings."""
    sizes = [len(d) for d in space.domains]
    if space.size <= FULL_GRID:
        grid: list[Config] = [()]
        for n in sizes:
            grid = [x + (i,) for x in grid for i in range(n)]
        return [x for x in grid if x not in data.tried]
    elites = [x for x, _ in sorted(data.obs, key=lambda o: -o[1])[:5]] or list(data.tried)[:1]
    found: dict[Config, None] = {}
    for e in elites:
        for i, n in enumerate(sizes):
            for a in range(n):
                one = e[:i] + (a,) + e[i + 1:]
                found[one] = None
                for j in range(i + 1, len(sizes)):
                    for b in (one[j] - 1, one[j] + 1):
                        if 0 <= b < sizes[j]:
                            found[one[:j] + (b,) + one[j + 1:]] = None
    for _ in range(SAMPLED):
        found[tuple(rng.randrange(n) for n in sizes)] = None
    return [x for x in found if x not in data.tried]


def rank(space: Space, trials: tuple[Trial, ...], count: int, *, seed: int = 0,
         skip: Callable[[Config], bool] | None = None) -> list[Config]:
    """The next `count` configurations to judge, best first (see the module docstring); `skip` drops a
    configuration the caller knows another way was tried (asked only of the configurations picked)."""
    data = _Data(space, trials)
    rng = random.Random(f"{seed}|{len(trials)}|{space.names}|{space.domains}")
    pool = _pool(space, data, rng)
    if not pool:
        return []
    tiebreak = {x: rng.random() for x in pool}
    weight = [[[math.exp(-(abs(a - b) / max(1, len(dom) - 1) if ordinal else float(a != b)) / ELL)
                for b in range(len(dom))] for a in range(len(dom))]
              for dom, ordinal in zip(space.domains, space.ordinal)]

    def k(x: Config, y: Config) -> float:
        w = 1.0
        for table, a, b in zip(weight, x, y):
            w *= table[a][b]
        return w
    ys = [y for _, y in data.obs]
    mean = sum(ys) / len(ys) if ys else 0.0
    spread = max(SPREAD_FLOOR, (sum((y - mean) ** 2 for y in ys) / len(ys)) ** 0.5 if len(ys) > 1 else 0.0)
    # W: kernel mass of the (pseudo-)observations near x; S: their weighted log-speedups
    W = {x: sum(k(x, o) for o, _ in data.obs) for x in pool}
    S = {x: sum(k(x, o) * y for o, y in data.obs) for x in pool}
    suspicion = {x: data.suspicion(x) for x in pool}

    def mu(x: Config) -> float:
        return (S[x] + PRIOR * mean) / (W[x] + PRIOR)

    def sigma(x: Config) -> float:
        return spread * math.sqrt(PRIOR / (W[x] + PRIOR))
    picked: list[Config] = []
    left = set(pool)
    while left and len(picked) < count:
        calm = min(suspicion[x] for x in left)
        tier = [x for x in left if suspicion[x] == calm]
        explore = len(picked) % EXPLORE_EVERY == EXPLORE_EVERY - 1
        best = max(tier, key=lambda x: ((sigma(x) if explore else mu(x) + KAPPA * sigma(x)), tiebreak[x]))
        left.discard(best)
        if skip is not None and skip(best):
            continue
        picked.append(best)
        believed = mu(best)
        for x in left:
            w = k(x, best)
            W[x] += w
            S[x] += w * believed
    return picked


class TuneOperator:
    """Answers `tune` proposals with a configuration of the parent's tunables (see the module docstring)."""

    name = "tune"
    uses_llm = False
    modes = frozenset({"tune"})

    def __init__(self, cache_size: int = 64):
        self._cache: OrderedDict[tuple[object, ...], tuple[list[Config], bool]] = OrderedDict()
        self._cache_size = cache_size

    def propose(self, request: Proposal) -> Completion:
        if request.mode != "tune":
            return _no(f"the tune operator only sweeps tunables; it cannot do {request.mode!r}")
        if not request.base_source:
            return _no("tune needs a parent kernel")
        if not tunables(request.base_source):
            return _no("exhausted: no tunables declared")
        if request.tune is None:
            return self._sweep(request)
        state = request.tune
        why = convergence(state.trials, state.patience, state.min_gain)
        if why:
            return _no(why)
        space = Space.of(request.base_source)
        batch = self._batch(request, space, state, request.variant + 1)
        if request.variant >= len(batch):
            return _no(f"exhausted: every setting was tried ({space.size} configurations)"
                       if space.size <= FULL_GRID else "exhausted: no untried setting near the best ones")
        source = set_tunables(request.base_source, space.decode(batch[request.variant]))
        return Completion(text=f"```cpp\n{source}```\n", model="tune", llm_call=False)

    def _batch(self, request: Proposal, space: Space, state: TuneState, need: int) -> list[Config]:
        key = (skeleton(request.base_source), state, request.avoid)
        got, complete = self._cache.get(key, ([], False))
        if len(got) < need and not complete:
            want = max(need, 2 * len(got), 8)
            source = request.base_source
            got = rank(space, state.trials, want, seed=state.seed,
                       skip=lambda x: source_hash(set_tunables(source, space.decode(x))) in request.avoid)
            complete = len(got) < want
            self._cache[key] = (got, complete)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        self._cache.move_to_end(key)
        return got

    @staticmethod
    def _sweep(request: Proposal) -> Completion:
        fresh = [s for s in neighbours(request.base_source) if source_hash(s) not in request.avoid]
        if request.variant >= len(fresh):
            return _no("exhausted: every setting was tried")
        return Completion(text=f"```cpp\n{fresh[request.variant]}```\n", model="tune", llm_call=False)


def _no(error: str) -> Completion:
    return Completion(text="", model="tune", llm_call=False, error=error)
