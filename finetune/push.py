"""Publishing a fine-tuned model: the adapter (or a merged model) and its card, to the Hub via huggingface_hub.

This module owns the upload: it (re)writes the model card with the target repo
id, optionally merges a LoRA adapter into its base model first, then
`HfApi.create_repo` + `HfApi.upload_folder` in one commit. Checkpoints and
trainer state stay local.
"""
from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from finetune.card import write_model_card

IGNORE = ["checkpoint-*", "checkpoint-*/**", "runs/**", "training_args.bin", "optimizer.pt", "scheduler.pt",
          "rng_state*.pth", "trainer_state.json"]


class PushError(RuntimeError):
    """A push that cannot proceed; the message says what to do."""


class HubPushError(PushError):
    """The Hub refused or failed the push (exit code 3, like an archive error)."""


@dataclass(frozen=True)
class PushResult:
    repo_id: str
    commit_id: str
    url: str
    files: tuple[str, ...]
    merged: bool


def merge_adapter(folder: Path, out: Path) -> Path:
    """Base model + LoRA adapter merged into plain weights (with the tokenizer and the training record)."""
    import shutil

    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = json.loads((folder / "adapter_config.json").read_text())["base_model_name_or_path"]
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), str(folder)).merge_and_unload()
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(folder if (folder / "tokenizer_config.json").is_file() else base).save_pretrained(out)
    for name in ("training_config.json", "eval_results.json"):
        if (folder / name).is_file():
            shutil.copy(folder / name, out / name)
    return out


def push_model(folder: str | Path, repo_id: str, *, token: str | None = None, endpoint: str | None = None,
               private: bool = False, merge: bool = False, license: str | None = None,
               commit_message: str | None = None) -> PushResult:
    """Upload `folder` (an SFT/GRPO output) as the model repo `repo_id`; returns the commit."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    folder = Path(folder)
    if not folder.is_dir() or not any((folder / f).is_file() for f in ("adapter_config.json", "config.json")):
        raise PushError(f"{folder} holds no adapter (adapter_config.json) or model (config.json); "
                        "give the --output folder of `kernel-evolve finetune sft`")
    if repo_id.count("/") != 1:
        raise PushError(f"repo id {repo_id!r} must be OWNER/NAME")
    merged = merge and (folder / "adapter_config.json").is_file()
    api = HfApi(endpoint=endpoint, token=token)
    with tempfile.TemporaryDirectory(prefix="ke-merge-") as tmp:
        src = merge_adapter(folder, Path(tmp)) if merged else folder
        write_model_card(src, repo_id=repo_id, license=license)
        try:
            api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
            info = api.upload_folder(folder_path=str(src), repo_id=repo_id, repo_type="model",
                                     commit_message=commit_message or f"Upload {'merged model' if merged else 'adapter'}"
                                     " and model card (kernel-evolve)", ignore_patterns=IGNORE)
        except HfHubHTTPError as e:
            code = getattr(e.response, "status_code", None)
            if code == 401:
                raise HubPushError("the Hub rejected the request: log in with `hf auth login` or set HF_TOKEN "
                                "to a token with write access") from None
            if code == 403:
                raise HubPushError(f"your token cannot write to {repo_id}: pick a repo you own") from None
            raise HubPushError(f"push to {repo_id} failed: {e}") from None
        files = tuple(sorted(p.relative_to(src).as_posix() for p in src.rglob("*")
                             if p.is_file() and not any(part.startswith("checkpoint-") for part in p.parts)))
    return PushResult(repo_id=repo_id, commit_id=info.oid, url=str(info.repo_url), files=files, merged=merged)
