"""The offline `tune` operator: sweeps the tunables a kernel declares, with no LLM call.

A tunable is `#define NAME VALUE  // tunable: V1 V2 V3`. For a proposal the
operator lists the kernel's coordinate neighbours (one tunable changed to
another declared value), drops those whose normalized source the run already
tried (`Proposal.avoid`), and returns the `variant`-th of what is left.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.population import source_hash
from pipeline.proposal import Completion, Proposal

TUNABLE = re.compile(
    r"^(?P<head>[ \t]*#[ \t]*define[ \t]+(?P<name>[A-Za-z_]\w*)[ \t]+)(?P<value>[^\s/]+)"
    r"(?P<tail>[ \t]*//[ \t]*tunable:?[ \t]*(?P<choices>[^\n]*))$",
    re.M,
)


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


def neighbours(source: str) -> list[str]:
    """Every source that differs from `source` in exactly one tunable's value."""
    out = []
    for t in tunables(source):
        for v in t.choices:
            if v != t.value:
                out.append(set_tunable(source, t.name, v))
    return out


class TuneOperator:
    name = "tune"

    def propose(self, request: Proposal) -> Completion:
        if request.mode != "tune":
            return Completion(text="", model="tune", llm_call=False,
                              error=f"the tune operator only sweeps tunables; it cannot do {request.mode!r}")
        if not request.base_source:
            return Completion(text="", model="tune", llm_call=False, error="tune needs a parent kernel")
        fresh = [s for s in neighbours(request.base_source) if source_hash(s) not in request.avoid]
        if request.variant >= len(fresh):
            why = "no tunables declared" if not tunables(request.base_source) else "every setting was tried"
            return Completion(text="", model="tune", llm_call=False, error=f"exhausted: {why}")
        return Completion(text=f"```cpp\n{fresh[request.variant]}```\n", model="tune", llm_call=False)
