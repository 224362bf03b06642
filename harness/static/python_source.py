"""Static checks for format-B candidates: KernelBench `ModelNew` Python files.

This module owns the Python half of the static filter (`harness.static.cpp` owns
the C++ half and the report). It reads the file with `ast` and never runs it.
Arbitrary Python runs in the runner for a format-B candidate, so the rules are
strict: no exception handling (a fallback to PyTorch), `ModelNew` subclasses
`nn.Module` directly, no patching of any imported module, no introspection
(gc, inspect, sys, frames, dunders, exec/eval), no file, network or process
use, no use of the reference `Model`/`module_fn`, and the CUDA/C++ must be
built through `load_inline` from sources this module can read; those sources
then get the format-A rules. Like every static rule these are bypassable and
only a first filter.
"""
from __future__ import annotations

import ast

from harness.static.cpp import COMPUTE_METHODS, RULES, Finding, StaticReport, build_report, scan_cpp

PY_RULES: dict[str, tuple[str, str]] = {
    "syntax": ("reject", "parses as Python"),
    "no_model_new": ("reject", "defines class ModelNew"),
    "inherits_reference": ("reject", "ModelNew subclasses nn.Module directly"),
    "tensor_subclass": ("reject", "defines no tensor subclass, __torch_function__ or __torch_dispatch__"),
    "python_fallback": ("reject", "catches no exceptions, so a failing kernel cannot fall back to PyTorch"),
    "monkeypatch": ("reject", "assigns no attribute of torch, time, builtins or any other module"),
    "introspection": ("reject", "no gc/inspect/sys/ctypes, frame or dunder access, exec/eval/__import__"),
    "import_not_allowed": ("reject", "imports only torch and pure helpers (math, typing, functools, ...)"),
    "reads_reference": ("reject", "does not use the reference Model or module_fn"),
    "no_load_inline": ("reject", "builds its CUDA/C++ through torch.utils.cpp_extension.load_inline"),
    "unresolved_source": ("reject", "load_inline sources are string literals or module-level string constants"),
    "fast_math": ("flag", "asks for no fast-math compiler flag"),
}
ALL_RULES: dict[str, tuple[str, str]] = {**PY_RULES, **{k: v for k, v in RULES.items() if k != "format_k_torch"}}

ALLOWED_ROOTS = frozenset({"torch", "math", "typing", "functools", "itertools", "collections", "dataclasses",
                           "numbers", "__future__", "operator", "enum", "typing_extensions"})
INTROSPECTION_MODULES = frozenset("""gc inspect sys ctypes cffi traceback types weakref importlib builtins __main__
__builtin__ dis code codeop marshal pickle copyreg atexit faulthandler tracemalloc linecache""".split())
IO_MODULES = frozenset("""os posix nt subprocess socket requests urllib urllib3 http httpx aiohttp pathlib shutil io
tempfile glob multiprocessing signal mmap asyncio fcntl pty select ssl ftplib smtplib huggingface_hub datasets
sqlite3 zipfile tarfile""".split())
THREAD_MODULES = frozenset({"threading", "_thread", "concurrent"})
TIMER_MODULES = frozenset({"time", "timeit"})
ALLOWED_TORCH_CALLS = frozenset("""empty empty_like empty_strided zeros zeros_like ones ones_like full full_like tensor
as_tensor is_tensor device dtype Size no_grad inference_mode manual_seed""".split())
INTROSPECTION_NAMES = frozenset({"exec", "eval", "compile", "globals", "locals", "vars", "breakpoint", "__import__",
                                 "__builtins__", "__loader__", "__spec__", "__file__", "help", "input"})
SAFE_DUNDERS = frozenset({"__init__", "__name__"})
MODULE_BASES = frozenset({"nn.Module", "torch.nn.Module", "Module"})


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _root(node: ast.AST) -> ast.AST:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node


