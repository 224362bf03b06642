"""The `local:PATH_OR_ID[+ADAPTER]` operator: a transformers causal LM, optionally with a PEFT adapter.

This is how a model fine-tuned by `finetune/` becomes the mutation operator.
The prompt goes through the tokenizer's chat template; tokens are counted
exactly; the model loads once, on first use.
"""
from __future__ import annotations

import threading
import time

from pipeline.proposal import Completion, LLM_MODES, Proposal


class LocalOperator:
    uses_llm = True
    modes = LLM_MODES

    def __init__(self, spec: str, *, temperature: float = 0.7, max_new_tokens: int = 1024, device: str | None = None):
        base, _, adapter = spec.partition("+")
        self.base, self.adapter = base, adapter or None
        self.name = f"local:{spec}"
        self.temperature = temperature
        self.max_new_tokens = max_new_tokens
        self.device = device
        self._model = None
        self._tok = None
        self._lock = threading.Lock()

    def _load(self) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        tok = AutoTokenizer.from_pretrained(self.base)
        model = AutoModelForCausalLM.from_pretrained(self.base)
        if self.adapter:
            from peft import PeftModel
            model = PeftModel.from_pretrained(model, self.adapter)
        self._model, self._tok, self.device = model.to(device).eval(), tok, device

    def propose(self, request: Proposal) -> Completion:
        import torch

        t0 = time.perf_counter()
        with self._lock:
            try:
                if self._model is None:
                    self._load()
                tok, model = self._tok, self._model
                enc = tok.apply_chat_template([dict(m) for m in request.messages], add_generation_prompt=True,
                                              return_tensors="pt", return_dict=True)
                enc = {k: v.to(self.device) for k, v in enc.items()}
                n_in = int(enc["input_ids"].shape[-1])
                sample = self.temperature > 0
                with torch.no_grad():
                    out = model.generate(**enc, max_new_tokens=self.max_new_tokens, do_sample=sample,
                                         temperature=self.temperature if sample else None,
                                         pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id)
                new = out[0, n_in:]
                text = tok.decode(new, skip_special_tokens=True)
            except Exception as e:  # a broken model or template is a failed call, not a crashed run
                return Completion(text="", model=self.name, latency_s=time.perf_counter() - t0,
                                  error=f"{self.name} failed: {type(e).__name__}: {str(e)[:300]}")
        return Completion(text=text, model=self.name, prompt_tokens=n_in, completion_tokens=int(new.shape[-1]),
                          latency_s=time.perf_counter() - t0)
