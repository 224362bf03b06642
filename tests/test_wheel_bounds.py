"""The lower bounds in pyproject.toml are true: the oldest versions it admits are installed from PyPI into a fresh
venv and the archive, Hub and fine-tuning tests run on them.

How, and why this way (measured on the 2-core machine): `pip install` of the exact minimums (datasets 4.0,
huggingface_hub 0.34, transformers 4.56.1, trl 0.24, peft 0.15, accelerate 1.10, pyarrow 15, typer 0.15.4, ...)
into a `--system-site-packages` venv, letting pip resolve every other package as a new install would (it adds
older numpy, fsspec, dill, click... to the venv where a minimum needs them). That downloads about 100 MB and took
3.5 minutes cold, under 2 with pip's cache; a dry-run resolution alone (14 s) would have missed every real failure
this found: typer 0.12 resolved next to click 8.5 cannot build the CLI; transformers 4.56 needs accelerate 1.10;
trl < 0.24 puts loss on the prompt of our examples. torch stays the installed one: PyPI's
2.4 is a multi-GB CUDA build. Each pinned distribution is then checked to be imported from the venv, at its
minimum version, and a subset of the suite runs on them. Without PyPI the test skips and says so.
"""
from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: dependencies whose minimum is not installed here, and why
EXEMPT = {"torch": "the installed torch stands in: PyPI's torch 2.4 is a multi-GB CUDA build",
          "ninja": "a build tool with no API we call; any release builds"}
EXTRAS = ("finetune",)
#: module name -> distribution, where they differ
MODULES = {"huggingface_hub": "huggingface_hub", "pyyaml": "yaml", "jinja2": "jinja2"}
TESTS = [
    "tests/test_hub_card.py",
    "tests/test_hub_writes.py",
    "tests/test_hub_local.py::test_tag_then_read_revision_returns_exactly_the_tagged_rows",
    "tests/test_hub_local.py::test_load_dataset_reads_the_local_store",
    "tests/test_hub_hubstore.py::test_append_tag_append_read_tag_on_the_hub",
    "tests/test_hub_cli.py::test_import_stats_tag_log_export",
    "tests/test_hub_cli.py::test_version_and_the_exit_code_convention",
    "tests/test_finetune_hygiene.py::test_examples_over_max_length_are_dropped_and_counted_not_truncated",
    "tests/test_finetune_pipeline.py::test_the_loss_covers_the_completion_only_under_the_base_chat_template",
    "tests/test_finetune_grpo.py::test_one_grpo_step_with_the_harness_reward",
]
NETWORK = re.compile(r"(Could not fetch URL|Failed to establish a new connection|Temporary failure in name "
                     r"resolution|Network is unreachable|ConnectTimeout|Max retries exceeded)", re.I)


def floors() -> dict[str, str]:
    """distribution -> its lower bound, for the dependencies and the extras that the tests use."""
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(meta["dependencies"]) + [r for e in EXTRAS for r in meta["optional-dependencies"][e]]
    out = {}
    for req in reqs:
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*(?:>=\s*([0-9][^,;\s]*))?.*", req.strip())
        assert m, req
        name = m.group(1).lower()
        if name in EXEMPT:
            continue
        assert m.group(3), f"{req!r} has no lower bound: give it one (and let this test check it) or exempt it"
        out[name] = m.group(3)
    return out


def test_every_dependency_has_a_lower_bound_that_matches_what_the_code_needs():
    from packaging.version import Version

    f = floors()
    # floors set by APIs the code calls (pyproject.toml says which): datasets.List, from_pretrained(dtype=)
    assert Version(f["datasets"]) >= Version("4.0") and Version(f["transformers"]) >= Version("4.56")
    assert "tqdm" in f   # imported directly (hub.sync, hub.sakana), so declared


@pytest.mark.slow
def test_the_minimum_versions_install_together_and_run_the_archive_and_finetune_tests(tmp_path):
    pins = {name: v for name, v in floors().items()}
    venv = tmp_path / "min-venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    p = subprocess.run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--only-binary", ":all:",
                        *[f"{n}=={v}" for n, v in sorted(pins.items())]], capture_output=True, text=True, timeout=1500)
    if p.returncode != 0 and NETWORK.search(p.stdout + p.stderr):
        pytest.skip(f"PyPI is not reachable, so the minimum versions cannot be installed: {p.stderr[-400:]}")
    assert p.returncode == 0, "the minimum versions do not install together:\n" + p.stderr[-4000:]
    check = ("import importlib, importlib.metadata as md, json, sys\n"
             f"pins = {pins!r}\nmods = {MODULES!r}\nout = {{}}\n"
             "for n, v in pins.items():\n"
             "    m = importlib.import_module(mods.get(n, n.replace('-', '_')))\n"
             "    out[n] = [md.version(n), m.__file__]\n"
             "print(json.dumps(out))\n")
    r = subprocess.run([python, "-c", check], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    import json

    from packaging.version import Version

    got = json.loads(r.stdout)
    for name, floor in pins.items():
        version, where = got[name]
        assert Version(version) == Version(floor), f"{name}: {version} installed, {floor} pinned"
        assert Path(where).is_relative_to(venv), f"{name} was imported from {where}, not the venv"
    t = subprocess.run([python, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-o", "addopts=", *TESTS],
                       cwd=ROOT, capture_output=True, text=True, timeout=1500)
    assert t.returncode == 0, f"tests fail on the minimum versions:\n{t.stdout[-6000:]}\n{t.stderr[-2000:]}"