class _PyScan:
    def __init__(self, tree: ast.Module):
        self.tree = tree
        self.findings: list[Finding] = []
        self.library_calls: list[str] = []
        self.aliases: dict[str, str] = {}  # local name -> module path it stands for

    def add(self, rule: str, what: str, node: ast.AST) -> None:
        self.findings.append(Finding(rule, f"{what} (line {getattr(node, 'lineno', '?')})"))

    def resolve(self, node: ast.AST) -> str | None:
        """The module path an expression names, if it starts at an imported module."""
        d = _dotted(node)
        if d is None:
            return None
        head, _, rest = d.partition(".")
        if head not in self.aliases:
            return None
        return self.aliases[head] + ("." + rest if rest else "")

    # -- imports and aliases
    def imports(self) -> None:
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    self._check_module(a.name, node)
                    self.aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom):
                mod = "." * node.level + (node.module or "")
                self._check_module(mod, node)
                for a in node.names:
                    if a.name == "*":
                        self.add("import_not_allowed", f"from {mod} import *", node)
                    self.aliases[a.asname or a.name] = f"{mod}.{a.name}"
        for _ in range(3):  # simple aliases: t = torch; f = torch.nn.functional
            for node in ast.walk(self.tree):
                if isinstance(node, ast.Assign) and self.resolve(node.value):
                    for t in node.targets:
                        if isinstance(t, ast.Name):
                            self.aliases[t.id] = self.resolve(node.value) or ""

    def _check_module(self, name: str, node: ast.AST) -> None:
        parts = name.split(".")
        root = parts[0]
        if root in INTROSPECTION_MODULES:
            self.add("introspection", f"import of {name}", node)
        elif root in IO_MODULES:
            self.add("io_access", f"import of {name} (file, network or process access)", node)
        elif root in THREAD_MODULES:
            self.add("detached_thread", f"import of {name}", node)
        elif root in TIMER_MODULES:
            self.add("import_not_allowed", f"import of {name}: timers belong to the harness", node)
        elif root not in ALLOWED_ROOTS:
            self.add("import_not_allowed", f"import of {name or 'a relative module'}", node)
        elif root == "torch" and any(p.startswith("_") for p in parts):
            self.add("introspection", f"import of private torch API {name}", node)
        elif root == "torch" and len(parts) > 1 and parts[1] in ("multiprocessing", "distributed", "hub"):
            self.add("io_access", f"import of {name}", node)

    # -- rules over the whole file
    def walk(self) -> None:
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
                if node.handlers:
                    self.add("python_fallback", "try/except", node)
            elif isinstance(node, ast.ClassDef):
                for b in node.bases:
                    if (_dotted(b) or "").split(".")[-1] in ("Tensor", "TensorBase"):
                        self.add("tensor_subclass", f"class {node.name}({_dotted(b)})", node)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if node.name in ("__torch_function__", "__torch_dispatch__"):
                    self.add("tensor_subclass", f"def {node.name}", node)
            elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
                targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
                for t in targets:
                    for sub in ast.walk(t):
                        if isinstance(sub, (ast.Attribute, ast.Subscript)):
                            base = _root(sub)
                            if isinstance(base, ast.Name) and (base.id in self.aliases or base.id == "__builtins__"):
                                self.add("monkeypatch", f"assignment to {_dotted(sub) or base.id + '[...]'}", node)
                                break
            elif isinstance(node, ast.Attribute):
                if node.attr.startswith("__") and node.attr.endswith("__") and node.attr not in SAFE_DUNDERS:
                    self.add("introspection", f"access to {node.attr}", node)
                elif node.attr.startswith("_") and (self.resolve(node) or "").startswith("torch."):
                    self.add("introspection", f"private torch API {self.resolve(node)}", node)
                elif (self.resolve(node) or "").startswith("torch.") and node.attr in IO_MODULES | INTROSPECTION_MODULES:
                    self.add("introspection", f"{self.resolve(node)}: a module reached through torch", node)
                elif node.attr in ("f_back", "f_globals", "f_locals", "tb_frame", "gi_frame", "cr_frame"):
                    self.add("introspection", f"frame access .{node.attr}", node)
            elif isinstance(node, ast.Name):
                if node.id in ("Model", "module_fn") and isinstance(node.ctx, ast.Load):
                    self.add("reads_reference", f"use of the reference {node.id}", node)
                elif node.id in INTROSPECTION_NAMES:
                    self.add("introspection", f"use of {node.id}", node)
                elif node.id == "open":
                    self.add("io_access", "open()", node)
            elif isinstance(node, ast.Call):
                self._call(node)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                if "use_fast_math" in node.value or "fast-math" in node.value:
                    self.add("fast_math", repr(node.value[:40]), node)
                if "-lcublas" in node.value or "-lcudnn" in node.value:
                    self.add("library_call", f"links {node.value.strip()}", node)
                    self.library_calls.append(node.value.strip())

    def _call(self, node: ast.Call) -> None:
        name = node.func.id if isinstance(node.func, ast.Name) else None
        target = self.resolve(node.func) or ""
        if name in ("setattr", "delattr") and node.args:
            first = node.args[0]
            if not (isinstance(first, ast.Name) and first.id == "self"):
                self.add("monkeypatch", f"{name}() on {_dotted(first) or 'an object'}", node)
        elif name == "getattr" and node.args and self.resolve(node.args[0]):
            self.add("introspection", f"getattr() on module {self.resolve(node.args[0])}", node)
        elif target in ("torch.load", "torch.save", "torch.from_file", "torch.hub.load"):
            self.add("io_access", f"{target}() reads or writes files", node)
        elif target.endswith("cpp_extension.load"):
            self.add("io_access", f"{target}() builds from files on disk (use load_inline)", node)

    # -- ModelNew
    def model_new(self, load_inline_names: set[str]) -> None:
        cls = next((n for n in self.tree.body if isinstance(n, ast.ClassDef) and n.name == "ModelNew"), None)
        if cls is None:
            self.add("no_model_new", "no top-level class ModelNew", self.tree)
            return
        bases = [_dotted(b) or "?" for b in cls.bases]
        if not bases or any(b not in MODULE_BASES for b in bases):
            self.add("inherits_reference", f"class ModelNew({', '.join(bases)}) must subclass nn.Module only", cls)
        submodules: dict[str, str] = {}
        ext_attrs: set[str] = set()
        for fn in cls.body:
            if isinstance(fn, ast.FunctionDef) and fn.name == "__init__":
                for a in ast.walk(fn):
                    if isinstance(a, ast.Assign) and len(a.targets) == 1 and isinstance(a.targets[0], ast.Attribute):
                        attr = a.targets[0].attr
                        if isinstance(a.value, ast.Call):
                            mod = self.resolve(a.value.func) or ""
                            last = mod.split(".")[-1]
                            if mod.startswith("torch.nn.") and last[:1].isupper() and "Parameter" not in last:
                                submodules[attr] = mod
                            if last == "load_inline":
                                ext_attrs.add(attr)
                        elif isinstance(a.value, ast.Name) and a.value.id in load_inline_names:
                            ext_attrs.add(attr)
        for fn in cls.body:
            if not isinstance(fn, ast.FunctionDef) or fn.name == "__init__":
                continue
            for c in ast.walk(fn):
                if isinstance(c, ast.Call):
                    self._library(c, submodules, ext_attrs | load_inline_names)

    def _library(self, c: ast.Call, submodules: dict[str, str], ext: set[str]) -> None:
        f = c.func
        target = self.resolve(f)
        if target and target.startswith("torch."):
            last = target.split(".")[-1]
            if target.startswith("torch.cuda.") or target.startswith("torch.utils.") or last in ALLOWED_TORCH_CALLS:
                return
            if last[:1].isupper() and not target.startswith("torch.nn."):
                return
            self.add("library_call", target, c)
            self.library_calls.append(target)
        elif isinstance(f, ast.Attribute):
            recv = f.value
            if isinstance(recv, ast.Name) and recv.id == "self" and f.attr in submodules:
                self.add("library_call", f"self.{f.attr} = {submodules[f.attr]}", c)
                self.library_calls.append(submodules[f.attr])
            elif f.attr in COMPUTE_METHODS:
                r = _root(recv)
                is_ext = (isinstance(recv, ast.Name) and recv.id in ext) or (
                    isinstance(recv, ast.Attribute) and isinstance(recv.value, ast.Name) and recv.value.id == "self"
                    and recv.attr in ext)
                if not is_ext and not (isinstance(r, ast.Name) and r.id in self.aliases):
                    self.add("library_call", f".{f.attr}()", c)
                    self.library_calls.append(f".{f.attr}()")


