"""The one prompt builder: chat messages for every operator mode, and verdict feedback as designed text.

`build_messages(kind, task, ...)` is used by all operators and by `finetune`
(a translation example is `build_messages("translate", task)` plus the kernel as
the assistant turn). `summarize_verdict` turns a harness verdict into the short
feedback an LLM needs to repair or speed up a kernel: the status, the failed
checks with reasons, a cut compile/runtime error, the speedup and its spread,
where the time goes (`Roofline`: kernel ms next to eager and torch.compile,
achieved GB/s and GFLOP/s against the device's measured peaks, and a one-line
reading of what bounds the kernel), and flags. Raw logs never go into a prompt.
The roofline fields are read with getattr, so a verdict from a harness that
does not report them yet simply gets no roofline line.
"""
from __future__ import annotations

from dataclasses import dataclass

from harness.types import TaskRef, Timing, Verdict

MAX_ERROR_LINES = 25
MAX_ERROR_CHARS = 2000

KINDS = ("functionalize", "translate", "repair", "rewrite", "diff", "crossover")


@dataclass(frozen=True)
class Shot:
    """A kernel shown in a prompt: its code, optional verdict, and a label."""

    code: str
    label: str = ""
    verdict: Verdict | None = None


def _backend_rules(backend: str) -> str:
    if backend == "cuda":
        return ("Write CUDA: at least one __global__ kernel, launched on at::cuda::getCurrentCUDAStream(). "
                "Do not call ATen/cuBLAS/cuDNN compute ops (matmul, conv, softmax, add, ...): only allocation "
                "(torch::empty, torch::empty_like), .contiguous(), .data_ptr<T>(), sizes and TORCH_CHECK.")
    return ("Write C++ for the CPU: plain loops over raw pointers parallelized with `#pragma omp parallel for`. "
            "Do not call ATen compute ops (matmul, conv, softmax, add, ...): only allocation (torch::empty, "
            "torch::empty_like), .contiguous(), .data_ptr<T>(), sizes and TORCH_CHECK.")


def _format_k_rules(backend: str) -> str:
    from harness.worker.k_abi import KE_ABI

    where = ("CUDA: at least one __global__ kernel launched on `(cudaStream_t)stream`; data pointers are device "
             "pointers" if backend == "cuda" else "C++ for the CPU: plain loops over raw pointers, parallelized with "
             "`#pragma omp parallel for`; `stream` is NULL")
    return (
        "A kernel is one source file (format K): no torch, ATen or pybind11 header. It includes \"ke_abi.h\" "
        "(provided; shown below) and defines\n"
        '`extern "C" int ke_launch(const ke_tensor* in, int n_in, ke_tensor* out, int n_out, const double* attrs, '
        "int n_attrs, void* workspace, int64_t workspace_bytes, void* stream)`, returning 0 on success.\n"
        "`in` holds the tensor arguments of `module_fn` in order (inputs, then parameters), contiguous; `attrs` its "
        "number arguments in order; `out` the outputs, already allocated with the right shapes and dtypes (write "
        "every element). Optionally define `extern \"C\" int64_t ke_workspace_bytes(const ke_tensor* in, int n_in, "
        "const double* attrs, int n_attrs)` to get scratch memory.\n"
        f"Write {where}. No library compute calls (cuBLAS, cuDNN, ...).\n```c\n{KE_ABI}```\n"
    )


