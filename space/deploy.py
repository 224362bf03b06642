"""Deploying the Space: the files a Space repo needs and one `create_commit` that uploads them.

A Space runs `app.py` at its root, so the deployment is: the Space card
(`space/README.md`, whose front matter configures the Space), the
requirements, a three-line root `app.py` that calls `space.app.main()`, and
the packages the app imports (`harness`, `pipeline` with its task suite,
`hub` with its card templates, `space`). `--docker` makes a Docker Space
instead, built from `space/Dockerfile` on a CUDA devel image so `nvcc` is there
for `load_inline`. Files of ours that a new version no longer has are deleted in
the same commit; nothing else in the repo is touched.

Everything is read from where the packages are imported from, so deploying works
from an installed wheel as from a checkout: the Space's README.md, Dockerfile and
requirements.txt are package data of `space`. The screenshot the card shows
(`docs/space.png`) exists only in a checkout; from a wheel the card goes without it.
"""
from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent   # a checkout's root, or site-packages for a wheel
PACKAGES = ("harness", "pipeline", "hub", "space")
STALE_PACKAGES = PACKAGES + ("cards",)                 # folders earlier versions deployed (`cards` moved into hub/)
SKIP_DIRS = {"__pycache__", ".pytest_cache", ".ipynb_checkpoints"}
SKIP_SUFFIXES = {".pyc", ".pyo", ".so", ".o"}
SCREENSHOT = "docs/space.png"
APP_SHIM = '"""Hugging Face Space entry point: the kernel-evolve Gradio app (space/app.py)."""\n' \
           "from space.app import main\n\nmain()\n"


class DeployError(RuntimeError):
    """A deployment that cannot proceed; the message says what to do."""


class DeployHubError(DeployError):
    """The Hub refused or failed the deployment (exit code 3 by hub.exit_codes; other DeployErrors are input, 2)."""


def _front_matter(card: str) -> tuple[dict, str]:
    if not card.startswith("---\n"):
        raise DeployError("space/README.md must start with YAML front matter (---)")
    head, _, body = card[4:].partition("\n---\n")
    return yaml.safe_load(head) or {}, body


def package_dir(pkg: str, root: Path | None = None) -> Path:
    """Where a package's files are: `root/pkg` when a root is given, else where Python imports it from."""
    if root is not None:
        return root / pkg
    spec = importlib.util.find_spec(pkg)
    if spec is None or not spec.submodule_search_locations:
        raise DeployError(f"the package {pkg!r} is not importable: install kernel-evolve (a wheel or a checkout)")
    return Path(next(iter(spec.submodule_search_locations)))


def space_card(*, docker: bool = False, root: Path | None = None) -> str:
    """The Space's README.md: space/README.md, switched to `sdk: docker` for a Docker Space."""
    meta, body = _front_matter((package_dir("space", root) / "README.md").read_text())
    if docker:
        meta.pop("sdk_version", None)
        meta.pop("app_file", None)
        meta["sdk"] = "docker"
        meta["app_port"] = 7860
        meta["suggested_hardware"] = "l4x1"
    if screenshot(root) is None:   # installed from a wheel: no docs/, so no picture rather than a broken one
        body = re.sub(rf"^!\[[^\]]*\]\(\.\./{re.escape(SCREENSHOT)}\)[ \t]*\n?", "", body, flags=re.M)
    body = body.replace(f"](../{SCREENSHOT})", f"]({SCREENSHOT})")   # the screenshot sits at the Space's root
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n" + body


def screenshot(root: Path | None = None) -> Path | None:
    """docs/space.png beside the packages (a checkout), or None (a wheel has no docs/)."""
    p = package_dir("space", root).parent / SCREENSHOT
    return p if p.is_file() else None


def space_files(*, docker: bool = False, root: Path | None = None) -> dict[str, bytes]:
    """Path in the Space repo -> content, for everything the Space needs (`root`: a tree to take it from)."""
    space = package_dir("space", root)
    files: dict[str, bytes] = {
        "README.md": space_card(docker=docker, root=root).encode(),
        "requirements.txt": (space / "requirements.txt").read_bytes(),
        "app.py": APP_SHIM.encode(),
    }
    shot = screenshot(root)
    if shot is not None:
        files[SCREENSHOT] = shot.read_bytes()
    if docker:
        files["Dockerfile"] = (space / "Dockerfile").read_bytes()
    for pkg in PACKAGES:
        base = package_dir(pkg, root)
        if not base.is_dir():
            raise DeployError(f"{base} is missing: deploy from a kernel-evolve checkout or installed tree")
        for p in sorted(base.rglob("*")):
            rel = Path(pkg) / p.relative_to(base)
            if p.is_file() and not SKIP_DIRS & set(rel.parts) and p.suffix not in SKIP_SUFFIXES:
                files[rel.as_posix()] = p.read_bytes()
    return files


@dataclass(frozen=True)
class DeployPlan:
    """What a deployment would upload (`space deploy --dry-run`), computed without contacting the Hub."""

    repo_id: str
    sdk: str
    files: tuple[str, ...]
    total_bytes: int

    def describe(self) -> str:
        return (f"would deploy {len(self.files)} files ({self.total_bytes / 1e6:.1f} MB) to the {self.sdk} Space "
                f"{self.repo_id}, in one commit")


def plan(repo_id: str, *, docker: bool = False, root: Path | None = None) -> DeployPlan:
    """The files a deployment of `repo_id` would upload; checks the repo id and that every file is there."""
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise DeployError(f"REPO_ID must look like owner/name, got {repo_id!r}")
    files = space_files(docker=docker, root=root)
    return DeployPlan(repo_id, "docker" if docker else "gradio", tuple(sorted(files)),
                      sum(len(v) for v in files.values()))


def deploy(repo_id: str, *, token: str | None = None, endpoint: str | None = None, private: bool = False,
           docker: bool = False, hardware: str | None = None, message: str | None = None,
           root: Path | None = None) -> str:
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
                       if p.split("/", 1)[0] in STALE_PACKAGES or (p == "Dockerfile" and not docker))
        ops += [CommitOperationDelete(path_in_repo=p) for p in stale]
        info = api.create_commit(repo_id, repo_type="space", operations=ops,
                                 commit_message=message or f"Deploy kernel-evolve Space ({len(files)} files)")
    except HfHubHTTPError as e:
        status = getattr(e.response, "status_code", None)
        hint = {401: "the token is missing or invalid: pass --token or set HF_TOKEN",
                403: "the token cannot write to this namespace: use a write token for its owner",
                404: "no such repo or namespace, or the token cannot see it"}.get(status, "")
        raise DeployHubError(f"deploying to {repo_id} failed ({status}): {hint or str(e).splitlines()[0]}") from None
    return info.commit_url
