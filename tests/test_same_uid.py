"""A harness that cannot drop the candidate to another uid (it does not run as root: a Docker Space, a laptop)
runs the candidate as its own user. That user's other processes must still be closed to the candidate: the
parent's memory holds every cached float64 reference and its environment holds the user's tokens.

The harness here really runs unprivileged: as root the test starts it as a spare uid through exec (a process
that changed uid and did not exec is already closed to others, which would prove nothing); otherwise as the
current user.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

from harness.sandbox import landlock as _landlock
from harness.types import uid_dropped
from harness.sandbox.uids import UID_BASE, can_drop_privileges

REPO = Path(__file__).resolve().parent.parent
CANDIDATE = REPO / "tests" / "adversarial" / "candidates" / "forge_read_parent.cpp"
SPARE_UID = UID_BASE - 1002  # below the sandbox uids, so no run's reap ever reaches it

_HARNESS = """
import sys
sys.path.insert(0, sys.argv[1])
from harness.candidate import load_candidate
from harness.task import load_task
from harness.judge.verify import verify
if sys.argv[3] == "no-landlock":  # the dumpable flag alone (Landlock also keeps a sandbox out of /proc/<pid>/mem)
    import harness.sandbox.choice
    harness.sandbox.choice.sandbox_landlock = lambda backend: False
task = load_task("level1/relu")
cand = load_candidate(sys.argv[2], task, format="A")
v = verify(cand, backend="cpu", size="small", seeds=2, compile_baseline=False, timeout_s=120.0, repeats=10,
           warmup=2, static_checks=False)
print("VERDICT " + v.to_json(), flush=True)
"""


def _as_spare_user() -> None:
    os.setgroups([])
    os.setgid(SPARE_UID)
    os.setuid(SPARE_UID)


@pytest.mark.parametrize("layers", ["all", "no-landlock"])
def test_a_candidate_running_as_the_harness_user_cannot_read_its_memory_or_environment(layers):
    as_root = os.geteuid() == 0
    if as_root and not can_drop_privileges():
        pytest.skip("the interpreter, torch or the repository is not reachable by another uid (.ci/run opens them)")
    work = Path(tempfile.mkdtemp(prefix="ke-same-uid-"))
    try:
        if as_root:
            os.chown(work, SPARE_UID, SPARE_UID)
        canary = f"hf_canary_{uuid.uuid4().hex}"
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(work), "TMPDIR": str(work),
               "KERNEL_EVOLVE_CACHE": str(work / "cache"), "KERNEL_EVOLVE_NO_PCH": "1", "HF_TOKEN": canary,
               "LANG": "C.UTF-8"}
        proc = subprocess.run([sys.executable, "-c", _HARNESS, str(REPO), str(CANDIDATE), layers], env=env, cwd=work,
                              capture_output=True, text=True, timeout=900,
                              preexec_fn=_as_spare_user if as_root else None)
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("VERDICT ")), None)
        assert line, f"the unprivileged harness gave no verdict (exit {proc.returncode}): {proc.stderr[-3000:]}"
        verdict = json.loads(line[len("VERDICT "):])
        isolation = next(c["reason"] for c in verdict["checks"] if c["name"] == "isolation")
        assert not uid_dropped(isolation), f"the candidate was dropped to another uid ({isolation}): not this scenario"
        assert ("landlock v" in isolation) == (layers == "all" and _landlock.abi_version() > 0), isolation
        assert verdict["status"] == "incorrect", (verdict["status"], verdict["error"])
        assert any(c["name"].startswith("case:") and c["outcome"] == "fail" for c in verdict["checks"])
        for where, text in (("the verdict", line), ("stdout", proc.stdout), ("stderr", proc.stderr)):
            assert canary not in text, f"the candidate read the harness's HF_TOKEN (found in {where})"
    finally:
        shutil.rmtree(work, ignore_errors=True)