def system_prompt(backend: str, kernel_format: str = "A") -> str:
    if kernel_format == "K":
        return (
            "You are an expert performance engineer who writes correct, fast kernels for PyTorch operators.\n"
            + _format_k_rules(backend)
            + "No files, sockets, threads, environment access or static caches. "
            "Tunable constants may be declared one per line as `#define NAME VALUE  // tunable: V1 V2 V3`.\n"
            "Answer with the complete source in one ```cpp code block unless asked for a SEARCH/REPLACE diff."
        )
    return (
        "You are an expert performance engineer who writes correct, fast kernels for PyTorch operators.\n"
        "A kernel is one source file (format A): `#include <torch/extension.h>`, a function "
        "`torch::Tensor forward(...)` taking exactly the positional arguments of the task's `module_fn`, and "
        '`PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("forward", &forward, "forward"); }`.\n'
        + _backend_rules(backend)
        + "\nNo Python from C++, no files, sockets, threads, environment access or static caches. "
        "Tunable constants may be declared one per line as `#define NAME VALUE  // tunable: V1 V2 V3`.\n"
        "Answer with the complete source in one ```cpp code block unless asked for a SEARCH/REPLACE diff."
    )


def cut_error(text: str, max_lines: int = MAX_ERROR_LINES) -> str:
    """The lines of a compile or runtime log an LLM needs: errors first, without the noise."""
    lines = [l.rstrip() for l in (text or "").splitlines() if l.strip()]
    key = [l for l in lines if "error" in l.lower() or "undefined" in l.lower() or "note:" in l.lower()]
    keep = key[:max_lines] if key else lines[:max_lines]
    out = "\n".join(keep)
    return out[:MAX_ERROR_CHARS] + ("\n[...]" if len(out) > MAX_ERROR_CHARS else "")


@dataclass(frozen=True)
class Roofline:
    """Where a timed kernel stands against the device's measured bandwidth and FLOP/s peaks."""

    achieved_gbps: float | None = None
    peak_gbps: float | None = None            # the measured copy bandwidth of the device
    bandwidth_fraction: float | None = None
    achieved_gflops: float | None = None
    peak_gflops: float | None = None
    flops_fraction: float | None = None       # only where the task's reference does matmul/conv FLOPs

    @classmethod
    def of(cls, timing: Timing | None) -> "Roofline | None":
        """The roofline numbers a verdict's timing carries, or None when it carries none."""
        if timing is None:
            return None
        got = {name: _number(getattr(timing, name, None)) for name in cls.__dataclass_fields__}
        if got["bandwidth_fraction"] is None and got["achieved_gbps"] and got["peak_gbps"]:
            got["bandwidth_fraction"] = got["achieved_gbps"] / got["peak_gbps"]
        if got["flops_fraction"] is None and got["achieved_gflops"] and got["peak_gflops"]:
            got["flops_fraction"] = got["achieved_gflops"] / got["peak_gflops"]
        return cls(**got) if any(v is not None for v in got.values()) else None

    def line(self) -> str:
        parts = []
        if self.achieved_gbps is not None:
            parts.append(f"moves {self.achieved_gbps:.4g} GB/s" + (
                f", {self.bandwidth_fraction:.0%} of the measured peak bandwidth ({self.peak_gbps:.4g} GB/s)"
                if self.bandwidth_fraction is not None and self.peak_gbps else ""))
        elif self.bandwidth_fraction is not None:
            parts.append(f"moves {self.bandwidth_fraction:.0%} of the measured peak bandwidth")
        if self.achieved_gflops is not None:
            parts.append(f"computes {self.achieved_gflops:.4g} GFLOP/s" + (
                f", {self.flops_fraction:.0%} of peak ({self.peak_gflops:.4g} GFLOP/s)"
                if self.flops_fraction is not None and self.peak_gflops else ""))
        elif self.flops_fraction is not None:
            parts.append(f"computes at {self.flops_fraction:.0%} of peak FLOP/s")
        return "Roofline: the kernel " + "; ".join(parts) + "." if parts else ""

    def reading(self) -> str:
        """One line on what bounds the kernel and what would help."""
        bw, fl = self.bandwidth_fraction, self.flops_fraction
        if bw is None and fl is None:
            return ""
        if max(x for x in (bw, fl) if x is not None) < 0.1:
            far = " and ".join(f"{x:.0%} of peak {what}" for x, what in ((bw, "bandwidth"), (fl, "FLOP/s"))
                               if x is not None)
            return (f"latency-bound at {far}: far from every roof; more parallel work in flight (more blocks or "
                    "threads, more items per thread), fewer launches and synchronizations")
        if fl is not None and (bw is None or fl >= bw):
            if fl >= 0.7:
                return f"compute-bound at {fl:.0%} of peak FLOP/s: near the roof; only less arithmetic helps"
            return (f"compute-bound at {fl:.0%} of peak FLOP/s: more reuse per loaded byte (larger tiles in shared "
                    "memory and registers, tensor-core MMA) and fewer instructions per FLOP")
        assert bw is not None
        if bw >= 0.8:
            return (f"memory-bound at {bw:.0%} of peak: near the bandwidth roof; only fewer bytes help (fuse, "
                    "read each input once, write each output once)")
        return (f"memory-bound at {bw:.0%} of peak: fewer bytes or better coalescing (vectorised, aligned loads; "
                "more bytes in flight per thread)")


