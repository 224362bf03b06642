"""The `hf:MODEL` operator: any chat model behind huggingface_hub.InferenceClient.

Works with HF Inference Providers (token from HF_TOKEN), TGI, vLLM, Ollama or
any OpenAI-compatible server given as `base_url`. Usage tokens come from the
response; cost is tokens times the configured price per million tokens.
"""
from __future__ import annotations

import os
import time

from huggingface_hub import InferenceClient

from pipeline.proposal import Completion, LLM_MODES, Proposal


class HFOperator:
    uses_llm = True
    modes = LLM_MODES

    def __init__(self, model: str, *, base_url: str | None = None, token: str | None = None,
                 temperature: float = 0.7, max_tokens: int = 2048, timeout: float | None = 300.0,
                 usd_per_mtok_in: float = 0.0, usd_per_mtok_out: float = 0.0):
        self.model = model
        self.name = f"hf:{model}"
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.prices = (usd_per_mtok_in, usd_per_mtok_out)
        token = token or os.environ.get("HF_TOKEN")
        if base_url:
            self.client = InferenceClient(base_url=base_url, token=token, timeout=timeout)
        else:
            self.client = InferenceClient(model=model, token=token, timeout=timeout)

    def propose(self, request: Proposal) -> Completion:
        t0 = time.perf_counter()
        try:
            out = self.client.chat_completion(
                messages=[dict(m) for m in request.messages], model=self.model,
                max_tokens=self.max_tokens, temperature=self.temperature,
            )
        except Exception as e:  # network, auth, server errors: a failed call, not a crashed run
            return Completion(text="", model=self.model, latency_s=time.perf_counter() - t0,
                              error=f"hf:{self.model} call failed: {type(e).__name__}: {str(e)[:300]}")
        latency = time.perf_counter() - t0
        text = (out.choices[0].message.content or "") if out.choices else ""
        usage = getattr(out, "usage", None)
        pt = int(getattr(usage, "prompt_tokens", 0) or 0)
        ct = int(getattr(usage, "completion_tokens", 0) or 0)
        cost = (pt * self.prices[0] + ct * self.prices[1]) / 1e6
        return Completion(text=text, model=getattr(out, "model", None) or self.model, prompt_tokens=pt,
                          completion_tokens=ct, latency_s=latency, cost_usd=cost)
