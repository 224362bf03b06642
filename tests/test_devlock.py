"""The device timing lock excludes other threads and other processes, and dies with its holder."""
from __future__ import annotations

import subprocess
import sys
import threading
import time

from harness.devlock import device_exclusive, physical_device

HOLD = """
import sys, time
from harness.devlock import device_exclusive
with device_exclusive("cuda", int(sys.argv[1])):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _holder(index: int, seconds: float) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(index), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert p.stdout is not None and p.stdout.readline().strip() == "held"
    return p


def test_other_process_blocks_until_release(tmp_path, monkeypatch):
    monkeypatch.setenv("KE_LOCK_DIR", str(tmp_path))
    p = _holder(0, 1.5)
    t0 = time.monotonic()
    with device_exclusive("cuda", 0):
        waited = time.monotonic() - t0
    p.wait()
    assert waited >= 1.0, f"got the GPU's timing lock after {waited:.2f} s while another process held it"


def test_killed_holder_leaves_no_stale_lock(tmp_path, monkeypatch):
    monkeypatch.setenv("KE_LOCK_DIR", str(tmp_path))
    p = _holder(0, 300)
    p.kill()
    p.wait()
    t0 = time.monotonic()
    with device_exclusive("cuda", 0):
        pass
    assert time.monotonic() - t0 < 5


def test_threads_serialise_and_devices_are_independent(tmp_path, monkeypatch):
    monkeypatch.setenv("KE_LOCK_DIR", str(tmp_path))
    inside, overlap = [], []

    def work():
        with device_exclusive("cuda", 0):
            inside.append(1)
            overlap.append(len(inside))
            time.sleep(0.05)
            inside.pop()

    ts = [threading.Thread(target=work) for _ in range(4)]
    for t in ts:
        t.start()
    p = _holder(1, 30)  # another GPU's lock does not block device 0
    t0 = time.monotonic()
    with device_exclusive("cuda", 0):
        pass
    for t in ts:
        t.join()
    p.kill()
    assert max(overlap) == 1 and len(overlap) == 4
    assert time.monotonic() - t0 < 10


def test_physical_device_follows_visible_devices(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,1")
    assert physical_device(0) == "3" and physical_device(1) == "1" and physical_device(None) == "3"
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert physical_device(2) == "2"


def test_cpu_backend_is_not_locked(tmp_path, monkeypatch):
    monkeypatch.setenv("KE_LOCK_DIR", str(tmp_path))
    p = _holder(0, 30)
    t0 = time.monotonic()
    with device_exclusive("cpu", 0):
        pass
    p.kill()
    assert time.monotonic() - t0 < 1
