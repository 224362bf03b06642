"""The sandbox without a PID namespace (the CUDA fallback on hosts whose driver fails inside one).

`harness.sandbox.choice.sandbox_namespaces` drops the PID namespace only where CUDA cannot start inside it; these
tests hold the weaker sandbox to the same promises: every process the candidate starts dies, and
the verdict says which isolation it got.
"""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from harness.sandbox import runner, choice as sandbox_choice

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="namespaces need root")


def test_probe_helper_reports_success_and_the_error_line() -> None:
    assert sandbox_choice._sandboxed_python("import os", pid_ns=False, net_ns=True) == ""
    err = sandbox_choice._sandboxed_python("raise SystemExit('boom-7f3a')", pid_ns=True, net_ns=True)
    assert "boom-7f3a" in err


def test_sandboxed_code_can_name_its_user() -> None:
    # the dropped uid has no passwd entry; torch.compile (inductor's cache) asks getpass for a user name,
    # which failed the torch.compile baseline inside the sandbox on the H100 host (KeyError from getpwuid)
    assert sandbox_choice._sandboxed_python("import getpass; assert getpass.getuser() == 'ke-sandbox'",
                                    pid_ns=False, net_ns=True) == ""


def test_cuda_keeps_landlock_unless_the_driver_fails_under_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.sandbox import landlock as _landlock

    if _landlock.abi_version() <= 0:
        pytest.skip("this kernel has no Landlock")
    monkeypatch.setattr(sandbox_choice, "_ns_choice", {"cuda": (False, True, "no PID namespace: (304)")})
    monkeypatch.setattr(sandbox_choice, "_landlock_choice", {})
    tried = []

    def fails_under_landlock(code: str, *, pid_ns: bool, net_ns: bool, landlock: bool = True,
                             timeout_s: float = 120.0) -> str:
        tried.append((pid_ns, net_ns, landlock))
        assert "profile" in code  # the probe also runs the profiler, as every timed CUDA run does
        return "RuntimeError: CUDA driver failed: x" if landlock else ""

    monkeypatch.setattr(sandbox_choice, "_sandboxed_python", fails_under_landlock)
    assert sandbox_choice.sandbox_landlock("cuda") is False and tried == [(False, True, True), (False, True, False)]
    assert sandbox_choice.sandbox_namespaces("cuda")[2] == \
        "no PID namespace: (304); no landlock: CUDA fails under it on this host (RuntimeError: CUDA driver failed: x)"
    assert sandbox_choice.sandbox_landlock("cuda") is False and len(tried) == 2  # probed once per process
    assert sandbox_choice.sandbox_landlock("cpu") is True
    monkeypatch.setattr(sandbox_choice, "_landlock_choice", {})
    monkeypatch.setattr(sandbox_choice, "_sandboxed_python", lambda *a, **k: "")
    assert sandbox_choice.sandbox_landlock("cuda") is True


@root_only
def test_probe_picks_the_strongest_set_cuda_survives(monkeypatch: pytest.MonkeyPatch) -> None:
    tried = []

    def fake(code: str, *, pid_ns: bool, net_ns: bool, landlock: bool = True, timeout_s: float = 120.0) -> str:
        assert not landlock  # the namespaces are chosen first, without Landlock
        tried.append((pid_ns, net_ns))
        return "RuntimeError: ... Error 304" if pid_ns else ""

    monkeypatch.setattr(sandbox_choice, "_sandboxed_python", fake)
    pid_ns, net_ns, note = sandbox_choice._probe_cuda_namespaces()
    assert (pid_ns, net_ns) == (False, True) and tried == [(True, True), (False, True)]
    assert "no PID namespace" in note and "Error 304" in note
    monkeypatch.setattr(sandbox_choice, "_sandboxed_python", lambda *a, **k: "")
    assert sandbox_choice._probe_cuda_namespaces() == (True, True, "")
    assert sandbox_choice.sandbox_namespaces("cpu") == (True, True, "")


@root_only
@pytest.mark.parametrize("name", ["escape_setsid_sleeper.cpp", "forge_fork_survivor.cpp"])
def test_no_survivors_without_a_pid_namespace(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.adversarial.test_adversarial import MANIFEST, run_entry

    note = "no PID namespace: test"
    monkeypatch.setattr(sandbox_choice, "sandbox_namespaces", lambda backend: (False, True, note))
    entry = next(e for e in MANIFEST if Path(e["file"]).name == name)
    seen = []
    real = runner.run_job

    def spy(*a, **k):
        res = real(*a, **k)
        seen.append(res.isolation)
        return res

    import harness.judge.verify as verify_mod

    monkeypatch.setattr(verify_mod, "run_job", spy)
    run_entry(entry, "cpu", monkeypatch)  # asserts its status and that no process of it survived
    assert seen and all("subreaper" in s and note in s and "pid-namespace" not in s for s in seen), seen


def test_subreaper_kills_a_double_forked_setsid_child() -> None:
    import tempfile

    tmp_path = Path(tempfile.mkdtemp(prefix="ke-test-"))  # reachable by the sandbox's uid
    pidfile = tmp_path / "pid"
    code = ("import os,time\n"
            "if os.fork()==0:\n"
            "    os.setsid()\n"
            "    if os.fork()==0:\n"
            f"        open({str(pidfile)!r},'w').write(str(os.getpid())); time.sleep(600)\n"
            "    os._exit(0)\n"
            "time.sleep(0.5)\n")
    os.chmod(tmp_path, 0o777)
    try:
        # the pid file is written outside the sandbox's folder, which Landlock forbids: off here, since what is
        # tested is the subreaper alone
        assert sandbox_choice._sandboxed_python(code, pid_ns=False, net_ns=False, landlock=False) == ""
        pid = int(pidfile.read_text())
    finally:
        shutil.rmtree(tmp_path, ignore_errors=True)
    deadline = time.monotonic() + 5
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    stat = Path(f"/proc/{pid}/stat")
    assert not stat.exists() or stat.read_text().split(")")[-1].split()[0] == "Z", "the setsid grandchild survived"


@root_only
def test_reap_uid_kills_what_a_run_uid_left_and_nothing_else() -> None:
    # after each run, whatever still runs as its uid is killed before the uid or the device goes to another
    # run: the guarantee where a CUDA host allows no PID namespace, independent of the supervisor's subreaper
    import subprocess
    import sys

    from harness.sandbox import uids

    if not uids.can_drop_privileges():
        pytest.skip("the interpreter is not reachable by an unprivileged uid here (see .ci/run)")
    mine, other = uids.alloc_uid(), uids.alloc_uid()
    sleep = [sys.executable, "-S", "-c", "import time; time.sleep(600)"]
    procs = []
    try:
        for uid in (mine, mine, other):
            procs.append(subprocess.Popen(sleep, user=uid, group=uid, extra_groups=[], cwd="/",
                                          start_new_session=True))
        deadline = time.monotonic() + 10
        while (len(uids.uid_pids(mine)), len(uids.uid_pids(other))) != (2, 1) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (len(uids.uid_pids(mine)), len(uids.uid_pids(other))) == (2, 1)
        assert uids.reap_uid(mine) == []
        assert [p.wait(timeout=5) for p in procs[:2]] == [-9, -9] and uids.uid_pids(mine) == []
        assert procs[2].poll() is None, "reaping one run's uid killed another run's process"
        assert uids.reap_uid(None) == [] and uids.reap_uid(mine) == []  # nothing to do: no helper started
    finally:
        for p in procs:
            p.kill()
            p.wait()
        uids.free_uid(mine)
        uids.free_uid(other)
