"""Builds of untrusted sources run sandboxed: a compiler reads the files a source names and quotes them in its
errors, which reach the verdict, the operator's prompt, the archive and the Space."""
from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest

from harness.build.cache import build
from harness.candidate import load_candidate
from harness.build.sandboxed import run_compiler
from harness.task import load_task
from harness.types import uid_dropped
from harness.sandbox.uids import UID_BASE, UID_SPAN, can_drop_privileges
from harness.judge.verify import verify

needs_root = pytest.mark.skipif(not can_drop_privileges(),
                                reason="a build drops to its own uid only where the harness runs as root")

# a format-K relu that first includes a file by a computed path (no string literal names it)
_STEAL = """
#define KE_STR(x) #x
#define KE_XSTR(x) KE_STR(x)
#include KE_XSTR({path})
#include "ke_abi.h"
extern "C" int ke_launch(const ke_tensor* in, int n_in, ke_tensor* out, int n_out, const double* attrs,
                         int n_attrs, void* workspace, int64_t workspace_bytes, void* stream) {{
  const float* x = (const float*)in[0].data;
  float* y = (float*)out[0].data;
  const int64_t n = ke_numel(&in[0]);
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.f ? x[i] : 0.f;
  return 0;
}}
"""


@pytest.fixture
def build_dir():
    """A fresh folder where builds happen: under a path any uid can traverse, like the build cache."""
    d = Path(tempfile.mkdtemp(prefix="ke-build-test-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_the_compiler_runs_with_a_clean_environment(build_dir, monkeypatch):
    canary = f"hf_canary_{uuid.uuid4().hex}"
    monkeypatch.setenv("HF_TOKEN", canary)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", canary)
    run = run_compiler(["env"], cwd=build_dir)
    assert run.returncode == 0, run.output
    assert "PATH=" in run.output and canary not in run.output
    assert "net-namespace" in run.isolation or os.geteuid() != 0, run.isolation


@needs_root
def test_the_compiler_runs_as_a_build_uid_and_the_folder_comes_back(build_dir):
    tmp_path = build_dir
    (tmp_path / "in.txt").write_text("x")
    run = run_compiler(["sh", "-c", "id -u; echo made > out.txt; ln -s /etc/passwd link"], cwd=build_dir)
    assert run.returncode == 0, run.output
    uid = int(run.output.split()[0])
    assert UID_BASE <= uid < UID_BASE + UID_SPAN and f"uid {uid}" in run.isolation and uid_dropped(run.isolation)
    assert (tmp_path / "out.txt").read_text() == "made\n"
    assert not (tmp_path / "link").exists() and not (tmp_path / "link").is_symlink()  # links are dropped
    for p in [tmp_path, *tmp_path.iterdir()]:
        st = p.stat()
        assert st.st_uid == os.geteuid() and not st.st_mode & 0o022, (p, st.st_uid, oct(st.st_mode))


@needs_root
def test_a_source_cannot_make_the_compiler_quote_a_file_only_the_harness_user_reads(tmp_path):
    canary = f"hf_canary_{uuid.uuid4().hex}"
    secret = Path("/tmp") / f"ke-build-secret-{uuid.uuid4().hex[:12]}"
    fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # like ~/.cache/huggingface/token
    os.write(fd, f"{canary}\n".encode())
    os.close(fd)
    try:
        source = _STEAL.format(path=str(secret))
        res = build(source, backend="cpu", format="K")
        assert not res.ok and canary not in res.error, res.error[-1500:]
        assert f"{secret}: Permission denied" in res.error, res.error[-1500:]  # the file, not the build folder
        cand = load_candidate(source, load_task("level1/relu"), format="K")
        v = verify(cand, backend="cpu", size="small", seeds=2, compile_baseline=False, static_checks=False)
        assert v.status == "compile_error" and canary not in v.to_json(), (v.status, v.error[-1500:])
    finally:
        secret.unlink()


@needs_root
def test_a_cache_other_uids_cannot_reach_builds_as_the_harness_user_and_says_so(monkeypatch):
    closed = Path(tempfile.mkdtemp(prefix="ke-closed-"))  # 0700: no build uid can traverse it
    try:
        monkeypatch.setenv("KERNEL_EVOLVE_CACHE", str(closed / "cache"))
        source = _STEAL.format(path="<stddef.h>").replace("#include KE_XSTR(<stddef.h>)", "#include <stddef.h>")
        res = build(source, backend="cpu", format="K")
        assert res.ok, res.error
        assert not uid_dropped(res.isolation) and f"cannot traverse {closed}" in res.isolation, res.isolation
        v = verify(load_candidate(source, load_task("level1/relu"), format="K"), backend="cpu", size="small",
                   seeds=1, compile_baseline=False, timing=False)
        compile_check = next(c for c in v.checks if c.name == "compile")
        assert "without a uid drop" in compile_check.reason and f"cannot traverse {closed}" in compile_check.reason
    finally:
        shutil.rmtree(closed, ignore_errors=True)
