"""The house's import graph, read from the code's own imports (top-level, in functions, under TYPE_CHECKING).

No import circle between modules anywhere in the five packages; no import from a lower layer to a higher
one (docs/ARCHITECTURE.md, "Layers"); no private name (`_x`) of one module used in another; `harness`
imports only torch and the standard library.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("harness", "pipeline", "hub", "finetune", "space")
# lowest first; a module may import from its own layer's group or from any lower layer
LAYERS = (
    ("harness.types", "harness.settings"),
    ("harness.task", "harness.candidate"),
    ("harness.worker",),
    ("harness.sandbox",),
    ("harness.build", "harness.static"),
    ("harness.judge",),
    ("harness.export", "harness.executors"),
    ("harness",),
    ("hub",),
    ("pipeline",),
    ("finetune", "space"),
)


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for p in (ROOT / pkg).rglob("*.py"):
            parts = p.relative_to(ROOT).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return out


MODULES = _modules()


def _imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(module, names imported from it, line) for every absolute import in the file."""
    out = []
    for n in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(n, ast.ImportFrom) and n.module and n.level == 0:
            out.append((n.module, [a.name for a in n.names], n.lineno))
        elif isinstance(n, ast.Import):
            out.extend((a.name, [], n.lineno) for a in n.names)
    return out


def _edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    for mod, path in MODULES.items():
        for target, names, _ in _imports(path):
            if target.split(".")[0] not in PACKAGES:
                continue
            subs = [f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES]
            edges[mod].update(subs)
            if len(subs) < len(names) or not names:  # names from the module itself (or `import x.y`)
                edges[mod].add(target)
    return edges


def _layer(mod: str) -> tuple[int, str]:
    best = None
    for i, group in enumerate(LAYERS):
        for prefix in group:
            if (mod == prefix or mod.startswith(prefix + ".")) and (best is None or len(prefix) > len(best[1])):
                best = (i, prefix)
    assert best is not None, f"{mod} is in no layer: add it to LAYERS (and docs/ARCHITECTURE.md)"
    return best


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (or a module importing itself): Tarjan."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []
    sys.setrecursionlimit(10000)

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in edges.get(v, ()):
                found.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_every_package_module_is_found():
    assert {"harness.judge.verify", "harness.sandbox.runner", "pipeline.run", "hub.store", "space.app"} <= set(MODULES)


def test_no_import_circle_anywhere():
    cycles = _cycles(_edges())
    assert not cycles, "import circles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_the_cycle_finder_finds_a_circle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_from_a_lower_layer_to_a_higher_one():
    bad = []
    for mod, targets in _edges().items():
        (lm, gm) = _layer(mod)
        for t in targets:
            (lt, gt) = _layer(t)
            if lt > lm or (lt == lm and gt != gm):
                bad.append(f"{mod} (layer {lm}) imports {t} (layer {lt})")
    assert not bad, "\n".join(sorted(bad))


def test_no_private_name_is_used_outside_its_module():
    bad = []
    for mod, path in MODULES.items():
        tree = ast.parse(path.read_text())
        aliases: dict[str, str] = {}
        for target, names, line in _imports(path):
            if target.split(".")[0] not in PACKAGES:
                continue
            for n in names:
                if n.startswith("_") and not n.startswith("__"):
                    bad.append(f"{mod}:{line} imports {target}.{n}")
        for n in ast.walk(tree):
            if isinstance(n, ast.ImportFrom) and n.module and n.module.split(".")[0] in PACKAGES:
                for a in n.names:
                    if f"{n.module}.{a.name}" in MODULES:
                        aliases[a.asname or a.name] = f"{n.module}.{a.name}"
            elif isinstance(n, ast.Import):
                for a in n.names:
                    if a.asname and a.name in MODULES:
                        aliases[a.asname] = a.name
        for n in ast.walk(tree):
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id in aliases \
                    and n.attr.startswith("_") and not n.attr.startswith("__"):
                bad.append(f"{mod}:{n.lineno} uses {aliases[n.value.id]}.{n.attr}")
    assert not bad, "\n".join(sorted(bad))


def test_harness_imports_only_torch_and_the_standard_library():
    std = set(sys.stdlib_module_names)
    bad = []
    for mod, path in MODULES.items():
        if mod.split(".")[0] != "harness":
            continue
        beside = {p.stem for p in path.parent.glob("*.py")}  # a script (the supervisor) imports its siblings
        for target, _, line in _imports(path):
            top = target.split(".")[0]
            if top not in std and top not in ("torch", "harness", "ray") and top not in beside:
                bad.append(f"{mod}:{line} imports {target}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("mod", sorted(m for m in MODULES if m.startswith("harness.worker")))
def test_the_worker_imports_nothing_of_the_parent(mod):
    """The code inside the sandbox imports only torch, the standard library and the worker package."""
    for target, _, _ in _imports(MODULES[mod]):
        assert target.split(".")[0] in sys.stdlib_module_names | {"torch", "harness"}, f"{mod} imports {target}"
        if target.split(".")[0] == "harness":
            assert target.startswith("harness.worker"), f"{mod} imports {target}"
