"""`kernel-evolve space deploy` against the stand-in Hub (tests/hub_standin.py) on loopback: one commit, the
files a Space needs, a Docker variant, stale files removed, clear errors, and the token never printed."""
from __future__ import annotations

import shutil

import huggingface_hub.constants
import pytest
import yaml
from huggingface_hub import HfApi
from test_hub_hubstore import standin  # noqa: F401  (the hub tests' stand-in fixture)
from typer.testing import CliRunner

from pipeline.cli import app
from space.deploy import REPO_ROOT, DeployError, DeployHubError, deploy, plan, space_files

REPO = "alice/kernel-evolve"
TOKEN = "hf_alice"


@pytest.fixture(autouse=True)
def no_xet(monkeypatch):
    """The stand-in speaks the LFS protocol, not Xet (as in the hub tests, which set HF_HUB_DISABLE_XET=1)."""
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_XET", True)


def _commits(hub) -> int:
    return sum(1 for m, p in hub.requests if m == "POST" and p == f"/api/spaces/{REPO}/commit/main")


def _card(api: HfApi) -> dict:
    path = api.hf_hub_download(REPO, "README.md", repo_type="space")
    text = open(path).read()
    assert text.startswith("---\n")
    return yaml.safe_load(text[4:].split("\n---\n", 1)[0])


def card_links_screenshot(api: HfApi) -> bool:
    text = open(api.hf_hub_download(REPO, "README.md", repo_type="space")).read()
    return "](docs/space.png)" in text and "../docs" not in text


def test_cli_deploy_uploads_app_and_packages_in_one_commit(standin, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    result = CliRunner().invoke(app, ["space", "deploy", REPO, "--endpoint", standin.endpoint],
                                env={"HF_TOKEN": TOKEN})
    assert result.exit_code == 0, result.output
    assert "deployed:" in result.output and TOKEN not in result.output
    assert _commits(standin) == 1
    api = HfApi(endpoint=standin.endpoint, token=TOKEN)
    files = set(api.list_repo_files(REPO, repo_type="space"))
    expected = set(space_files())
    assert expected <= files, sorted(expected - files)
    for must in ("app.py", "README.md", "requirements.txt", "space/app.py", "harness/judge/verify.py",
                 "pipeline/run.py", "pipeline/tasks/level1/gelu.py", "pipeline/tasks/level1/gelu.cpp",
                 "hub/store.py", "hub/templates/dataset_card.md.j2"):
        assert must in files, must
    if "docs/space.png" in expected:   # the README's screenshot is binary: it took the LFS path, as on the Hub
        assert ("POST", f"/spaces/{REPO}.git/info/lfs/objects/batch") in standin.requests
        assert card_links_screenshot(api)
    assert not any("__pycache__" in f or f.endswith(".pyc") or f.startswith("tests/") for f in files)
    card = _card(api)
    assert card["sdk"] == "gradio" and card["app_file"] == "app.py" and card["sdk_version"]
    assert {"suggested_hardware", "datasets", "models", "tags"} <= set(card)
    shim = open(api.hf_hub_download(REPO, "app.py", repo_type="space")).read()
    assert "from space.app import main" in shim
    got = open(api.hf_hub_download(REPO, "space/app.py", repo_type="space")).read()
    assert got == (REPO_ROOT / "space" / "app.py").read_text()


def test_docker_redeploy_switches_sdk_and_removes_stale_files(standin, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    tree = tmp_path / "tree"
    for pkg in ("harness", "pipeline", "hub", "space"):
        shutil.copytree(REPO_ROOT / pkg, tree / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    (tree / "harness" / "old_module.py").write_text('"""removed in the next version"""\n')
    deploy(REPO, token=TOKEN, endpoint=standin.endpoint, root=tree)
    api = HfApi(endpoint=standin.endpoint, token=TOKEN)
    assert "harness/old_module.py" in api.list_repo_files(REPO, repo_type="space")
    # what an earlier version deployed: the card templates in a top-level cards/ (now package data of hub/)
    api.upload_file(path_or_fileobj=b"old template\n", path_in_repo="cards/dataset_card.md.j2", repo_id=REPO,
                    repo_type="space")
    deploy(REPO, token=TOKEN, endpoint=standin.endpoint, docker=True)
    files = set(api.list_repo_files(REPO, repo_type="space"))
    assert "harness/old_module.py" not in files and "Dockerfile" in files
    assert not any(f.startswith("cards/") for f in files)
    assert _commits(standin) == 2 + 1   # two deploys and the upload that played an older version
    card = _card(api)
    assert card["sdk"] == "docker" and card["app_port"] == 7860 and "sdk_version" not in card
    dockerfile = open(api.hf_hub_download(REPO, "Dockerfile", repo_type="space")).read()
    assert "devel" in dockerfile and "nvidia/cuda" in dockerfile


def test_deploy_errors_are_clear(standin, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    r = CliRunner().invoke(app, ["space", "deploy", REPO, "--endpoint", standin.endpoint, "--token", "hf_wrong"])
    assert r.exit_code == 2 and "token" in r.output and "hf_wrong" not in r.output, r.output
    assert "Traceback" not in r.output
    r = CliRunner().invoke(app, ["space", "deploy", "not-a-repo-id", "--endpoint", standin.endpoint])
    assert r.exit_code == 2 and "owner/name" in r.output, r.output
    # the Hub's refusals are their own class, so a CLI can give them the archive/Hub exit code (3)
    with pytest.raises(DeployHubError, match="token"):
        deploy(REPO, token="hf_wrong", endpoint=standin.endpoint)
    with pytest.raises(DeployError) as bad_id:
        deploy("not-a-repo-id", endpoint=standin.endpoint)
    assert not isinstance(bad_id.value, DeployHubError)


def test_a_tree_without_the_screenshot_deploys_a_card_without_a_broken_image(tmp_path):
    tree = tmp_path / "site-packages"    # as installed from a wheel: the packages, no docs/
    for pkg in ("harness", "pipeline", "hub", "space"):
        shutil.copytree(REPO_ROOT / pkg, tree / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    files = space_files(root=tree)
    assert "docs/space.png" not in files
    card = files["README.md"].decode()
    assert "space.png" not in card and card.startswith("---\n") and "# kernel-evolve Space" in card
    p = plan(REPO, root=tree)
    assert p.files == tuple(sorted(files)) and p.sdk == "gradio" and "hub/templates/dataset_card.md.j2" in p.files
    assert f"to the gradio Space {REPO}" in p.describe()
    with pytest.raises(DeployError, match="owner/name"):
        plan("not-a-repo-id", root=tree)


def test_space_command_is_registered():
    r = CliRunner().invoke(app, ["space", "--help"])
    assert r.exit_code == 0 and "deploy" in r.output and "--port" in r.output and "--archive" in r.output
    assert "--backend" in r.output
