"""Random-initialised causal LMs built from a config, with a locally trained tokenizer: no downloads.

Tests use `save_tiny_model` (hidden size 32, 2 layers) to run SFT, GRPO and the
`local:` operator on a CPU; `bench_sft.py` uses `qwen2_config("0.5b")` for a
realistic throughput figure. The tokenizer is a byte-level BPE trained here on
kernel-like text, wrapped in `PreTrainedTokenizerFast` with a chat template
whose assistant turns end with the EOS token, so a trained model learns to stop.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>"
    "{% if m['role'] == 'assistant' %}{{ eos_token }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
SPECIAL = ["<unk>", "<s>", "</s>", "<pad>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]


def build_tokenizer(corpus: Iterable[str], vocab_size: int = 2000):
    """A byte-level BPE tokenizer trained on `corpus`, with a chat template and pad/eos tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(list(corpus), trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>",
                                   pad_token="<pad>", model_input_names=["input_ids", "attention_mask"])  # as Qwen2's
    fast.chat_template = CHAT_TEMPLATE
    return fast


def qwen2_config(size: str, vocab_size: int, tokenizer=None):
    """A Qwen2 config: "tiny" (hidden 32, 2 layers) or "0.5b" (Qwen2-0.5B's shape)."""
    from transformers import Qwen2Config

    shapes = {
        "tiny": dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                     num_key_value_heads=2, max_position_embeddings=8192),
        "0.5b": dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                     num_key_value_heads=2, max_position_embeddings=32768, tie_word_embeddings=True),
    }
    if size not in shapes:
        raise ValueError(f"unknown size {size!r}; expected one of {', '.join(shapes)}")
    ids = {}
    if tokenizer is not None:
        ids = dict(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                   pad_token_id=tokenizer.pad_token_id)
    return Qwen2Config(vocab_size=vocab_size, **shapes[size], **ids)


def save_tiny_model(path: str | Path, corpus: Iterable[str], *, seed: int = 0, size: str = "tiny") -> Path:
    """Write a random-init causal LM and its tokenizer to `path` (a folder `from_pretrained` can load)."""
    import torch
    from transformers import AutoModelForCausalLM

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer(corpus)
    tok.save_pretrained(path)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(qwen2_config(size, len(tok), tok))
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(path)
    return path
