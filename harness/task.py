"""Task files: finding, parsing and describing them without running them.

A task is user code, so the calling process never executes it: `load_task`
reads it with `ast` and checks the KernelBench contract (`class Model`,
`get_inputs`, `get_init_inputs`), and whether it carries a functional form
(`module_fn` plus `Model.forward(..., fn=module_fn)`). Everything that needs
the task to *run* happens in the isolated runner (`harness.worker.main`).

Task conventions beyond KernelBench (all optional):
- `SMALL = {"name": value, ...}`: module-level overrides applied before
  `get_init_inputs()`/`get_inputs()` when the harness runs at size "small".
- `get_input_variants()`: extra input lists of other shapes.
- `OP_NAME = "softmax"`, `LEVEL = 1`: archive metadata (defaults: file stem, folder).
- `ATOL`/`RTOL`: not honoured; tolerances belong to the dtype (harness.judge.compare).
"""
from __future__ import annotations

import ast
from pathlib import Path

from harness.types import TaskRef, sha256_text

BUILTIN_ROOT = Path(__file__).resolve().parent.parent / "pipeline" / "tasks"


class TaskError(ValueError):
    """A task file that cannot be judged; the message says what is missing."""


def builtin_tasks() -> list[str]:
    """Ids of the built-in suite, e.g. "level1/softmax"."""
    if not BUILTIN_ROOT.is_dir():
        return []
    return sorted(
        f"{p.parent.name}/{p.stem}"
        for p in BUILTIN_ROOT.glob("level*/*.py")
        if not p.name.startswith("_")
    )


def resolve_task_path(task: str | Path) -> Path:
    """A built-in id ("level1/softmax") or a path to a task file."""
    p = Path(task)
    if p.suffix == ".py" and p.is_file():
        return p.resolve()
    builtin = BUILTIN_ROOT / f"{task}.py"
    if builtin.is_file():
        return builtin
    raise TaskError(
        f"no task {str(task)!r}: give a built-in id (see `kernel-evolve tasks`) or a path to a .py task file"
    )


def module_constant(tree: ast.Module, name: str) -> object | None:
    """The literal value of a module-level `NAME = <literal>` (None if absent or not a literal); never runs code."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            try:
                return ast.literal_eval(node.value)
            except ValueError:
                return None
    return None


def parse_task_source(source: str, *, task_id: str = "user/task", path: str = "") -> TaskRef:
    """Validate a task's text and describe it. Raises TaskError naming what is missing."""
    if not source.strip():
        raise TaskError("the task is empty: it needs `class Model(nn.Module)`, `get_inputs()` and `get_init_inputs()`")
    try:
        tree = ast.parse(source, filename=path or "<task>")
    except SyntaxError as e:
        raise TaskError(f"the task has a syntax error at line {e.lineno}: {e.msg}") from None
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    funcs = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    missing = [
        what
        for what, ok in (
            ("class Model(nn.Module)", "Model" in classes),
            ("def get_inputs()", "get_inputs" in funcs),
            ("def get_init_inputs()", "get_init_inputs" in funcs),
        )
        if not ok
    ]
    if missing:
        raise TaskError("the task is missing " + ", ".join(missing) + " (KernelBench format)")
    functional = "module_fn" in funcs and _forward_takes_fn(classes["Model"])
    small = module_constant(tree, "SMALL")
    if small is not None and not isinstance(small, dict):
        raise TaskError("SMALL must be a dict literal of module-level overrides")
    level = module_constant(tree, "LEVEL")
    if not isinstance(level, int):
        parent = Path(path).parent.name if path else ""
        level = int(parent[5:]) if parent.startswith("level") and parent[5:].isdigit() else 0
    op_name = module_constant(tree, "OP_NAME")
    if not isinstance(op_name, str):
        op_name = Path(path).stem if path else task_id.rsplit("/", 1)[-1]
    return TaskRef(
        task_id=task_id,
        path=path,
        source=source,
        sha256=sha256_text(source),
        level=level,
        op_name=op_name,
        functional=functional,
    )


def _forward_takes_fn(model: ast.ClassDef) -> bool:
    for node in model.body:
        if isinstance(node, ast.FunctionDef) and node.name == "forward":
            names = [a.arg for a in node.args.args + node.args.kwonlyargs]
            return "fn" in names
    return False


def load_task(task: str | Path) -> TaskRef:
    """Load a built-in task id or a task file (never executing it)."""
    path = resolve_task_path(task)
    try:
        rel = path.relative_to(BUILTIN_ROOT)
        task_id = str(rel.with_suffix(""))
    except ValueError:
        task_id = path.stem
    try:
        source = path.read_text()
    except UnicodeDecodeError:
        raise TaskError(f"{path} is not a UTF-8 text file") from None
    return parse_task_source(source, task_id=task_id, path=str(path))


def has_small_size(task: TaskRef) -> bool:
    """Does the task declare `SMALL = {...}` overrides (a cheap size to screen candidates at)?"""
    try:
        return isinstance(module_constant(ast.parse(task.source), "SMALL"), dict)
    except SyntaxError:
        return False


def known_good_kernel(task: TaskRef, backend: str, *, format: str | None = None) -> Path | None:
    """The hand-written kernel shipped beside a built-in task, if any: the format-K seed (`<op>.k.cu`, or
    `<op>.k.cpp` on the CPU) unless `format="A"`, then the format-A kernel (`<op>.cu`/`<op>.cpp`) unless
    `format="K"`."""
    if not task.path:
        return None
    base = Path(task.path).with_suffix("")
    ext = ".cu" if backend == "cuda" else ".cpp"
    for fmt, p in (("K", base.with_suffix(".k" + ext)), ("A", base.with_suffix(ext))):
        if format in (None, fmt) and p.is_file():
            return p
    return None