def _number(x: object) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) and x == x else None


def where_time_goes(timing: Timing) -> list[str]:
    """The timing lines of the feedback: runtimes and speedups, then the roofline and its reading if reported."""
    line = f"Runtime {timing.kernel.median_ms:.4g} ms (IQR {timing.kernel.iqr_ms:.2g} ms)"
    if timing.eager is not None:
        line += f"; eager {timing.eager.median_ms:.4g} ms"
    if timing.compiled is not None:
        line += f"; torch.compile {timing.compiled.median_ms:.4g} ms"
    if timing.speedup_eager is not None:
        line += f"; speedup vs eager {timing.speedup_eager:.3g}x"
    if timing.speedup_compile is not None:
        line += f"; vs torch.compile {timing.speedup_compile:.3g}x"
    out = [line + "."]
    roof = Roofline.of(timing)
    if roof is not None:
        out += [x for x in (roof.line(), "Reading: " + roof.reading() + "." if roof.reading() else "") if x]
    return out


def summarize_verdict(verdict: Verdict) -> str:
    """Designed feedback text for one verdict."""
    parts = [f"Status: {verdict.status}."]
    failed = verdict.failed_checks
    if failed:
        parts.append("Failed checks:\n" + "\n".join(f"- {c.name}: {c.reason or 'failed'}" for c in failed))
    if verdict.rel_error is not None or verdict.max_abs_diff is not None:
        parts.append(f"Error vs float64 reference: rel {verdict.rel_error if verdict.rel_error is not None else 'n/a'}, "
                     f"max abs {verdict.max_abs_diff if verdict.max_abs_diff is not None else 'n/a'}.")
    if verdict.error:
        parts.append("Error excerpt:\n" + cut_error(verdict.error))
    if verdict.library_calls:
        parts.append("Library calls (not a kernel; remove them): " + ", ".join(verdict.library_calls[:8]) + ".")
    t = verdict.timing
    if t is not None:
        parts += where_time_goes(t)
        if t.custom_kernel_fraction is not None:
            parts.append(f"{t.custom_kernel_fraction:.0%} of device time was in your own kernels.")
    flagged = [c for c in verdict.checks if c.outcome == "flag"]
    if flagged:
        parts.append("Flagged:\n" + "\n".join(f"- {c.name}: {c.reason}" for c in flagged[:8]))
    if verdict.flags:
        parts.append("Flags: " + "; ".join(verdict.flags[:8]) + ".")
    return "\n".join(parts)


def _fence(code: str, lang: str = "cpp") -> str:
    return f"```{lang}\n{code.rstrip()}\n```"


def _shot(s: Shot) -> str:
    head = f"### {s.label}\n" if s.label else ""
    tail = f"\n{summarize_verdict(s.verdict)}" if s.verdict is not None else ""
    return f"{head}{_fence(s.code)}{tail}"