def _module_env(tree: ast.Module) -> dict[str, ast.AST]:
    env: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    env[t.id] = node.value
    return env


def _strings(node: ast.AST | None, env: dict[str, ast.AST], depth: int = 0) -> list[str] | None:
    """The source strings an expression stands for, or None when they cannot be read statically."""
    if node is None or depth > 8:
        return [] if node is None else None
    if isinstance(node, ast.Constant):
        return [node.value] if isinstance(node.value, str) else ([] if node.value is None else None)
    if isinstance(node, (ast.List, ast.Tuple)):
        out: list[str] = []
        for e in node.elts:
            got = _strings(e, env, depth + 1)
            if got is None:
                return None
            out += got
        return out
    if isinstance(node, ast.Name) and node.id in env:
        return _strings(env[node.id], env, depth + 1)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _strings(node.left, env, depth + 1), _strings(node.right, env, depth + 1)
        if left is None or right is None:
            return None
        if isinstance(node.left, (ast.List, ast.Tuple)) or isinstance(node.right, (ast.List, ast.Tuple)):
            return left + right
        return ["".join(left) + "".join(right)]
    return None


def check_python(source: str, *, backend: str) -> StaticReport:
    """The static report for a format-B candidate, its load_inline sources included."""
    try:
        tree = ast.parse(source)
    except SyntaxError as e:
        f = Finding("syntax", f"syntax error: {e.msg} (line {e.lineno})")
        return build_report([f], [], [], ALL_RULES)
    scan = _PyScan(tree)
    scan.imports()
    scan.walk()
    env = _module_env(tree)
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)
             and (_dotted(n.func) or "").split(".")[-1] == "load_inline"]
    load_inline_names = {t.id for n in ast.walk(tree) if isinstance(n, ast.Assign) and isinstance(n.value, ast.Call)
                         and (_dotted(n.value.func) or "").split(".")[-1] == "load_inline"
                         for t in n.targets if isinstance(t, ast.Name)}
    scan.model_new(load_inline_names)
    findings, library_calls, kernels = list(scan.findings), list(scan.library_calls), []
    if not calls:
        findings.append(Finding("no_load_inline", "format B must build CUDA/C++ through load_inline"))
    cpp: list[str] = []
    cuda: list[str] = []
    for c in calls:
        kw = {k.arg: k.value for k in c.keywords if k.arg}
        pos = list(c.args)
        for i, (key, into) in enumerate((("cpp_sources", cpp), ("cuda_sources", cuda)), start=1):
            node = kw.get(key, pos[i] if len(pos) > i else None)
            got = _strings(node, env)
            if got is None:
                findings.append(Finding("unresolved_source", f"{key} of load_inline (line {c.lineno}) is not a string "
                                        "literal or module-level string constant"))
            else:
                into += got
    if calls:
        text = "\n".join(cpp + cuda)
        native, native_calls, kernels = scan_cpp(text, backend=backend, fmt="B")
        findings += [Finding(f.rule, f"{f.detail} in load_inline sources") for f in native]
        library_calls += native_calls
    return build_report(findings, library_calls, kernels, ALL_RULES)
