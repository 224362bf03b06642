"""The Space as a Hugging Face Space: sign-in, the user's token for `hf:` runs, the save gate, LLM failure reasons.

The app runs in Space mode (`SPACE_ID`, `SYSTEM=spaces` and the OAuth settings a
Space with `hf_oauth: true` gets), so Gradio's real OAuth routes and session
middleware are mounted. A loopback HTTP server stands in for the Hub and for HF
Inference Providers: it answers `/api/whoami-v2` for one user token and
`/v1/chat/completions` with scripted replies chosen by the model name (the hf
operator's real `huggingface_hub.InferenceClient` calls it through `base_url`).
The Space owner's `HF_TOKEN` is set in the environment and must never reach it.
A browser is signed in by the session cookie Gradio's OAuth callback would set.
"""
from __future__ import annotations

import base64
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from _browser import chromium

gradio_client = pytest.importorskip("gradio_client")
playwright_sync = pytest.importorskip("playwright.sync_api")
pytest.importorskip("authlib", reason="Gradio's OAuth on a Space needs gradio[oauth] (authlib)")

from space.app import build_app  # noqa: E402
from space.auth import Auth  # noqa: E402
from space.evolution import RunSettings  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
USER, USER_TOKEN, OWNER_TOKEN = "alice", "hf_user_token_for_alice_0123456789", "hf_owner_token_never_sent_0123456789"
CLIENT_SECRET = "test-oauth-client-secret"
TASK = '''import torch
import torch.nn as nn


class Model(nn.Module):
    """Swish with an offset: x * sigmoid(x) + 0.5 (not a built-in task)."""

    def __init__(self):
        super().__init__()

    def forward(self, x):
        return x * torch.sigmoid(x) + 0.5


def get_inputs():
    return [torch.randn(256, 1000)]


def get_init_inputs():
    return []
'''
FUNCTIONAL = TASK.replace('''class Model(nn.Module):''', '''def module_fn(x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(x) + 0.5


class Model(nn.Module):''').replace('''    def forward(self, x):
        return x * torch.sigmoid(x) + 0.5''', '''    def forward(self, x, fn=module_fn):
        return fn(x)''')
KERNEL = '''#include "ke_abi.h"
#include <math.h>

extern "C" int ke_launch(const ke_tensor* in, int n_in, ke_tensor* out, int n_out, const double* attrs,
                         int n_attrs, void* workspace, int64_t workspace_bytes, void* stream) {
  if (n_in != 1 || n_out != 1 || in[0].dtype != KE_F32) return 1;
  const float* x = (const float*)in[0].data;
  float* y = (float*)out[0].data;
  const int64_t n = ke_numel(&in[0]);
#pragma omp parallel for
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    y[i] = v / (1.0f + expf(-v)) + 0.5f;
  }
  return 0;
}
'''
# model name -> (functional form reply, kernel reply); None: answer the call with an HTTP error
SCRIPTS = {
    "tester/honest": (FUNCTIONAL, KERNEL),
    "tester/no-functional": (TASK, KERNEL),                                   # never gives a module_fn
    "tester/no-compile": (FUNCTIONAL, KERNEL.replace("return 0;", "return 0")),
    "tester/wrong": (FUNCTIONAL, KERNEL.replace("+ 0.5f;", "+ 1.5f;")),
    "tester/refused": None,
}


