"""Operators: the one interface behind which LLMs and offline mutators propose candidates.

`Operator.propose(request) -> Completion`. `make_operator(spec)` parses
`hf:MODEL`, `local:PATH_OR_ID[+ADAPTER]`, `tune` and `scripted` (tests).
"""
from __future__ import annotations

from typing import Protocol

from pipeline.proposal import Completion, Proposal


class Operator(Protocol):
    """Proposes candidates. `uses_llm`: it calls a language model (LLM budgets apply, and it can write a
    functional form, a first translation and free rewrites); otherwise it only searches a kernel's declared
    tunables (`modes` says which proposal modes it answers)."""

    name: str
    uses_llm: bool
    modes: frozenset[str]

    def propose(self, request: Proposal) -> Completion: ...



class OperatorSpecError(ValueError):
    """An operator spec that cannot be used; the message lists the accepted forms."""


def make_operator(spec: str, *, base_url: str | None = None, token: str | None = None,
                  temperature: float = 0.7, max_tokens: int = 2048) -> Operator:
    """Build an operator from its spec string."""
    spec = (spec or "tune").strip()
    if spec == "tune":
        from pipeline.operators.tune import TuneOperator
        return TuneOperator()
    if spec.startswith("hf:") and len(spec) > 3:
        from pipeline.operators.hf import HFOperator
        return HFOperator(spec[3:], base_url=base_url, token=token, temperature=temperature, max_tokens=max_tokens)
    if spec.startswith("local:") and len(spec) > 6:
        from pipeline.operators.local import LocalOperator
        return LocalOperator(spec[6:], temperature=temperature, max_new_tokens=max_tokens)
    raise OperatorSpecError(
        f"unknown operator {spec!r}: use `tune` (offline), `hf:MODEL` (HF Inference Providers, TGI, vLLM, Ollama; "
        "add --base-url for an OpenAI-compatible server) or `local:PATH_OR_ID[+ADAPTER]` (transformers, optional PEFT adapter)"
    )
