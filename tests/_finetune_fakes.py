"""Archive rows for the fine-tuning tests, made through `hub.schema.row_from_verdict` from constructed verdicts.

Verified rows carry the real known-good CPU kernels of the built-in tasks; failed
rows carry a broken variant of them with a compile-error or incorrect verdict,
linked to their fixed child by `parent_id` (the parent's kernel hash).
"""
from __future__ import annotations

from harness.task import builtin_tasks, known_good_kernel, load_task
from harness.types import Check, Env, Stats, TaskRef, Timing, Verdict, sha256_text
from hub.schema import Row, row_from_verdict

ENV = Env(device="test-cpu", backend="cpu", torch_version="2.13.0", cuda_version="")


def verdict_for(task: TaskRef, code: str, status: str, *, speedup: float | None = 1.5,
                flags: tuple[str, ...] = (), library_calls: tuple[str, ...] = (), error: str = "") -> Verdict:
    timing = None
    if status == "verified" and speedup is not None:
        k = 1.0 / speedup
        timing = Timing(kernel=Stats(k, k / 50, k * 0.9, k * 1.1, 20), eager=Stats(1.0, 0.02, 0.9, 1.1, 20),
                        compiled=None, speedup_eager=speedup, speedup_compile=None, method="perf_counter_ns")
    checks = (Check("compile", "pass" if status != "compile_error" else "fail", error if status == "compile_error"
                    else ""),)
    if status == "incorrect":
        checks += (Check("outputs", "fail", "max abs diff 0.31 > tolerance 1e-4 on seed 1"),)
    return Verdict(status=status, task_id=task.task_id, task_sha256=task.sha256, kernel_sha256=sha256_text(code),
                   format="A", checks=checks, flags=flags, env=ENV, timing=timing,
                   max_abs_diff=1e-6 if status == "verified" else None, rel_error=1e-7 if status == "verified" else None,
                   error=error, library_calls=library_calls)


def row(task: TaskRef, code: str, status: str = "verified", parent: Row | None = None, **kw) -> Row:
    return row_from_verdict(verdict_for(task, code, status, **kw), task=task, kernel_code=code,
                            parent_id=parent.kernel_sha256 if parent else None, operator="test", run_id="t")


def known_good_rows() -> list[Row]:
    """One verified row (speedup 1.5x) per built-in task that has a known-good CPU kernel."""
    out = []
    for tid in builtin_tasks():
        t = load_task(tid)
        p = known_good_kernel(t, "cpu")
        if p is not None:
            out.append(row(t, p.read_text()))
    return out


def synthetic_task(i: int, level: int = 1) -> TaskRef:
    src = (f'"""synthetic task {i}"""\nimport torch\nimport torch.nn as nn\n\nOP_NAME = "op{i}"\n\n\n'
           f"def module_fn(x):\n    return x * {i + 2}\n\n\nclass Model(nn.Module):\n"
           "    def forward(self, x, fn=module_fn):\n        return fn(x)\n\n\n"
           "def get_inputs():\n    return [torch.randn(64)]\n\n\ndef get_init_inputs():\n    return []\n")
    return TaskRef(task_id=f"level{level}/op{i}", path="", source=src, sha256=sha256_text(src), level=level,
                   op_name=f"op{i}", functional=True)


def synthetic_kernel(i: int, variant: int = 0) -> str:
    return ("#include <torch/extension.h>\n"
            f"// op{i} variant {variant}\n"
            "torch::Tensor forward(torch::Tensor x) {\n"
            "  auto y = torch::empty_like(x);\n  auto* a = x.data_ptr<float>(); auto* b = y.data_ptr<float>();\n"
            f"  #pragma omp parallel for\n  for (int64_t j = 0; j < x.numel(); ++j) b[j] = a[j] * {i + 2}.0f;\n"
            "  return y;\n}\n"
            'PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("forward", &forward, "forward"); }\n')
