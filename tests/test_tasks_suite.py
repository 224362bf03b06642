"""The built-in task suite (pipeline/tasks): every task loads through the harness, is functional, can be
shrunk for the CPU, and enough of them ship known-good format-A kernels for both backends.

Nothing here compiles or executes a task: tasks are read with `harness.task.load_task` (AST only) and
kernels are read as text.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from harness.static.check import static_check
from harness.task import BUILTIN_ROOT, builtin_tasks, known_good_kernel, load_task

TASK_IDS = builtin_tasks()

# Torch/ATen names a format-A kernel may use: allocation, metadata, checks, the current stream.
ALLOWED_TORCH_NAMES = {
    "torch::Tensor",
    "torch::empty",
    "torch::empty_like",
    "torch::kFloat32",
    "at::empty",
    "at::cuda::getCurrentCUDAStream",
}
TUNABLE = re.compile(r"^#define\s+(\w+)\s+(\S+)\s*//\s*tunable:\s*(.+)$")


def _module_constants(tree: ast.Module) -> set[str]:
    return {
        t.id
        for node in tree.body
        if isinstance(node, ast.Assign)
        for t in node.targets
        if isinstance(t, ast.Name)
    }


def _small(tree: ast.Module) -> dict:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "SMALL" for t in node.targets):
            value = ast.literal_eval(node.value)
            assert isinstance(value, dict)
            return value
    raise AssertionError("no SMALL")


def _kernel_pairs() -> list[str]:
    out = []
    for tid in TASK_IDS:
        task = load_task(tid)
        if known_good_kernel(task, "cuda", format="A") and known_good_kernel(task, "cpu", format="A"):
            out.append(tid)
    return out


def test_suite_size_and_levels():
    assert len(TASK_IDS) >= 24, TASK_IDS
    levels = {tid.split("/")[0] for tid in TASK_IDS}
    assert {"level1", "level2"} <= levels
    assert sum(tid.startswith("level2/") for tid in TASK_IDS) >= 5


@pytest.mark.parametrize("tid", TASK_IDS)
def test_task_is_functional_with_small_overrides(tid: str):
    task = load_task(tid)
    assert task.task_id == tid
    assert task.functional, f"{tid} must define module_fn and Model.forward(..., fn=module_fn)"
    assert task.level == int(tid.split("/")[0][len("level"):])
    tree = ast.parse(task.source)
    consts = _module_constants(tree)
    assert "OP_NAME" in consts and task.op_name == Path(task.path).stem
    small = _small(tree)
    assert small, f"{tid}: SMALL must override at least one size"
    for name, value in small.items():
        assert name in consts, f"{tid}: SMALL overrides {name}, which the module does not define"
        assert isinstance(value, int) and value > 0
    funcs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    # get_inputs must read the (overridable) globals at call time, not a precomputed tensor.
    names_read = {n.id for n in ast.walk(funcs["get_inputs"]) if isinstance(n, ast.Name)}
    assert names_read & set(small), f"{tid}: get_inputs() does not read any SMALL-overridden size"
    # forward's default fn is module_fn itself.
    model = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Model")
    forward = next(n for n in model.body if isinstance(n, ast.FunctionDef) and n.name == "forward")
    defaults = dict(zip([a.arg for a in forward.args.args][-len(forward.args.defaults):], forward.args.defaults))
    assert isinstance(defaults.get("fn"), ast.Name) and defaults["fn"].id == "module_fn"


def test_enough_tasks_have_both_known_good_kernels():
    pairs = _kernel_pairs()
    assert len(pairs) >= 6, pairs
    assert any(t.startswith("level2/") for t in pairs), "one fusion kernel is required"


@pytest.mark.parametrize("tid", _kernel_pairs())
def test_known_good_kernels_follow_format_a(tid: str):
    task = load_task(tid)
    for backend in ("cuda", "cpu"):
        path = known_good_kernel(task, backend, format="A")
        assert path is not None and path.parent == BUILTIN_ROOT / tid.split("/")[0]
        src = path.read_text()
        assert "#include <torch/extension.h>" in src
        assert re.search(r"torch::Tensor\s+forward\(", src)
        assert "PYBIND11_MODULE(TORCH_EXTENSION_NAME" in src and 'm.def("forward"' in src
        assert "TORCH_CHECK" in src
        if backend == "cuda":
            assert "__global__" in src and "at::cuda::getCurrentCUDAStream()" in src
        else:
            assert "#pragma omp parallel for" in src and "__global__" not in src
        report = static_check(src, format="A", backend=backend)
        assert not report.rejected and not report.flags and not report.library_calls, (path.name, report)
        if backend == "cuda":
            assert report.kernel_names, f"{path.name}: the static filter found no __global__ kernel"
        used = set(re.findall(r"\b(?:torch|at)::[\w:]+", src))
        assert used <= ALLOWED_TORCH_NAMES, f"{path.name} uses {sorted(used - ALLOWED_TORCH_NAMES)}"
        for line in src.splitlines():
            if "tunable" in line:
                m = TUNABLE.match(line.strip())
                assert m, f"{path.name}: malformed tunable line {line!r}"
                options = m.group(3).split()
                assert m.group(2) in options, f"{path.name}: {m.group(1)}={m.group(2)} not among {options}"


def test_known_good_kernel_arguments_match_module_fn():
    """forward(...) in each kernel takes as many arguments as the task's module_fn."""
    for tid in _kernel_pairs():
        task = load_task(tid)
        tree = ast.parse(task.source)
        fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "module_fn")
        for backend in ("cuda", "cpu"):
            src = known_good_kernel(task, backend, format="A").read_text()
            sig = re.search(r"torch::Tensor\s+forward\(([^)]*)\)", src).group(1)
            assert len([a for a in sig.split(",") if a.strip()]) == len(fn.args.args), (tid, backend, sig)
