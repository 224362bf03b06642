"""The Space's intake: pasted task text checked before anything runs, and secrets kept out of what is shown.

Pasted code is untrusted. This module never executes it: it checks the size,
then parses it with the harness's AST-only `parse_task_source`, which names a
syntax error's line or the missing `Model` / `get_inputs` / `get_init_inputs`.
A task whose code is a built-in task's runs under the built-in id (so its
shipped known-good kernel can seed the offline operator). "The same code" is
judged on the syntax tree, so whitespace, comments and a missing final newline
(the browser's code editor drops it) do not matter; the example chosen in the
dropdown is tried first. Any other task is written to the run's own folder and
judged only inside the harness's sandbox.
"""
from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from harness.task import TaskError, builtin_tasks, load_task, parse_task_source
from harness.types import TaskRef

#: Default limit on pasted task text (characters); a KernelBench level-3 file is about 6 000.
MAX_TASK_CHARS = 20_000

_SECRET_WORDS = ("TOKEN", "SECRET", "KEY", "PASSWORD", "CREDENTIAL", "AUTH")
_HF_TOKEN = re.compile(r"\bhf_(?:oauth_)?[A-Za-z0-9]{16,}\b")   # user access tokens and OAuth access tokens


class InputError(ValueError):
    """Task text the Space refuses; the message is shown to the user as it is."""


@dataclass(frozen=True)
class TaskInput:
    """A checked task: the spec a run takes (built-in id or file path) and its description."""

    spec: str
    task: TaskRef
    builtin: bool


def check_task_text(text: str | None, *, max_chars: int = MAX_TASK_CHARS) -> TaskRef:
    """Size- and AST-check pasted task text. Raises InputError with a message meant for the user."""
    text = text or ""
    if len(text) > max_chars:
        raise InputError(f"The task is too long: {len(text):,} characters, the limit is {max_chars:,}. "
                         "Paste a single KernelBench-style task file.")
    if "\x00" in text:
        raise InputError("The task contains a NUL byte; paste plain Python text.")
    try:
        return parse_task_source(text, task_id="user/task", path="")
    except TaskError as e:
        raise InputError(f"{str(e)[0].upper()}{str(e)[1:]}.") from None


def builtin_source(task_id: str) -> str:
    """The text of a built-in task (our own file, shown in the editor as an example)."""
    return load_task(task_id).source


def _shape(text: str) -> str:
    """The code's syntax tree without positions: equal for texts that differ only in layout and comments."""
    return ast.dump(ast.parse(text))


@lru_cache(maxsize=1)
def _builtin_shapes() -> dict[str, str]:
    """Built-in task id -> its syntax tree (our own files; read once per process)."""
    return {tid: _shape(load_task(tid).source) for tid in builtin_tasks()}


def builtin_match(text: str, hint: str | None = None) -> str | None:
    """The built-in task whose code `text` is (layout and comments aside), trying `hint` first; else None.

    `text` must already have passed `check_task_text` (it parses)."""
    shapes = _builtin_shapes()
    shape = _shape(text)
    if hint in shapes and shapes[hint] == shape:
        return hint
    return next((tid for tid, s in shapes.items() if s == shape), None)


def _safe_name(name: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_")[:48]
    return s if s and not s[0].isdigit() else f"task_{s}"


def prepare_task(text: str | None, workdir: str | os.PathLike[str], *, max_chars: int = MAX_TASK_CHARS,
                 hint: str | None = None) -> TaskInput:
    """Check `text` and give the spec a run takes. Writes a non-built-in task into `workdir` (never imports it).

    `hint` is the built-in task the user picked as the example (tried first)."""
    ref = check_task_text(text, max_chars=max_chars)
    builtin = builtin_match(ref.source, hint)
    if builtin is not None:
        return TaskInput(spec=builtin, task=load_task(builtin), builtin=True)
    d = Path(workdir)
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{_safe_name(ref.op_name)}.py"
    path.write_text(ref.source)
    return TaskInput(spec=str(path), task=load_task(path), builtin=False)


def redact(text: str) -> str:
    """`text` with the values of secret-looking environment variables and HF tokens blanked out."""
    if not text:
        return text
    for k, v in os.environ.items():
        if v and len(v) >= 8 and any(w in k.upper() for w in _SECRET_WORDS):
            text = text.replace(v, "[redacted]")
    return _HF_TOKEN.sub("[redacted]", text)
