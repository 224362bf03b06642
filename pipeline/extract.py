"""Getting code out of a completion: fenced or bare code, and SEARCH/REPLACE diffs.

Operators answer in free text. `extract_code` finds the kernel (C++/CUDA) or the
functional task (Python) in it; `apply_diff` applies SEARCH/REPLACE blocks to a
parent's source. Anything that is not code raises `ExtractError` with a reason
an LLM can act on; the run loop turns it into a failed candidate, never a crash.
"""
from __future__ import annotations

import ast
import re
from typing import Literal

Language = Literal["cpp", "python"]

FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+.-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)
DIFF_BLOCK = re.compile(
    r"<{5,}[ \t]*SEARCH[ \t]*\n(.*?)\n?={5,}[ \t]*\n(.*?)\n?>{5,}[ \t]*REPLACE", re.S
)
CPP_TAGS = {"cpp", "c++", "cc", "cxx", "cu", "cuda", "c", "h", "hpp"}
PY_TAGS = {"python", "py", "python3"}
MAX_CODE_CHARS = 256 * 1024


class ExtractError(ValueError):
    """The completion holds no usable code; the message says what was expected."""


def _looks_cpp(code: str) -> bool:
    return "PYBIND11_MODULE" in code or ("#include" in code and "forward" in code) or \
        (re.search(r'extern\s+"C"', code) is not None and "ke_launch" in code)


def _looks_python(code: str) -> bool:
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    names = {n.name for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef))}
    return "Model" in names or "module_fn" in names


def _bare_cpp(text: str) -> str | None:
    start = text.find("#include")
    if start >= 0 and "PYBIND11_MODULE" not in text[start:] and "ke_launch" in text[start:]:
        return text[start:]  # format K: no module definition to end at
    if start < 0 or "PYBIND11_MODULE" not in text[start:]:
        return None
    body = text[start:]
    # cut trailing prose after the module definition's closing brace
    m = re.search(r"PYBIND11_MODULE\s*\([^)]*\)\s*\{", body)
    if m:
        depth, i = 0, m.end() - 1
        while i < len(body):
            depth += {"{": 1, "}": -1}.get(body[i], 0)
            if depth == 0:
                return body[: i + 1] + "\n"
            i += 1
    return body


def _bare_python(text: str) -> str | None:
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(("import ", "from ", "class ", "def ")):
            for j in range(len(lines), i, -1):
                chunk = "\n".join(lines[i:j]) + "\n"
                if _looks_python(chunk):
                    return chunk
            return None
    return None


def extract_code(text: str, language: Language = "cpp") -> str:
    """The code a completion carries: the best fenced block, else bare code. Raises ExtractError."""
    if not text or not text.strip():
        raise ExtractError("the completion is empty; answer with the complete source in one ``` code block")
    if len(text) > 4 * MAX_CODE_CHARS:
        raise ExtractError("the completion is too long to be one source file")
    looks = _looks_cpp if language == "cpp" else _looks_python
    tags = CPP_TAGS if language == "cpp" else PY_TAGS
    blocks = [(tag.lower(), body) for tag, body in FENCE.findall(text)]
    good = [b for t, b in blocks if looks(b)]
    if good:
        return max(good, key=len).strip("\n") + "\n"
    bare = _bare_cpp(text) if language == "cpp" else _bare_python(text)
    if bare is not None and looks(bare):
        return bare
    tagged = [b for t, b in blocks if t in tags]
    if language == "cpp":
        need = ("a C++/CUDA translation unit with #include <torch/extension.h>, forward(...) and PYBIND11_MODULE "
                '(format A), or one with an extern "C" ke_launch(...) (format K)')
    else:
        need = "Python source defining module_fn(...) and class Model whose forward takes fn=module_fn"
    if tagged:
        raise ExtractError(f"the ```{language} block is not {need}")
    raise ExtractError(f"no code found in the completion: expected {need}, in one ``` code block")


def parse_diff(text: str) -> list[tuple[str, str]]:
    """The (search, replace) pairs of SEARCH/REPLACE blocks in a completion."""
    return [(s, r) for s, r in DIFF_BLOCK.findall(text or "")]


def _loose_find(source: str, search: str) -> tuple[int, int] | None:
    """Find `search` in `source` ignoring leading/trailing whitespace of each line."""
    src_lines = source.splitlines(keepends=True)
    want = [l.strip() for l in search.strip("\n").splitlines()]
    if not want:
        return None
    for i in range(len(src_lines) - len(want) + 1):
        if all(src_lines[i + k].strip() == want[k] for k in range(len(want))):
            start = sum(len(l) for l in src_lines[:i])
            end = start + sum(len(l) for l in src_lines[i : i + len(want)])
            return start, end
    return None


def apply_diff(source: str, text: str) -> str:
    """Apply every SEARCH/REPLACE block in `text` to `source`. Raises ExtractError on a miss."""
    pairs = parse_diff(text)
    if not pairs:
        raise ExtractError(
            "no SEARCH/REPLACE block found; write each edit as\n<<<<<<< SEARCH\n(exact lines of the parent)\n"
            "=======\n(new lines)\n>>>>>>> REPLACE"
        )
    out = source
    for n, (search, replace) in enumerate(pairs, 1):
        if search and search in out:
            out = out.replace(search, replace, 1)
            continue
        span = _loose_find(out, search)
        if span is None:
            first = search.strip().splitlines()[0][:80] if search.strip() else "(empty)"
            raise ExtractError(f"SEARCH block {n} does not match the parent kernel (starts with: {first!r}); "
                               "copy the lines exactly")
        rep = replace if replace.endswith("\n") or not replace else replace + "\n"
        out = out[: span[0]] + rep + out[span[1]:]
    if out == source:
        raise ExtractError("the SEARCH/REPLACE blocks change nothing")
    return out
