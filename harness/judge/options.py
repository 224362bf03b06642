"""How a candidate is verified: the options every front end shares (the CLI, the pipeline, the Space,
fine-tuning's evaluation and rewards, the archive's re-verification). `DEFAULT` is the one place their
defaults live; `verify(candidate, **options.kwargs())` applies them.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class VerifyOptions:
    backend: str = "auto"            # auto | cpu | cuda
    seeds: int = 3                   # secret input seeds (each task's input variants come on top)
    size: str = "auto"               # auto (the full size on CUDA, the task's SMALL on the CPU) | default | small
    timing: bool = True
    compile_baseline: bool = True    # also time torch.compile in the task's reference
    timeout_s: float = 120.0         # per run, from the worker's first message to its end
    repeats: int | None = None       # timed calls (None: the backend's default)
    warmup: int | None = None

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `harness.judge.verify.verify`."""
        return asdict(self)


DEFAULT = VerifyOptions()

__all__ = ["VerifyOptions", "DEFAULT"]
