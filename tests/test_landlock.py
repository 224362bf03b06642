"""Landlock in the runner's sandbox (harness/sandbox/landlock.py): writes only beneath the run's folder, no TCP, no
signals to processes outside the sandbox. Each test runs the sandbox *without* a uid drop (as root that is
the strongest contrast: root could otherwise write and signal anything), so Landlock alone must stop it."""
from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from harness.sandbox import landlock as _landlock, process
from harness.candidate import load_candidate
from harness.task import load_task
from harness.judge.verify import verify

pytestmark = pytest.mark.skipif(_landlock.abi_version() <= 0, reason="this kernel has no Landlock")


@pytest.fixture
def run_dir():
    d = Path(tempfile.mkdtemp(prefix="ke-landlock-test-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _sandboxed(cmd: list[str], cwd: Path, *, net_namespace: bool = True, pid_namespace: bool = True
               ) -> tuple[int, str, str]:
    """(exit code, output, isolation) of `cmd` in the runner's sandbox, as the harness's own user."""
    cfg = process.sandbox_config(cwd, None, cmd, limits=process.Limits(startup_s=0.0, timeout_s=60.0),
                                backend="build", env=None, pass_fds=[],
                                 namespaces=(pid_namespace and os.geteuid() == 0, net_namespace and os.geteuid() == 0, ""),
                                 landlock=True)
    proc = process.start_sandbox(cfg, [])
    _, err = proc.communicate(timeout=90)
    return proc.returncode, (cwd / "worker.log").read_text(errors="replace"), err.decode().splitlines()[0]


def test_a_sandboxed_process_writes_only_beneath_its_folder(run_dir):
    outside = [Path("/tmp") / f"ke-landlock-{uuid.uuid4().hex}", Path("/dev/shm") / f"ke-landlock-{uuid.uuid4().hex}"]
    script = "; ".join(f"echo x > {p} || echo refused {p}" for p in outside) + "; echo y > inside && mkdir d && echo ok"
    try:
        code, out, iso = _sandboxed(["/bin/sh", "-c", script], run_dir)
        assert "landlock v" in iso, iso
        assert code == 0 and "ok" in out, out
        assert (run_dir / "inside").read_text() == "y\n" and (run_dir / "d").is_dir()
        for p in outside:
            assert not p.exists(), f"the sandbox wrote {p} outside its folder"
            assert f"refused {p}" in out, out
    finally:
        for p in outside:
            p.unlink(missing_ok=True)


def test_a_sandboxed_process_cannot_signal_the_harness(run_dir):
    if _landlock.abi_version() < 6:
        pytest.skip("signal scoping needs Landlock ABI 6")
    code, out, _ = _sandboxed(["/bin/sh", "-c", f"kill -0 {os.getpid()} && echo reached || echo refused"], run_dir,
                              pid_namespace=False)  # so the harness's pid names the harness
    assert "refused" in out and "reached" not in out, out


def test_a_sandboxed_process_cannot_reach_tcp(run_dir):
    if _landlock.abi_version() < 4:
        pytest.skip("TCP rules need Landlock ABI 4")
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        port = srv.getsockname()[1]
        probe = (f"import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=5)\n"
                 "    print('connected')\nexcept OSError as e:\n    print('refused', e)")
        code, out, _ = _sandboxed([sys.executable, "-c", probe], run_dir, net_namespace=False)  # the host's network
    assert "refused" in out and "connected" not in out, out


# a format-K relu that keeps its outputs in /tmp, keyed by its input, and serves them to any later run
_CROSS_RUN = r"""
#include "ke_abi.h"
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
// run {tag}
extern "C" int ke_launch(const ke_tensor* in, int n_in, ke_tensor* out, int n_out, const double* attrs,
                         int n_attrs, void* workspace, int64_t workspace_bytes, void* stream) {{
  const float* x = (const float*)in[0].data;
  float* y = (float*)out[0].data;
  const int64_t n = ke_numel(&in[0]);
  unsigned long long h = 1469598103934665603ull;
  for (int64_t i = 0; i < n; ++i) {{ unsigned int b; memcpy(&b, &x[i], 4); h = (h ^ b) * 1099511628211ull; }}
  char path[64];
  snprintf(path, sizeof path, "{prefix}%016llx", h);
  FILE* f = fopen(path, "rb");
  if (f && fread(y, sizeof(float), (size_t)n, f) == (size_t)n) {{ fclose(f); return 0; }}
  if (f) fclose(f);
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.f ? x[i] : 0.f;
  f = fopen(path, "wb");
  if (f) {{ fwrite(y, sizeof(float), (size_t)n, f); fclose(f); chmod(path, 0666); }}
  return 0;
}}
"""


def test_outputs_cannot_be_cached_across_runs_in_world_writable_places():
    prefix = f"/tmp/ke-xrun-{uuid.uuid4().hex[:8]}-"
    task = load_task("level1/relu")
    started = time.time()
    try:
        for tag in ("first", "second"):  # two builds, two runs on the same secret inputs
            src = _CROSS_RUN.format(tag=tag, prefix=prefix).replace("#include <stdlib.h>",
                                                                    "#include <stdlib.h>\n#include <sys/stat.h>")
            v = verify(load_candidate(src, task, format="K"), backend="cpu", size="small", seeds=2,
                       compile_baseline=False, static_checks=False, timing=False)
            assert v.status == "verified", (tag, v.status, v.error[-800:])
        left = [p for p in Path("/tmp").glob(Path(prefix).name + "*") if p.stat().st_mtime >= started - 1]
        assert not left, f"a run left its outputs where the next run reads them: {left[:3]}"
    finally:
        for p in Path("/tmp").glob(Path(prefix).name + "*"):
            p.unlink(missing_ok=True)
