"""Deploying the Space: the files a Space repo needs and one `create_commit` that uploads them.

A Space runs `app.py` at its root, so the deployment is: the Space card
(`space/README.md`, whose front matter configures the Space), the
requirements, a three-line root `app.py` that calls `space.app.main()`, and
the packages the app imports (`harness`, `pipeline` with its task suite,
`hub`, `space`, and `cards` for the archive's dataset card). `--docker` makes
a Docker Space instead, built from `space/Dockerfile` on a CUDA devel image so
`nvcc` is there for `load_inline`. Files of ours that a new version no longer
has are deleted in the same commit; nothing else in the repo is touched.
"""
from __future__ import annotations

from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("harness", "pipeline", "hub", "space", "cards")
SKIP_DIRS = {"__pycache__", ".pytest_cache", ".ipynb_checkpoints"}
SKIP_SUFFIXES = {".pyc", ".pyo", ".so", ".o"}
SCREENSHOT = "docs/space.png"
APP_SHIM = '"""Hugging Face Space entry point: the kernel-evolve Gradio app (space/app.py)."""\n' \
           "from space.app import main\n\nmain()\n"


class DeployError(RuntimeError):
    """A deployment that cannot proceed; the message says what to do."""


def _front_matter(card: str) -> tuple[dict, str]:
    if not card.startswith("---\n"):
        raise DeployError("space/README.md must start with YAML front matter (---)")
    head, _, body = card[4:].partition("\n---\n")
    return yaml.safe_load(head) or {}, body


def space_card(*, docker: bool = False, root: Path = REPO_ROOT) -> str:
    """The Space's README.md: space/README.md, switched to `sdk: docker` for a Docker Space."""
    meta, body = _front_matter((root / "space" / "README.md").read_text())
    if docker:
        meta.pop("sdk_version", None)
        meta.pop("app_file", None)
        meta["sdk"] = "docker"
        meta["app_port"] = 7860
        meta["suggested_hardware"] = "l4x1"
    body = body.replace(f"](../{SCREENSHOT})", f"]({SCREENSHOT})")   # the screenshot sits at the Space's root
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n" + body


def space_files(*, docker: bool = False, root: Path = REPO_ROOT) -> dict[str, bytes]:
    """Path in the Space repo -> content, for everything the Space needs."""
    files: dict[str, bytes] = {
        "README.md": space_card(docker=docker, root=root).encode(),
        "requirements.txt": (root / "space" / "requirements.txt").read_bytes(),
        "app.py": APP_SHIM.encode(),
    }
    if (root / SCREENSHOT).is_file():
        files[SCREENSHOT] = (root / SCREENSHOT).read_bytes()
    if docker:
        files["Dockerfile"] = (root / "space" / "Dockerfile").read_bytes()
    for pkg in PACKAGES:
        base = root / pkg
        if not base.is_dir():
            raise DeployError(f"{base} is missing: deploy from a kernel-evolve checkout or installed tree")
        for p in sorted(base.rglob("*")):
            rel = p.relative_to(root)
            if p.is_file() and not SKIP_DIRS & set(rel.parts) and p.suffix not in SKIP_SUFFIXES:
                files[rel.as_posix()] = p.read_bytes()
    return files


def deploy(repo_id: str, *, token: str | None = None, endpoint: str | None = None, private: bool = False,
           docker: bool = False, hardware: str | None = None, message: str | None = None,
           root: Path = REPO_ROOT) -> str:
    """Create (or update) the Space `repo_id` with one commit; return the commit's URL."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi
    from huggingface_hub.errors import HfHubHTTPError

    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise DeployError(f"REPO_ID must look like owner/name, got {repo_id!r}")
    files = space_files(docker=docker, root=root)
    api = HfApi(endpoint=endpoint, token=token)
    try:
        api.create_repo(repo_id, repo_type="space", space_sdk="docker" if docker else "gradio", private=private,
                        exist_ok=True, **({"space_hardware": hardware} if hardware else {}))
        present = set(api.list_repo_files(repo_id, repo_type="space"))
        ops: list = [CommitOperationAdd(path_in_repo=path, path_or_fileobj=data) for path, data in files.items()]
        stale = sorted(p for p in present - set(files)
                       if p.split("/", 1)[0] in PACKAGES or (p == "Dockerfile" and not docker))
        ops += [CommitOperationDelete(path_in_repo=p) for p in stale]
        info = api.create_commit(repo_id, repo_type="space", operations=ops,
                                 commit_message=message or f"Deploy kernel-evolve Space ({len(files)} files)")
    except HfHubHTTPError as e:
        status = getattr(e.response, "status_code", None)
        hint = {401: "the token is missing or invalid: pass --token or set HF_TOKEN",
                403: "the token cannot write to this namespace: use a write token for its owner",
                404: "no such repo or namespace, or the token cannot see it"}.get(status, "")
        raise DeployError(f"deploying to {repo_id} failed ({status}): {hint or str(e).splitlines()[0]}") from None
    return info.commit_url