class Standin(BaseHTTPRequestHandler):
    """Loopback Hub + Inference Providers: whoami for USER_TOKEN, scripted chat completions."""

    seen: list[tuple[str, str, str]] = []     # (path, model, authorization)

    def log_message(self, *a):  # quiet
        pass

    def _send(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        auth = self.headers.get("Authorization", "")
        self.seen.append((self.path, "", auth))
        if self.path.startswith("/api/whoami"):
            if auth == f"Bearer {USER_TOKEN}":
                return self._send(200, {"type": "user", "name": USER, "fullname": "Alice", "orgs": []})
            return self._send(401, {"error": "Invalid credentials in Authorization header"})
        self._send(404, {"error": "not here"})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        model = body.get("model", "")
        self.seen.append((self.path, model, self.headers.get("Authorization", "")))
        if not self.path.endswith("/v1/chat/completions"):
            return self._send(404, {"error": "not here"})
        script = SCRIPTS.get(model)
        if script is None:
            return self._send(400, {"error": f"Model {model} is not supported by any provider you have enabled."})
        prompt = "\n".join(m.get("content", "") for m in body.get("messages", []))
        functionalize = "Rewrite this task into functional form" in prompt
        text = f"```python\n{script[0]}```" if functionalize else f"Here is the kernel.\n```cpp\n{script[1]}```"
        self._send(200, {"id": "x", "object": "chat.completion", "created": int(time.time()), "model": model,
                         "choices": [{"index": 0, "finish_reason": "stop",
                                      "message": {"role": "assistant", "content": text}}],
                         "usage": {"prompt_tokens": len(prompt) // 4, "completion_tokens": len(text) // 4,
                                   "total_tokens": (len(prompt) + len(text)) // 4}})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def standin():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Standin)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def space(tmp_path_factory, standin):
    import gradio.oauth as oauth
    root = tmp_path_factory.mktemp("space-llm")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OMP_NUM_THREADS", "1")
        mp.setenv("HF_TOKEN", OWNER_TOKEN)            # the owner's secret: must never be sent
        mp.setenv("SYSTEM", "spaces")
        mp.setenv("SPACE_ID", "tester/kernel-evolve")
        for name, value in (("OAUTH_CLIENT_ID", "test-client"), ("OAUTH_CLIENT_SECRET", CLIENT_SECRET),
                            ("OAUTH_SCOPES", "openid profile inference-api"), ("OPENID_PROVIDER_URL", standin)):
            mp.setattr(oauth, name, value)            # what a Space with hf_oauth: true gets in its environment
        # Spaces' dev-mode hot reloading needs the `spaces` package; it is not what these tests are about
        mp.setattr("gradio.http_server.watchfn_spaces", lambda reloader: None)
        auth = Auth.from_env(endpoint=standin, llm_base_url=standin)
        assert auth.space
        demo = build_app(archive=str(root / "archive"), backend="cpu", work_root=root / "work", auth=auth,
                         settings=RunSettings(generations=0, population=1, seeds=1, timeout_s=300.0,
                                              compile_baseline=False, repairs=1))
        port = free_port()
        demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
        yield {"url": f"http://127.0.0.1:{port}/", "archive": root / "archive", "work": root / "work"}
        demo.close()


def _client(space, token: str | None = None):
    return gradio_client.Client(space["url"], verbose=False, oauth_token=token)


def plain(markdown: str) -> str:
    return markdown.replace("**", "").replace("`", "")


def _run(client, code: str, operator: str, example: str | None = None) -> str:
    """The final status line of one run through the API (generations 0, one candidate), without Markdown."""
    out = client.predict(code, example, operator, 0, 1, "cpu", "small", api_name="/run")
    return plain(out[0])


def _commits(archive: Path) -> list[str]:
    from hub.local_store import LocalStore
    store = LocalStore(archive)
    return [c.message for c in store.log()] if store.exists() else []


def _session_cookie(user_token: str) -> str:
    """The signed cookie Starlette's SessionMiddleware writes after Gradio's OAuth callback."""
    import hashlib

    from itsdangerous import TimestampSigner
    info = {"access_token": user_token, "token_type": "bearer", "scope": "openid profile inference-api",
            "expires_at": int(time.time()) + 3600,
            "userinfo": {"sub": "1", "name": "Alice", "preferred_username": USER,
                         "profile": f"https://huggingface.co/{USER}", "picture": ""}}
    data = base64.b64encode(json.dumps({"oauth_info": info}).encode())
    return TimestampSigner(hashlib.sha256((CLIENT_SECRET + "-v4").encode()).hexdigest()).sign(data).decode()


@pytest.fixture(scope="module")
def browser():
    yield from chromium()


def _final_status(page, timeout_ms: int = 600_000) -> str:
    page.wait_for_function(
        "() => { const s = document.querySelector('#run-status'); if (!s) return false; const t = s.innerText; "
        "return t.startsWith('\u2713') || t.startsWith('\u2717') || t.startsWith('\u25a0 Stopped'); }",
        timeout=timeout_ms)
    return page.locator("#run-status").inner_text()


def test_signed_in_user_pastes_a_new_task_and_an_hf_operator_verifies_a_kernel(space, standin, browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.add_cookies([{"name": "session", "value": _session_cookie(USER_TOKEN), "url": space["url"],
                          "sameSite": "Lax"}])
    page = context.new_page()
    page.goto(space["url"], wait_until="load", timeout=60_000)
    page.get_by_role("button", name=f"Logout ({USER})").wait_for(timeout=30_000)   # Gradio's LoginButton
    editor = page.locator("#task-code .cm-content")
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(TASK)
    op = page.locator("#operator input")
    op.click()
    op.fill("hf:tester/honest")
    op.press("Enter")
    page.locator("#generations input[type=number]").fill("0")
    page.locator("#generations input[type=number]").press("Enter")
    Standin.seen.clear()
    page.locator("#run-btn").click()
    text = _final_status(page)
    assert text.startswith("✓ Verified kernel found"), text
    assert "ke_launch" in page.locator("#kernel-code .cm-content").inner_text()
    assert "fail" not in page.locator("#checks").inner_text()
    chats = [s for s in Standin.seen if s[0].endswith("/chat/completions")]
    assert len(chats) == 2 and {s[1] for s in chats} == {"tester/honest"}, chats    # functionalize, translate
    assert {s[2] for s in chats} == {f"Bearer {USER_TOKEN}"}, "an hf: run must send the signed-in user's token"
    assert not any(OWNER_TOKEN in s[2] for s in Standin.seen)
    # the signed-in user may save; the commit names them
    page.locator("#save-btn").click()
    page.locator("#save-msg").get_by_text("Saved", exact=False).wait_for(timeout=60_000)
    assert f"@{USER}" in page.locator("#save-msg").inner_text()
    assert any(f"by @{USER}" in m for m in _commits(space["archive"]))
    context.close()


def test_on_a_space_hf_runs_and_saving_need_a_signed_in_user(space, standin):
    Standin.seen.clear()
    anonymous = _client(space)
    status = _run(anonymous, TASK, "hf:tester/honest")
    assert status.startswith("✗") and "Sign in with Hugging Face" in status, status
    assert not [s for s in Standin.seen if s[0].endswith("/chat/completions")], "no call may go out unsigned"
    # a verified kernel staged by an anonymous session (tune needs no sign-in) cannot be saved by it
    from space.intake import builtin_source
    from space.layout import DEFAULT_TASK
    status = _run(anonymous, builtin_source(DEFAULT_TASK), "tune", DEFAULT_TASK)
    assert status.startswith("✓ Verified kernel found"), status
    before = _commits(space["archive"])
    msg = plain(anonymous.predict(api_name="/save"))
    assert msg.startswith("✗") and "needs a signed-in user" in msg, msg
    # a token the caller makes up is not a sign-in: the Hub (here the stand-in) must confirm it
    forged = _client(space, "hf_made_up_token_000000000000000")
    msg = plain(forged.predict(api_name="/save"))
    assert msg.startswith("✗") and "did not confirm your sign-in" in msg, msg
    assert _commits(space["archive"]) == before
    assert not any(OWNER_TOKEN in s[2] for s in Standin.seen)


# the same task under an op name that no test saves: the archive's kernels of an op seed a run of that op
UNSAVED = TASK.replace("import torch.nn as nn\n", 'import torch.nn as nn\n\nOP_NAME = "swish_offset_unsaved"\n', 1)


@pytest.mark.parametrize("model, expected", [
    ("tester/refused", "The LLM call failed"),
    ("tester/no-functional", "Stage 1 (functionalize) failed"),
    ("tester/no-compile", "The kernel did not compile"),
    ("tester/wrong", "The kernel gave wrong results"),
])
def test_llm_run_failures_say_why_in_the_status_line(space, model, expected):
    assert "OP_NAME" in UNSAVED
    status = _run(_client(space, USER_TOKEN), UNSAVED, f"hf:{model}")
    assert status.startswith("✗") and expected in status, status
    if model == "tester/refused":
        assert "is not supported by any provider" in status and "choose another operator" in status
    if model == "tester/no-compile":
        assert "error" in status and "Judged: 2 compile_error" in status, status


def test_space_page_fits_a_phone(space, browser):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    context.add_cookies([{"name": "session", "value": _session_cookie(USER_TOKEN), "url": space["url"],
                          "sameSite": "Lax"}])
    page = context.new_page()
    page.goto(space["url"], wait_until="load", timeout=60_000)
    login = page.get_by_role("button", name=f"Logout ({USER})")
    login.wait_for(timeout=30_000)
    note = page.locator("#sign-in-note").bounding_box()
    box = login.bounding_box()
    assert box["height"] < 120 and note["y"] >= box["y"] + box["height"] - 1, (box, note)   # stacked, not squeezed
    run, editor = page.locator("#run-btn").bounding_box(), page.locator("#task-code").bounding_box()
    assert run["y"] < editor["y"] and page.evaluate("() => document.documentElement.scrollWidth") <= 391
    context.close()
