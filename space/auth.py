"""Who may spend what in the Space: the token an `hf:` run sends and the sign-in that saving needs.

On a Hugging Face Space (`$SPACE_ID` set) the page offers "Sign in with
Hugging Face" (Gradio's OAuth; `hf_oauth: true` in the Space card), and:

- an `hf:` run sends the signed-in user's own token to Inference Providers, so
  the user's account pays; it never falls back to the Space owner's `HF_TOKEN`;
- saving to the archive needs a signed-in user whom the Hub confirms
  (`whoami`): a token that an API client passes itself (Gradio lets clients
  pass `oauth_token`) counts only if the Hub knows it. The commit names the user.

Run locally (no `$SPACE_ID`), the environment's token (`HF_TOKEN` or `hf auth
login`) serves both, as on the command line. Every refusal is an `InputError`
whose text tells the user what to do.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

from space.intake import InputError, redact

ENV_SPACE = "SPACE_ID"


def on_space() -> bool:
    """True when the app runs as a Hugging Face Space."""
    return bool(os.environ.get(ENV_SPACE))


def _token_of(oauth: Any) -> str:
    return str(getattr(oauth, "token", "") or "")


@dataclass(frozen=True)
class Auth:
    """The sign-in rules for one app. `llm_base_url`: an OpenAI-compatible server for `hf:` operators instead of
    Inference Providers (TGI, vLLM; tests use a loopback one). `endpoint`: the Hub that confirms a user."""

    space: bool
    endpoint: str | None = None
    llm_base_url: str | None = None
    whoami: Callable[[str], dict] | None = None   # token -> the Hub's whoami answer (default: HfApi.whoami)

    @classmethod
    def from_env(cls, **kw: Any) -> "Auth":
        return cls(space=on_space(), endpoint=kw.pop("endpoint", None) or os.environ.get("HF_ENDPOINT"), **kw)

    def llm_token(self, operator: str, oauth: Any) -> str | None:
        """The token an `operator` run sends (None: not an `hf:` operator, or the environment's). Raises InputError."""
        if not operator.startswith("hf:"):
            return None
        if self.space:
            token = _token_of(oauth)
            if not token:
                raise InputError(f"`{operator}` runs on your Hugging Face account (Inference Providers): press "
                                 "**Sign in with Hugging Face** above, then Run again. Or choose the offline "
                                 "`tune` operator for a built-in task.")
            return token
        if self.llm_base_url:
            return None      # a self-hosted server: the environment's token, if any, as the CLI does
        from huggingface_hub import get_token
        if not get_token():
            raise InputError(f"`{operator}` needs a Hugging Face token for Inference Providers: set `HF_TOKEN` "
                             "(or run `hf auth login`) before starting the app, or choose the offline `tune` "
                             "operator for a built-in task.")
        return None

    def saver(self, oauth: Any) -> str:
        """The user who saves ("" locally). On a Space: the signed-in user the Hub confirms, else InputError."""
        if not self.space:
            return ""
        token = _token_of(oauth)
        if not token:
            raise InputError("Saving to the archive needs a signed-in user: press **Sign in with Hugging Face** "
                             "above, then Save again.")
        try:
            who = self.whoami(token) if self.whoami else self._hub_whoami(token)
        except Exception as e:  # 401 for an unknown token; network errors
            raise InputError("The Hub did not confirm your sign-in, so nothing was saved "
                             f"({type(e).__name__}: {redact(str(e))[:200]}). Sign in again, then Save.") from None
        name = str(who.get("name") or "")
        if not name:
            raise InputError("The Hub did not name a user for this sign-in, so nothing was saved. Sign in again.")
        return name

    def _hub_whoami(self, token: str) -> dict:
        from huggingface_hub import HfApi
        return HfApi(endpoint=self.endpoint).whoami(token=token)
