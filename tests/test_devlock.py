"""The device lock: shared correctness runs coexist, a timing run excludes everyone (threads and processes),
waiting timing runs are not starved, and a lock dies with its holder."""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from harness.sandbox.devlock import DeviceLock, device_exclusive, device_shared, physical_device

HOLD = """
import sys, time
from harness.sandbox.devlock import DeviceLock
with DeviceLock("cuda", int(sys.argv[1])).held(sys.argv[3]):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _holder(index: int, seconds: float, mode: str = "exclusive") -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(index), str(seconds), mode], stdout=subprocess.PIPE,
                         text=True)
    assert p.stdout is not None and p.stdout.readline().strip() == "held"
    return p


def test_other_process_blocks_until_release(tmp_path, monkeypatch):
    monkeypatch.setenv("KERNEL_EVOLVE_LOCK_DIR", str(tmp_path))
    p = _holder(0, 1.5)
    t0 = time.monotonic()
    with device_exclusive("cuda", 0):
        waited = time.monotonic() - t0
    p.wait()
    assert waited >= 1.0, f"got the GPU's timing lock after {waited:.2f} s while another process held it"


def test_killed_holder_leaves_no_stale_lock(tmp_path, monkeypatch):
    monkeypatch.setenv("KERNEL_EVOLVE_LOCK_DIR", str(tmp_path))
    p = _holder(0, 300)
    p.kill()
    p.wait()
    t0 = time.monotonic()
    with device_exclusive("cuda", 0):
        pass
    assert time.monotonic() - t0 < 5


def test_threads_serialise_and_devices_are_independent(tmp_path, monkeypatch):
    monkeypatch.setenv("KERNEL_EVOLVE_LOCK_DIR", str(tmp_path))
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


def test_cpu_is_its_own_device_and_no_backend_is_no_lock(tmp_path, monkeypatch):
    monkeypatch.setenv("KERNEL_EVOLVE_LOCK_DIR", str(tmp_path))
    p = _holder(0, 30)
    t0 = time.monotonic()
    with device_exclusive("cpu", 0), device_exclusive("", 0):
        pass
    p.kill()
    assert time.monotonic() - t0 < 1


def test_shared_holders_coexist_and_exclude_timing(tmp_path, monkeypatch):
    monkeypatch.setenv("KERNEL_EVOLVE_LOCK_DIR", str(tmp_path))
    p = _holder(0, 1.5, "shared")
    t0 = time.monotonic()
    with device_shared("cuda", 0):  # another correctness run: no wait
        assert time.monotonic() - t0 < 1
    with device_exclusive("cuda", 0):  # a timing run waits for the shared holder
        waited = time.monotonic() - t0
    p.wait()
    assert waited >= 1.0


def test_waiting_timing_run_keeps_new_correctness_runs_out(tmp_path, monkeypatch):
    monkeypatch.setenv("KERNEL_EVOLVE_LOCK_DIR", str(tmp_path))
    reader = _holder(0, 1.5, "shared")
    got: list[str] = []
    def timing_run() -> None:
        with DeviceLock("cuda", 0).held("exclusive"):
            got.append("timing")

    writer = threading.Thread(target=timing_run)
    writer.start()
    time.sleep(0.4)  # the timing run now waits for the first reader, holding the turnstile
    late = DeviceLock("cuda", 0)
    late.acquire("shared")  # must queue behind the timing run, not overtake it
    got.append("late")
    late.release()
    writer.join()
    reader.wait()
    assert got == ["timing", "late"]


def test_switching_mode_drops_the_old_hold(tmp_path, monkeypatch):
    monkeypatch.setenv("KERNEL_EVOLVE_LOCK_DIR", str(tmp_path))
    a, b = DeviceLock("cuda", 0), DeviceLock("cuda", 0)
    a.acquire("shared")
    b.acquire("shared")
    b.release()
    a.acquire("exclusive")  # its own shared hold is given up first: no self-deadlock
    assert a.mode == "exclusive"
    a.release()


def test_a_timed_run_waits_for_its_slot_and_its_clock_stops_meanwhile(tmp_path, monkeypatch):
    """Another run's correctness phase holds the CPU shared for 14 s. Our candidate starts at once (shared),
    then queues for its timing slot; its 6 s limit excludes the wait, so it is verified, not timed out,
    and its verdict says how long it queued. The timed calls never overlapped the other run."""
    from harness.candidate import load_candidate
    from harness.task import load_task
    from harness.judge.verify import verify

    monkeypatch.setenv("KERNEL_EVOLVE_LOCK_DIR", str(tmp_path))
    task = load_task("level1/layernorm")
    cand = load_candidate(Path(__file__).resolve().parent / "kernels" / "k" / "layernorm_cpu.cpp", task)
    verify(cand, backend="cpu", seeds=2, size="small", compile_baseline=False, repeats=10, warmup=2)  # build+ref
    other = subprocess.Popen([sys.executable, "-c", HOLD.replace('"cuda"', '"cpu"'), "0", "14", "shared"],
                             stdout=subprocess.PIPE, text=True)
    assert other.stdout is not None and other.stdout.readline().strip() == "held"
    t0 = time.monotonic()
    v = verify(cand, backend="cpu", seeds=2, size="small", compile_baseline=False, repeats=10, warmup=2,
               timeout_s=6.0)
    wall = time.monotonic() - t0
    still_holding = other.poll() is None
    other.wait()
    assert v.status == "verified", v.error
    assert v.seconds["run.queued"] >= 4.0, v.seconds
    assert not still_holding and wall >= 13.0, "the timed calls ran while another run held the device"
    assert [c.outcome for c in v.checks if c.name == "channel"] == ["pass"]


ALIVE = """
import sys, time
from harness.sandbox.devlock import DeviceLock, Gate
g = Gate(DeviceLock("cuda", 0), timed=True)
g.start()
g.lock.release()  # like a run queued for its timing slot: alive, holding nothing else
print("held", flush=True)
time.sleep(float(sys.argv[1]))
"""


def test_a_baseline_is_timed_with_no_candidate_alive(tmp_path, monkeypatch):
    from harness.sandbox.devlock import device_alone

    monkeypatch.setenv("KERNEL_EVOLVE_LOCK_DIR", str(tmp_path))
    p = subprocess.Popen([sys.executable, "-c", ALIVE, "1.5"], stdout=subprocess.PIPE, text=True)
    assert p.stdout is not None and p.stdout.readline().strip() == "held"
    with device_exclusive("cuda", 0):  # the main lock is free: a candidate's timing slot does not wait
        pass
    t0 = time.monotonic()
    with device_alone("cuda", 0):
        waited = time.monotonic() - t0
        p.wait(timeout=2)  # granted only as the candidate's process exited (its flock goes as its files close)
    assert waited >= 1.0, "a baseline was timed while a candidate process was alive"


def test_gate_grants_the_slot_once_and_gives_it_back(tmp_path, monkeypatch):
    import os

    from harness.sandbox.devlock import Gate

    monkeypatch.setenv("KERNEL_EVOLVE_LOCK_DIR", str(tmp_path))
    g = Gate(DeviceLock("cuda", 0), timed=True)
    g.start()
    assert g.lock.mode == "shared"
    g.on_header("ready")  # forged before the worker's hello: no slot
    assert g.lock.mode == "shared" and not g.granted
    g.on_header("hello")
    g.on_header("ready")
    assert g.lock.mode == "exclusive" and os.read(g.read_fd, 1) == b"g"
    g.on_header("ready")  # a forged second "ready" gets nothing more
    os.set_blocking(g.read_fd, False)
    try:
        os.read(g.read_fd, 1)
        raise AssertionError("a second slot byte was written")
    except BlockingIOError:
        pass
    g.on_header("timing")  # the timed calls are done but their snapshots still cross: the slot is kept
    assert g.lock.mode == "exclusive"
    g.on_header("done")  # the run's last message: the slot goes back
    assert g.lock.mode is None
    with device_exclusive("cuda", 0):  # nobody holds it now
        pass
    g.close()


def test_a_run_that_ends_while_queued_never_keeps_the_slot(tmp_path, monkeypatch):
    from harness.sandbox.devlock import Gate

    monkeypatch.setenv("KERNEL_EVOLVE_LOCK_DIR", str(tmp_path))
    holder = _holder(0, 300)  # another candidate is being timed
    g = Gate(DeviceLock("cuda", 0), timed=True)
    g.on_header("hello")
    t = threading.Thread(target=g.on_header, args=("ready",))
    t.start()  # the reader thread queues for the slot
    time.sleep(0.3)
    g.close()  # the run ends (killed, timed out) while queued
    holder.kill()
    holder.wait()
    t.join(timeout=10)
    assert not t.is_alive() and g.lock.mode is None
    t0 = time.monotonic()
    with device_exclusive("cuda", 0):
        pass
    assert time.monotonic() - t0 < 2, "a closed run kept the timing slot"


def test_lock_dir_planted_by_someone_else_is_refused(tmp_path, monkeypatch):
    # a sandboxed candidate can write /tmp: a lock folder it created first (open to all, a link, a file) would
    # let it hold or remove the locks, so the harness refuses to use one, and says what to remove
    import os

    import pytest

    from harness.sandbox.private_dir import private_dir

    open_dir = tmp_path / "open"
    open_dir.mkdir()
    open_dir.chmod(0o777)
    (tmp_path / "target").mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(tmp_path / "target")
    (tmp_path / "file").write_text("")
    for bad, why in ((open_dir, "mode 777"), (tmp_path / "link", "a link"), (tmp_path / "file", "not a directory")):
        monkeypatch.setenv("KERNEL_EVOLVE_LOCK_DIR", str(bad))
        with pytest.raises(PermissionError, match=why):
            DeviceLock("cuda", 0).acquire("shared")
    if os.geteuid() == 0:
        other = tmp_path / "other"
        other.mkdir(mode=0o700)
        os.chown(other, 65534, 65534)
        with pytest.raises(PermissionError, match="owned by uid 65534"):
            private_dir(other)
    fresh = tmp_path / "fresh" / "locks"
    monkeypatch.setenv("KERNEL_EVOLVE_LOCK_DIR", str(fresh))
    with device_exclusive("cuda", 0):
        assert (fresh.stat().st_mode & 0o777) == 0o700 and list(fresh.iterdir())


def test_a_reference_shares_the_device_until_its_baselines_then_has_it_with_no_candidate_alive(tmp_path, monkeypatch):
    """A reference's start-up, inputs and float64 outputs are correctness work (shared, beside a candidate);
    its eager/torch.compile timings wait until no candidate process is alive, and its slot ends at the
    `bandwidth` message, after which candidates start again."""
    import os

    from harness.sandbox.devlock import Gate

    monkeypatch.setenv("KERNEL_EVOLVE_LOCK_DIR", str(tmp_path))
    cand = subprocess.Popen([sys.executable, "-c", ALIVE, "3"], stdout=subprocess.PIPE, text=True)
    assert cand.stdout is not None and cand.stdout.readline().strip() == "held"
    g = Gate(DeviceLock("cuda", 0), timed=True, baseline=True)
    t0 = time.monotonic()
    g.start()  # not held up by the alive candidate, and not a candidate itself
    assert time.monotonic() - t0 < 2.0 and g.lock.mode == "shared"
    with device_shared("cuda", 0):  # another run's correctness work coexists with the reference's
        pass
    g.on_header("hello")
    g.on_header("ready")  # the baselines: only once the candidate's process is gone (its files closed)
    waited = time.monotonic() - t0
    cand.wait(timeout=10)
    assert waited >= 2.0, f"baselines timed beside a live candidate (granted after {waited:.2f} s)"
    assert g.lock.mode == "exclusive" and os.read(g.read_fd, 1) == b"g" and g.waited_s >= 1.0
    got = []
    starter = threading.Thread(target=lambda: got.append(DeviceLock("cuda", 0).attach()))
    starter.start()  # a new candidate waits while the baselines are timed
    time.sleep(0.3)
    assert starter.is_alive(), "a candidate started while the baselines were timed"
    g.on_header("eager")
    g.on_header("bandwidth")  # the reference's last timed work: the slot and `alive` go back
    starter.join(timeout=5)
    assert not starter.is_alive() and got and g.lock.mode is None
    os.close(got[0])
    g.close()
