"""Which GPUs this process may use, and the environment that shows a child process exactly one of them.

`visible_devices()` lists them as the strings that go into a child's `CUDA_VISIBLE_DEVICES` (so
"2,3" in the parent gives children "2" and "3"; UUIDs and MIG ids pass through unchanged).
"""
from __future__ import annotations

import os
from typing import Sequence

import torch


def visible_devices() -> list[str]:
    """The GPUs this process may use, as `CUDA_VISIBLE_DEVICES` entries for a child process ([] without CUDA)."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        # CUDA stops at the first empty or invalid entry; an empty variable hides every device.
        out: list[str] = []
        for item in env.split(","):
            item = item.strip()
            if not item or (item.startswith("-") and item[1:].isdigit()):
                break
            out.append(item)
        return out
    try:
        n = torch.cuda.device_count()
    except Exception:  # noqa: BLE001 - a broken driver means no usable device, not a crash
        n = 0
    return [str(i) for i in range(n)]


def child_env(device_index: int, devices: Sequence[str] | None = None) -> dict[str, str]:
    """The environment a runner needs to see only device `device_index` of `devices` (default: visible ones)."""
    devs = list(devices) if devices is not None else visible_devices()
    if not 0 <= device_index < len(devs):
        raise ValueError(f"device_index {device_index} is out of range: {len(devs)} GPU(s) visible "
                         f"({', '.join(devs) or 'none'})")
    return {"CUDA_VISIBLE_DEVICES": devs[device_index]}
