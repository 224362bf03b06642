"""The wheel, as a new user gets it: built from the tree, installed (not editable) into a fresh venv, used from
outside the repo.

A copy of the tree is built with `pip wheel` (so nothing is written into the repo), installed with `--no-deps`
into a `--system-site-packages` venv (the dependencies are the ones installed for the test run; their minimum
versions are tests/test_wheel_bounds.py's business), and every command below runs from a folder outside the repo
with no PYTHONPATH. The test first proves that the venv's copy is the one imported: CI also has the repo
installed editable in the system site-packages, which must not shadow the wheel.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from test_hub_hubstore import standin  # noqa: F401  (the hub tests' stand-in fixture)
from test_hub_sakana import sakana_rows, write_sakana

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("harness", "pipeline", "hub", "finetune", "space")
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")   # harness/build/ is a package: keep it


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    site: Path          # the venv's site-packages
    run: Path           # a folder outside the repo to run commands in
    env: dict


def tree_files() -> list[str]:
    """The package files a fresh clone has (git's view: tracked, plus new files not ignored)."""
    out = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-co", "--exclude-standard", "--", *PACKAGES],
                         capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip("git is needed to list the tree's files")
    return sorted(p for p in out.stdout.split() if (ROOT / p).is_file() and not p.endswith((".pyc", ".pyo")))


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, src / pkg, ignore=SKIP)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(PYTHONNOUSERSITE="1", PIP_DISABLE_PIP_VERSION_CHECK="1", HF_HUB_OFFLINE="1",
               HF_HOME=str(work / "hf-home"), KERNEL_EVOLVE_ARCHIVE=str(work / "default-archive"))

    def pip(*args: str, python: str = sys.executable) -> None:
        p = subprocess.run([sys.executable, "-m", "pip", "--python", python, *args], env=env, cwd=work,
                           capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]

    import setuptools
    from packaging.version import Version

    assert Version(setuptools.__version__) >= Version("68"), "the test extra installs setuptools>=68 (build-system)"
    pip("wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(work / "dist"), str(src))
    wheel = next((work / "dist").glob("kernel_evolve-*.whl"))
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True)
    pip("install", "--no-deps", "--ignore-installed", "-q", str(wheel), python=str(venv / "bin" / "python"))
    site = Path(subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()"
                                "['purelib'])"], capture_output=True, text=True, check=True).stdout.strip())
    run = work / "elsewhere"
    run.mkdir()
    return Installed(wheel, venv, site, run, env)


def ke(inst: Installed, *args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(inst.venv / "bin" / "kernel-evolve"), *args], cwd=inst.run, env={**inst.env, **(env or {})},
                          capture_output=True, text=True, timeout=timeout)


def test_the_wheel_holds_every_file_of_the_packages(installed):
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    missing = [p for p in tree_files() if p not in names]
    assert not missing, f"files of the packages that the wheel lacks (add them to package-data): {missing}"
    for data in ("hub/templates/dataset_card.md.j2", "finetune/templates/model_card.md.j2", "space/README.md",
                 "space/Dockerfile", "space/requirements.txt", "harness/THREAT_MODEL.md",
                 "pipeline/tasks/level1/layernorm.py"):
        assert data in names, data


def test_the_installed_copy_is_the_one_imported(installed):
    code = "import json, harness, pipeline, hub, finetune, space; print(json.dumps([m.__file__ for m in " \
           "(harness, pipeline, hub, finetune, space)]))"
    p = subprocess.run([str(installed.venv / "bin" / "python"), "-c", code], cwd=installed.run, env=installed.env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    files = [Path(f) for f in json.loads(p.stdout)]
    assert all(f.is_relative_to(installed.site) for f in files), files
    assert not any(f.is_relative_to(ROOT) for f in files)
    r = ke(installed, "--version")
    assert r.returncode == 0 and r.stdout.startswith("kernel-evolve 0.1.0 (from ") and str(installed.site) in r.stdout


def test_archive_init_import_compact_and_card_from_the_wheel(installed, tmp_path):
    arch = tmp_path / "archive"
    r = ke(installed, "archive", "init", "--archive", str(arch))
    assert r.returncode == 0 and "ready at" in r.stdout, r.stdout + r.stderr
    src = write_sakana(tmp_path / "sakana.parquet", sakana_rows())
    for i in range(2):
        r = ke(installed, "archive", "import-sakana", str(src if i == 0 else tmp_path / "more.parquet"),
               "--archive", str(arch))
        assert r.returncode == 0 and "new rows" in r.stdout, r.stdout + r.stderr
        if i == 0:
            rows = sakana_rows()
            for n, row in enumerate(rows):
                row["CUDA_Code"] += f"// variant {n}\n"
            write_sakana(tmp_path / "more.parquet", rows)
    card = (arch / "README.md").read_text()
    meta = yaml.safe_load(card.split("---\n")[1])
    assert meta["license"] == "cc-by-4.0" and meta["source_datasets"] == ["extended|SakanaAI/AI-CUDA-Engineer-Archive"]
    r = ke(installed, "archive", "compact", "--archive", str(arch), "--tag", "compacted")
    assert r.returncode == 0 and "compacted 6 shards into 3" in r.stdout, r.stdout + r.stderr
    r = ke(installed, "archive", "stats", "--archive", str(arch), "--revision", "no-such-tag")
    assert r.returncode == 3 and "error: no revision" in r.stderr and "Traceback" not in r.stderr


def test_space_deploy_from_the_wheel(installed, standin, tmp_path):  # noqa: F811
    from huggingface_hub import HfApi

    r = ke(installed, "space", "deploy", "alice/ke-wheel", "--endpoint", standin.endpoint,
           env={"HF_TOKEN": "hf_alice", "HF_HUB_OFFLINE": "0", "HF_HUB_DISABLE_XET": "1"})
    assert r.returncode == 0 and "deployed:" in r.stdout, r.stdout + r.stderr
    files = set(HfApi(endpoint=standin.endpoint, token="hf_alice").list_repo_files("alice/ke-wheel", repo_type="space"))
    assert {"app.py", "README.md", "requirements.txt", "hub/templates/dataset_card.md.j2", "space/app.py",
            "pipeline/tasks/level1/gelu.py"} <= files
    assert "docs/space.png" not in files   # a wheel has no docs/: the card goes without the picture


def test_verify_a_builtin_task_from_the_wheel(installed):
    # the task's own format-K CPU seed, as the wheel installed it: one g++ call, no torch headers
    kernel = installed.site / "pipeline" / "tasks" / "level1" / "layernorm.k.cpp"
    r = ke(installed, "verify", "level1/layernorm", str(kernel), "--backend", "cpu", "--seeds", "1", "--no-timing",
           "--json")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert json.loads(r.stdout)["status"] == "verified"
    r = ke(installed, "verify", "level1/no_such_task", str(kernel), "--backend", "cpu")
    assert r.returncode == 2 and "Traceback" not in r.stdout + r.stderr
