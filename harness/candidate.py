"""Candidate sources: reading a kernel from a file or text and deciding its format.

Format A is a C++/CUDA translation unit that exposes `forward` through
`PYBIND11_MODULE`; format B is a KernelBench `ModelNew` Python file; format K is
a kernel plus an `extern "C"` launcher with no torch headers. Detection reads
the text only; nothing here compiles or runs it.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

from harness.types import Candidate, Format, TaskRef

MAX_SOURCE_BYTES = 512 * 1024


class CandidateError(ValueError):
    """A candidate that cannot even be classified; the message says why."""


def detect_format(source: str) -> Format:
    if not source.strip():
        raise CandidateError("the candidate is empty")
    if len(source.encode("utf-8", "replace")) > MAX_SOURCE_BYTES:
        raise CandidateError(f"the candidate is larger than {MAX_SOURCE_BYTES // 1024} KiB")
    if "PYBIND11_MODULE" in source:
        return "A"
    if re.search(r'extern\s+"C"', source) and "ke_launch" in source:
        return "K"
    try:
        tree = ast.parse(source)
    except SyntaxError:
        tree = None
    if tree is not None and any(isinstance(n, ast.ClassDef) and n.name == "ModelNew" for n in tree.body):
        return "B"
    raise CandidateError(
        "cannot tell the candidate's format: a format-A kernel defines `forward` and exposes it with "
        "PYBIND11_MODULE(TORCH_EXTENSION_NAME, m); a format-B candidate is Python with `class ModelNew`; "
        'a format-K kernel has an `extern "C" int ke_launch(...)` launcher'
    )


def load_candidate(path_or_source: str | Path, task: TaskRef, *, format: Format | None = None) -> Candidate:
    """A candidate from a file path or from source text."""
    name = ""
    text = str(path_or_source)
    p = Path(text) if "\n" not in text and len(text) < 4096 else None
    if p is not None and p.is_file():
        name = p.name
        try:
            text = p.read_text()
        except UnicodeDecodeError:
            raise CandidateError(f"{p} is not a UTF-8 text file") from None
    elif p is not None and p.suffix in (".cu", ".cpp", ".py", ".cc") :
        raise CandidateError(f"no such kernel file: {p}")
    fmt = format or detect_format(text)
    if fmt in ("A", "K") and not task.functional:
        raise CandidateError(
            f"task {task.task_id} has no functional form (module_fn + Model.forward(..., fn=)); a format-{fmt} "
            "kernel needs one. Run stage 1 (functionalize) first, or give a format-B ModelNew candidate."
        )
    return Candidate(task=task, source=text, format=fmt, name=name)