def _task_block(task: TaskRef, functional_source: str | None = None) -> str:
    src = functional_source or task.source
    return f"Task `{task.task_id}` (op `{task.op_name}`):\n```python\n{src.rstrip()}\n```"


def _aim(*parents: Shot | None) -> str:
    """A pointer to what bounds the parents, when the harness reported their roofline; "" otherwise."""
    bound = []
    for p in parents:
        roof = Roofline.of(p.verdict.timing) if p is not None and p.verdict is not None else None
        if roof is not None and roof.reading():
            bound.append(roof.reading().split(":")[0])
    if not bound:
        return ""
    who = "the parent" if len(bound) == 1 else "the parents"
    return f"The harness reads {who} as {' and '.join(bound)} (see the Reading lines above): aim the change at that bound."


def build_messages(
    kind: str,
    task: TaskRef,
    *,
    backend: str = "cpu",
    functional_source: str | None = None,
    parent: Shot | None = None,
    other: Shot | None = None,
    best: tuple[Shot, ...] = (),
    inspirations: tuple[Shot, ...] = (),
    feedback: str = "",
    previous: str = "",
    kernel_format: str = "A",
) -> list[dict[str, str]]:
    """Chat messages for one operator call. `kind` is one of KINDS.

    `feedback` is designed text (see `summarize_verdict`) about `previous`, the last failed attempt.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown prompt kind {kind!r}; expected one of {', '.join(KINDS)}")
    user: list[str] = []
    if kind == "functionalize":
        system = ("You rewrite PyTorch nn.Modules into functional form. Keep get_inputs(), get_init_inputs() and "
                  "every module-level constant. Add `def module_fn(*inputs, *params, *scalar_attrs)` using only "
                  "torch and torch.nn.functional, and make `Model.forward(self, *inputs, fn=module_fn)` call "
                  "`fn(*inputs, <its own parameters and buffers>, <scalar attributes>)`. Parameters are created "
                  "in __init__ exactly as before. Answer with the complete file in one ```python code block.")
        user.append(_task_block(task))
        user.append("Rewrite this task into functional form.")
    else:
        system = system_prompt(backend, kernel_format)
        user.append(_task_block(task, functional_source))
        for s in inspirations:
            user.append("Related verified kernel (a stepping stone, for ideas only):\n" + _shot(s))
        for s in best:
            user.append("A verified kernel for this task:\n" + _shot(s))
        if kind == "translate":
            user.append(f"Write a format-A kernel whose `forward` computes `module_fn` for backend {backend}."
                        if kernel_format == "A" else
                        f"Write a format-K kernel whose `ke_launch` computes `module_fn` for backend {backend}.")
        if kind == "rewrite":
            user.append("Parent kernel:\n" + _shot(parent) if parent else "")
            user.append("Write a faster kernel, as a complete source file. Keep it correct.")
        elif kind == "diff":
            user.append("Parent kernel:\n" + _shot(parent) if parent else "")
            user.append("Make it faster with targeted edits. Answer only with SEARCH/REPLACE blocks:\n"
                        "<<<<<<< SEARCH\n(exact lines from the parent)\n=======\n(new lines)\n>>>>>>> REPLACE")
        elif kind == "crossover":
            if parent:
                user.append("Parent A:\n" + _shot(parent))
            if other:
                user.append("Parent B:\n" + _shot(other))
            user.append("Combine the best ideas of both parents into one faster kernel, as a complete source file.")
        if kind in ("rewrite", "diff", "crossover"):
            user.append(_aim(parent, other))
    if previous or feedback:
        if kind == "repair" or previous:
            user.append("Your previous attempt:\n" + (_fence(previous, "python" if kind == "functionalize" else "cpp")
                                                    if previous else "(no code)"))
        user.append("Harness feedback on it:\n" + feedback)
        user.append("Fix the problems and answer with the complete corrected file.")
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n\n".join(p for p in user if p)}]
