"""The Space's intake: pasted task text checked before anything runs, and secrets kept out of what is shown.

Pasted code is untrusted. This module never executes it: it checks the size,
then parses it with the harness's AST-only `parse_task_source`, which names a
syntax error's line or the missing `Model` / `get_inputs` / `get_init_inputs`.
A task whose text is exactly a built-in task's runs under the built-in id (so
its shipped known-good kernel can seed the offline operator); any other task is
written to the run's own folder and judged only inside the harness's sandbox.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from harness.task import TaskError, builtin_tasks, load_task, parse_task_source
from harness.types import TaskRef

#: Default limit on pasted task text (characters); a KernelBench level-3 file is about 6 000.
MAX_TASK_CHARS = 20_000

_SECRET_WORDS = ("TOKEN", "SECRET", "KEY", "PASSWORD", "CREDENTIAL", "AUTH")
_HF_TOKEN = re.compile(r"\bhf_[A-Za-z0-9]{16,}\b")


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


def _builtin_by_source() -> dict[str, str]:
    out = {}
    for tid in builtin_tasks():
        out.setdefault(load_task(tid).sha256, tid)
    return out


def _safe_name(name: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_")[:48]
    return s if s and not s[0].isdigit() else f"task_{s}"


def prepare_task(text: str | None, workdir: str | os.PathLike[str], *, max_chars: int = MAX_TASK_CHARS) -> TaskInput:
    """Check `text` and give the spec a run takes. Writes a non-built-in task into `workdir` (never imports it)."""
    ref = check_task_text(text, max_chars=max_chars)
    builtin = _builtin_by_source().get(ref.sha256)
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
