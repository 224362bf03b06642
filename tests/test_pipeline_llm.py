"""LLM operators on CPU with no downloads: a tiny random-weight Llama built from a config.

`local:` loads it with transformers (chat template, token counts); `hf:` talks to it through
huggingface_hub.InferenceClient via a tiny OpenAI-compatible server on loopback. Its output is
garbage, which the loop must turn into failed candidates, never a crash (no compile needed).
"""
from __future__ import annotations

import json
import socket
import threading
import time

import pytest
import torch

import _pipeline_scenario as sc
from pipeline.operators import OperatorSpecError, make_operator
from pipeline.operators.local import LocalOperator
from pipeline.proposal import Proposal
from pipeline.run import Run, RunConfig
from harness.task import load_task

CHAT_TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
                 "{% if add_generation_prompt %}<|assistant|>{% endif %}")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    path = tmp_path_factory.mktemp("tiny-llama")
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    corpus = [load_task("level1/gelu").source, sc.KNOWN_GOOD, "torch::Tensor forward PYBIND11_MODULE kernel"]
    special = ["<unk>", "<s>", "</s>", "<pad>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=400, special_tokens=special,
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>",
                                   pad_token="<pad>")
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(path)
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=16384,
                      bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id)
    LlamaForCausalLM(cfg).save_pretrained(path)
    return path


def garbage_run(tmp_path, operator_spec, **kw):
    cfg = RunConfig(tasks=("level1/gelu",), operator=operator_spec, backend="cpu", size="small", repairs=1,
                    generations=2, use_seed=False, max_new_tokens=24, temperature=0.0,
                    archive=str(tmp_path / "archive"), archive_failed=True, **kw)
    s = Run(cfg, tmp_path / "run").execute()
    ms = sc.members(tmp_path / "run")
    calls = [json.loads(l) for l in (tmp_path / "run" / "events.jsonl").read_text().splitlines()]
    calls = [e for e in calls if e["event"] == "call"]
    return s, ms, calls


def check_garbage(s, ms, calls):
    assert s.stop_reason == "finished" and s.llm_calls == 2 == len(calls)
    assert len(ms) == 2 and all(m["status"] == "rejected" and m["stage"] == "translate" for m in ms)
    for m in ms:
        v = m["verdict"]
        assert v["checks"][0]["name"] == "extract" and v["checks"][0]["outcome"] == "fail"
    assert all(e["prompt_tokens"] > 100 and e["completion_tokens"] > 0 and e["latency_s"] > 0 for e in calls)
    assert s.tokens == sum(e["tokens"] for e in calls) and s.best == {"level1/gelu": ("", None)}


def test_local_operator_counts_tokens_through_the_chat_template(tiny_model):
    op = LocalOperator(str(tiny_model), temperature=0.0, max_new_tokens=8)
    msgs = ({"role": "system", "content": "be brief"}, {"role": "user", "content": "write a kernel"})
    c = op.propose(Proposal(task=load_task("level1/gelu"), mode="translate", messages=msgs))
    assert not c.error and c.completion_tokens == 8 and c.prompt_tokens > 5 and c.model.startswith("local:")
    broken = LocalOperator(str(tiny_model) + "+/nonexistent/adapter").propose(
        Proposal(task=load_task("level1/gelu"), mode="translate", messages=msgs))
    assert broken.error and not broken.text                     # a bad adapter path is a failed call


def test_local_tiny_model_garbage_becomes_failed_candidates(tmp_path, tiny_model):
    check_garbage(*garbage_run(tmp_path, f"local:{tiny_model}"))


def test_unknown_operator_spec_is_a_clear_error():
    with pytest.raises(OperatorSpecError, match="hf:MODEL"):
        make_operator("openai-gpt")


@pytest.fixture()
def loopback_server(tiny_model):
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model).eval()
    seen: list[dict] = []

    async def chat(request):
        body = await request.json()
        seen.append(body)
        enc = tok.apply_chat_template(body["messages"], add_generation_prompt=True, return_tensors="pt",
                                      return_dict=True)
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=int(body.get("max_tokens") or 16), do_sample=False,
                                 pad_token_id=tok.pad_token_id)
        n_in = enc["input_ids"].shape[-1]
        text = tok.decode(out[0, n_in:], skip_special_tokens=True)
        return JSONResponse({
            "id": "cmpl-1", "object": "chat.completion", "created": int(time.time()), "model": body.get("model"),
            "system_fingerprint": "loopback",
            "choices": [{"index": 0, "finish_reason": "length", "logprobs": None,
                         "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": int(n_in), "completion_tokens": int(out.shape[-1] - n_in),
                      "total_tokens": int(out.shape[-1])},
        })

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    server = uvicorn.Server(uvicorn.Config(Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])]),
                                           host="127.0.0.1", port=port, log_level="warning"))
    th = threading.Thread(target=server.run, daemon=True)
    th.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/v1", seen
    server.should_exit = True
    th.join(timeout=10)


def test_hf_operator_against_a_loopback_openai_compatible_server(tmp_path, loopback_server):
    base_url, seen = loopback_server
    s, ms, calls = garbage_run(tmp_path, "hf:tiny-llama", base_url=base_url)
    check_garbage(s, ms, calls)
    assert len(seen) == 2 and all(b["model"] == "tiny-llama" and b["max_tokens"] == 24 for b in seen)
    assert "module_fn" in seen[0]["messages"][1]["content"]
    assert "no code found" in seen[1]["messages"][1]["content"]          # the repair carried the feedback
    down = make_operator("hf:tiny-llama", base_url="http://127.0.0.1:9/v1").propose(
        Proposal(task=load_task("level1/gelu"), mode="translate", messages=({"role": "user", "content": "x"},)))
    assert down.error.startswith("hf:tiny-llama call failed") and not down.text
