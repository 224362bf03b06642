"""The static filter's C++/CUDA rules: scanning a format-A/K source (or the C++ strings of a format-B
file), and the report every format's scan ends in (`StaticReport`, `build_report`).

C++ is scanned after comments and string literals are blanked out (the text
keeps its offsets and line breaks, so line numbers stay right), so a comment
that mentions cuBLAS does not count; the literals are kept aside for the few
rules that read them (paths, secrets). Python is read with `ast`, never run.

The filter is bypassable by design: a macro-pasted name or a function pointer
walks past it. It never is the only defence; the isolated runner's dynamic
checks are (harness.judge.verify). The format-B rules live in `harness.static.python_source`;
the names and patterns the C++ rules match live in `harness.static.patterns`.
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from harness.static.patterns import (
    ALLOWED_TORCH_FUNCS, ASM_ESCAPE, COMPUTE_METHODS, CUB_DEVICE, DEFERRED, FREE_CALL, FUNC_DEF, GLOBAL,
    IO_CALLS, IO_QUALIFIED, KEYWORDS, LAMBDA_VAR, LAUNCH, LAUNCH_BOUNDS, LIBRARY_CUDA_HANDLES,
    LIBRARY_NAMESPACE_PARTS, METHOD_CALL, NOT_STATE, PROCESS_CALLS, PYBIND_BLOCK, PY_CAPI, PY_EMBED,
    PY_IMPORT, QUALIFIED_CALL, SECRET_STRING, STATIC_VAR, STD_LIBC, STREAMS, THREADS, THRUST_CALL,
    THRUST_HELPERS, TORCH_INCLUDE, VENDOR_CALL,
)
from harness.types import Check

# rule -> (action, what a passing check says)
RULES: dict[str, tuple[str, str]] = {
    "library_call": ("flag", "no ATen/torch compute op, cuBLAS, cuDNN, thrust or cub device-wide call"),
    "no_kernel": ("reject", "defines and launches a __global__ kernel"),
    "extra_stream": ("flag", "creates no stream of its own"),
    "deferred_work": ("flag", "enqueues no host callback or graph"),
    "detached_thread": ("reject", "starts no thread that could outlive the call"),
    "static_cache": ("flag", "keeps no mutable state between calls"),
    "python_from_native": ("reject", "uses Python only to define the module"),
    "process_control": ("reject", "no fork/exec/exit/signal/dlopen/syscall"),
    "io_access": ("reject", "no file, socket or environment access"),
    "format_k_torch": ("reject", "a format-K kernel includes no torch, ATen or pybind11 header"),
}


@dataclass(frozen=True)
class Finding:
    """One thing a rule saw: where and what."""

    rule: str
    detail: str


@dataclass(frozen=True)
class StaticReport:
    """What the static filter found. `rejected` means the candidate must not be built or run."""

    checks: tuple[Check, ...]
    flags: tuple[str, ...]
    library_calls: tuple[str, ...]
    rejected: bool
    reason: str
    kernel_names: tuple[str, ...]


@dataclass(frozen=True)
class Stripped:
    """C++ with comments and literal contents blanked; same length and line breaks as the source."""

    code: str
    strings: tuple[tuple[int, str], ...]  # (offset, content) of each string/char literal
    source: str


_RAW_OPEN = re.compile(r'R"([^()\\\s"]{0,16})\(')


def _blank(text: str) -> str:
    return "".join(c if c == "\n" else " " for c in text)


def _ident_char(source: str, i: int) -> bool:
    return i >= 0 and (source[i].isalnum() or source[i] == "_")


def _raw_prefix_ok(source: str, i: int) -> bool:
    """True where the R at i starts a raw string literal (R"..., u8R"..., LR"...)."""
    if not source.startswith('R"', i):
        return False
    if not _ident_char(source, i - 1):
        return True
    if source[i - 1] in "uUL" and not _ident_char(source, i - 2):
        return True
    return source[max(0, i - 2):i] == "u8" and not _ident_char(source, i - 3)


def strip_cpp(source: str) -> Stripped:
    """Blank comments and the contents of string/char literals (quotes stay)."""
    out: list[str] = []
    strings: list[tuple[int, str]] = []
    i, n = 0, len(source)
    while i < n:
        c = source[i]
        if source.startswith("//", i):
            j = source.find("\n", i)
            j = n if j < 0 else j
            out.append(_blank(source[i:j]))
            i = j
            continue
        if source.startswith("/*", i):
            j = source.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(_blank(source[i:j]))
            i = j
            continue
        if c == "R" and _raw_prefix_ok(source, i):
            m = _RAW_OPEN.match(source, i)
            if m:
                close = ")" + m.group(1) + '"'
                j = source.find(close, m.end())
                j = n if j < 0 else j
                strings.append((i, source[m.end():j]))
                end = min(n, j + len(close))
                out.append('R"' + _blank(source[i + 2:end - 1]) + ('"' if j < n else source[end - 1:end]))
                i = end
                continue
        if c == '"' or (c == "'" and not (i > 0 and source[i - 1].isdigit() and i + 1 < n and source[i + 1].isalnum())):
            j = i + 1
            while j < n and source[j] != c and source[j] != "\n":
                j += 2 if source[j] == "\\" else 1
            j = min(j, n)
            strings.append((i, source[i + 1:j]))
            out.append(c + _blank(source[i + 1:j]) + (c if j < n and source[j] == c else ""))
            i = j + 1 if j < n and source[j] == c else j
            continue
        out.append(c)
        i += 1
    return Stripped(code="".join(out)[:n], strings=tuple(strings), source=source)


class _Scan:
    """Findings for one C++/CUDA text."""

    def __init__(self, source: str):
        self.s = strip_cpp(source)
        self.code = self.s.code
        self.findings: list[Finding] = []
        self.library_calls: list[str] = []
        self.defined = ({m.group(1) for m in FUNC_DEF.finditer(self.code)} - KEYWORDS) | {
            m.group(1) for m in LAMBDA_VAR.finditer(self.code)}
        self._nl = [i for i, c in enumerate(source) if c == "\n"]

    def line(self, offset: int) -> int:
        return bisect.bisect_right(self._nl, offset - 1) + 1

    def add(self, rule: str, what: str, offset: int) -> None:
        self.findings.append(Finding(rule, f"{what} (line {self.line(offset)})"))

    def library(self, name: str, offset: int) -> None:
        self.library_calls.append(name)
        self.add("library_call", name, offset)


def _kernel_names(code: str) -> list[str]:
    code = LAUNCH_BOUNDS.sub(lambda m: " " * len(m.group(0)), code)
    names = []
    for m in GLOBAL.finditer(code):
        paren = code.find("(", m.end())
        ids = re.findall(r"\w+", code[m.end():paren]) if paren > 0 else []
        if ids:
            names.append(ids[-1])
    return names


def _pybind_span(code: str) -> tuple[int, int]:
    m = PYBIND_BLOCK.search(code)
    if not m:
        return (-1, -1)
    depth, i = 1, m.end()
    while i < len(code) and depth:
        depth += {"{": 1, "}": -1}.get(code[i], 0)
        i += 1
    return (m.start(), i)


def _library_calls(sc: _Scan) -> None:
    code = sc.code
    for m in QUALIFIED_CALL.finditer(code):
        parts = [p.strip() for p in m.group(1).split("::") if p.strip()]
        name = m.group(2)
        full = "::".join(parts + [name])
        if LIBRARY_CUDA_HANDLES.search(name) or LIBRARY_NAMESPACE_PARTS & set(parts[1:]):
            sc.library(full, m.start())
        elif name[0].isupper() or re.fullmatch(r"k[A-Z]\w*", name) or name in ALLOWED_TORCH_FUNCS:
            continue
        elif name in ("getStreamFromPool", "getStreamFromExternal", "launch"):
            continue  # streams and threads have rules of their own
        else:
            sc.library(full, m.start())
    for m in METHOD_CALL.finditer(code):
        if m.group(1) in COMPUTE_METHODS:
            sc.library("." + m.group(1) + "()", m.start())
    for m in VENDOR_CALL.finditer(code):
        sc.library(m.group(1), m.start())
    for m in THRUST_CALL.finditer(code):
        if m.group(1) not in THRUST_HELPERS:
            sc.library("thrust::" + m.group(1), m.start())
    for m in CUB_DEVICE.finditer(code):
        sc.library(f"cub::{m.group(1)}::{m.group(2)}", m.start())


def _static_state(sc: _Scan) -> None:
    code = sc.code
    for m in STATIC_VAR.finditer(code):
        end = re.compile(r"[;={(]").search(code, m.end())
        if not end:
            continue
        decl = code[m.end():end.start()]
        if end.group(0) == "(" or "operator" in decl:
            continue  # a function, not a variable
        ids = re.findall(r"[A-Za-z_]\w*", decl)
        if ids and ids[0] not in ("struct", "class", "enum", "union"):
            sc.add("static_cache", f"{m.group(1)} variable '{ids[-1]}'", m.start())
    # namespace-scope mutable variables: state that lives between calls without the `static` keyword
    code_np = re.sub(r"(?m)^[ \t]*#.*(?:\\\n.*)*$", lambda m: _blank(m.group(0)), code)
    stack: list[bool] = []  # True for a namespace / extern "C" brace
    start = 0
    for i, c in enumerate(code_np):
        if c not in "{};":
            continue
        at_top = all(stack)
        stmt = code_np[start:i]
        if c == "{":
            stack.append(bool(re.search(r"\b(?:namespace\s*\w*|extern\s*\"\s*\")\s*$", stmt)))
        elif c == "}":
            if stack:
                stack.pop()
        elif at_top:
            _top_level_decl(sc, stmt, start)
        start = i + 1


def _top_level_decl(sc: _Scan, stmt: str, offset: int) -> None:
    if not stmt.strip() or NOT_STATE.search(stmt):
        return
    head = stmt.split("=", 1)[0]
    if "(" in head or ")" in head:
        return  # a function declaration or a macro
    ids = re.findall(r"[A-Za-z_]\w*", head)
    if len(ids) >= 2 or ("*" in head and ids):
        lead = len(stmt) - len(stmt.lstrip())
        sc.add("static_cache", f"namespace-scope variable '{ids[-1]}'", offset + lead)


def _free_calls(sc: _Scan, names: frozenset[str], rule: str) -> None:
    for m in FREE_CALL.finditer(sc.code):
        name = m.group(2)
        if (m.group(1) or "").startswith("std") and name not in STD_LIBC:
            continue  # std::bind, std::accumulate-style names are not the C library's
        if name in names and name not in sc.defined:
            sc.add(rule, f"{(m.group(1) or '').replace(' ', '')}{name}()", m.start(2))


def _directives(sc: _Scan) -> list[tuple[int, str]]:
    """Preprocessor lines (outside comments), with their original text so quoted includes stay readable."""
    out = []
    for m in re.finditer(r"(?m)^[ \t]*#.*$", sc.code):
        out.append((m.start(), sc.s.source[m.start():m.end()]))
    return out


def scan_cpp(source: str, *, backend: str, fmt: str = "A") -> tuple[list[Finding], list[str], list[str]]:
    """Findings, library calls and kernel names for one C++/CUDA translation unit."""
    sc = _Scan(source)
    code = sc.code
    kernels = _kernel_names(code)
    _library_calls(sc)
    if backend == "cuda":
        if not kernels:
            sc.add("no_kernel", "no __global__ function: on the CUDA backend a candidate must launch a kernel of "
                   "its own (an ATen/cuBLAS call is not a kernel)", 0)
        elif not LAUNCH.search(code):
            sc.add("no_kernel", f"defines {', '.join(kernels)} but never launches it (no <<<...>>> or "
                   "cudaLaunchKernel)", 0)
    for m in STREAMS.finditer(code):
        sc.add("extra_stream", m.group(1), m.start())
    for m in DEFERRED.finditer(code):
        sc.add("deferred_work", m.group(1), m.start())
    for m in THREADS.finditer(code):
        sc.add("detached_thread", re.sub(r"\s+", "", m.group(0)).rstrip("("), m.start())
    _static_state(sc)
    for m in PY_IMPORT.finditer(code):
        sc.add("python_from_native", re.sub(r"\s+", "", m.group(0)), m.start())
    for m in PY_CAPI.finditer(code):
        sc.add("python_from_native", m.group(0).rstrip("( \t\n") + "()", m.start())
    includes = _directives(sc)
    for offset, text in includes:
        if PY_EMBED.search(text):
            sc.add("python_from_native", text.strip(), offset)
    lo, hi = _pybind_span(code)
    for m in re.finditer(r"\.\s*attr\s*\(", code):
        if not lo <= m.start() < hi:
            sc.add("python_from_native", ".attr() outside PYBIND11_MODULE", m.start())
    _free_calls(sc, PROCESS_CALLS, "process_control")
    _free_calls(sc, IO_CALLS, "io_access")
    for m in IO_QUALIFIED.finditer(code):
        sc.add("io_access", re.sub(r"\s+", "", m.group(0)), m.start())
    for offset, text in sc.s.strings:
        if SECRET_STRING.search(text):
            sc.add("io_access", f"string literal {text[:40]!r} names a system path or a secret", offset)
        if ASM_ESCAPE.search(text):
            sc.add("process_control", f"inline assembly {text[:40]!r} makes a raw system call", offset)
    if fmt == "K":
        for offset, text in includes:
            if TORCH_INCLUDE.search(text):
                sc.add("format_k_torch", text.strip(), offset)
    return sc.findings, sc.library_calls, kernels


# ---------------------------------------------------------------- report

def build_report(findings: list[Finding], library_calls: list[str], kernels: list[str],
                 rules: dict[str, tuple[str, str]]) -> StaticReport:
    """One check per rule, in the order of `rules` (every finding's rule must be in it)."""
    by_rule: dict[str, list[str]] = {}
    for f in findings:
        by_rule.setdefault(f.rule, []).append(f.detail)
    checks = []
    for rule, (action, ok_text) in rules.items():
        if rule in by_rule:
            details = list(dict.fromkeys(by_rule[rule]))
            text = "; ".join(details[:8]) + (f"; and {len(details) - 8} more" if len(details) > 8 else "")
            checks.append(Check(f"static_{rule}", "fail" if action == "reject" else "flag", text))
        else:
            checks.append(Check(f"static_{rule}", "pass", ok_text))
    rejects = [c for c in checks if c.outcome == "fail"]
    return StaticReport(
        checks=tuple(checks),
        flags=tuple(c.name[len("static_"):] for c in checks if c.outcome == "flag"),
        library_calls=tuple(dict.fromkeys(library_calls)),
        rejected=bool(rejects),
        reason="; ".join(f"{c.name[len('static_'):]}: {c.reason}" for c in rejects),
        kernel_names=tuple(dict.fromkeys(kernels)),
    )
