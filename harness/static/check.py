"""Static checks: reading a candidate's source before anything of it runs.

This module owns the first filter of the verification protocol (docs/ARCHITECTURE.md).
`static_check` reads a format-A/K C++/CUDA source (`harness.static.cpp`), or a format-B
Python file together with the C++/CUDA strings it hands to `load_inline`
(`harness.static.python_source`), and returns a `StaticReport`: one `Check` per rule (pass, flag
or fail), the flags, the library calls it saw, the `__global__` kernels it found and whether the
candidate is rejected outright.
"""
from __future__ import annotations

from harness.static.cpp import RULES, StaticReport, build_report, scan_cpp
from harness.static.python_source import check_python


def static_check(source: str, *, format: str, backend: str) -> StaticReport:
    """Run the static filter on a candidate source. `format` is "A", "B" or "K"; `backend` "cpu" or "cuda"."""
    if format not in ("A", "B", "K"):
        raise ValueError(f"unknown candidate format {format!r}: expected 'A', 'B' or 'K'")
    if backend not in ("cpu", "cuda"):
        raise ValueError(f"unknown backend {backend!r}: expected 'cpu' or 'cuda'")
    if format == "B":
        return check_python(source, backend=backend)
    findings, calls, kernels = scan_cpp(source, backend=backend, fmt=format)
    rules = RULES if format == "K" else {k: v for k, v in RULES.items() if k != "format_k_torch"}
    return build_report(findings, calls, kernels, rules)
