"""A scripted operator for tests: returns fixed completions in order and records every request."""
from __future__ import annotations

from typing import Callable, Sequence

from pipeline.proposal import Completion, LLM_MODES, Proposal


class ScriptedOperator:
    """Answers the n-th proposal with the n-th scripted text (or a function of the proposal)."""

    uses_llm = True
    modes = LLM_MODES
    name = "scripted"

    def __init__(self, script: Sequence[str] | Callable[[Proposal], str]):
        self.script = script
        self.requests: list[Proposal] = []

    def propose(self, request: Proposal) -> Completion:
        self.requests.append(request)
        n = len(self.requests) - 1
        if callable(self.script):
            text = self.script(request)
        elif n < len(self.script):
            text = self.script[n]
        else:
            return Completion(text="", model="scripted", error="script exhausted")
        prompt = sum(len(m["content"].split()) for m in request.messages)
        return Completion(text=text, model="scripted", prompt_tokens=prompt, completion_tokens=len(text.split()))
