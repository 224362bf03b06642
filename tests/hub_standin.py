"""A stand-in Hugging Face Hub for tests: the routes huggingface_hub 2.4 and datasets 5.2 really call.

The real Hub is the target; it cannot be reached from the test machines, so
this server plays it on 127.0.0.1. Repos are bare git repos; LFS objects live
in a content-addressed folder and git holds their pointer files, as on the
Hub. Like the Hub, `preupload` answers `lfs` for paths matched by the repo's
`.gitattributes` (which `create_repo` writes, `*.parquet` included), for
binary samples and for files of 10 MB or more, and `regular` otherwise; the
client then goes through the LFS batch API and a PUT to the `href` we return.
Writes need a known token; private repos hide from anonymous readers.
Errors carry the `X-Error-Code` headers huggingface_hub maps to its exceptions.
A commit on a stale `parentCommit` gets 412, as on the Hub; `commit_faults`
makes the next commits answer what the Hub answers under load (409 while
another commit to the repo is in progress, 412, 5xx), for retry tests.
`served` records the bytes of every file download, ranged or whole.
"""
from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import os
import re
import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

GITATTRIBUTES = "*.parquet filter=lfs diff=lfs merge=lfs -text\n*.arrow filter=lfs diff=lfs merge=lfs -text\n" \
                "*.bin filter=lfs diff=lfs merge=lfs -text\n*.safetensors filter=lfs diff=lfs merge=lfs -text\n"
LFS_THRESHOLD = 10 * 1024 * 1024
_ENV = {"GIT_AUTHOR_NAME": "hub", "GIT_AUTHOR_EMAIL": "hub@localhost", "GIT_COMMITTER_NAME": "hub",
        "GIT_COMMITTER_EMAIL": "hub@localhost", "LC_ALL": "C", "TZ": "UTC"}
_DATE = "--date=format-local:%Y-%m-%dT%H:%M:%S.000Z"  # the Hub's date format
_REPO = r"(?P<kind>datasets|models|spaces)/(?P<repo>[\w.-]+/[\w.-]+)"


class HubError(Exception):
    def __init__(self, status: int, message: str, code: str = ""):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


class StandinHub:
    """Start with `StandinHub(root, tokens={"hf_x": "alice"}).start()`; `.endpoint` is its URL."""

    def __init__(self, root: str | os.PathLike[str], tokens: dict[str, str] | None = None):
        self.root = Path(root)
        self.tokens = tokens or {}
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str]] = []   # (method, path) of every request, for tests to inspect
        self.served: list[tuple[str, int, int]] = []  # (path, HTTP status, body bytes) of every file download
        self.commit_faults: list[int] = []            # statuses the next commits answer instead of committing
        (self.root / "lfs").mkdir(parents=True, exist_ok=True)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> "StandinHub":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # ---- storage ------------------------------------------------------------------------------
    def git(self, repo: Path, *args: str, input: bytes | None = None, env: dict | None = None) -> str:
        p = subprocess.run(["git", "--git-dir", str(repo), *args], input=input, capture_output=True,
                           env={**os.environ, **_ENV, **(env or {})})
        if p.returncode:
            raise HubError(500, p.stderr.decode(errors="replace").strip())
        return p.stdout.decode(errors="replace")

    def repo_dir(self, kind: str, repo: str) -> Path:
        return self.root / kind / f"{repo}.git"

    def meta(self, d: Path) -> dict:
        return json.loads((d / "hub.json").read_text())

    def open_repo(self, kind: str, repo: str, user: str | None, write: bool = False) -> Path:
        d = self.repo_dir(kind, repo)
        if not d.is_dir() or (self.meta(d)["private"] and self.meta(d)["owner"] != user):
            raise HubError(401 if user is None else 404, "Repository not found", "RepoNotFound")
        if write and user is None:
            raise HubError(401, "You must be authenticated to write to this repo")
        if write and self.meta(d)["owner"] != user:
            raise HubError(403, "You don't have the rights to write to this repo")
        return d

    def rev_parse(self, d: Path, rev: str) -> str:
        """The commit a branch/tag/commit names, or ""."""
        p = subprocess.run(["git", "--git-dir", str(d), "rev-parse", "--verify", "-q", f"{unquote(rev)}^{{commit}}"],
                           capture_output=True, text=True)
        return p.stdout.strip() if p.returncode == 0 else ""

    def resolve(self, d: Path, rev: str) -> str:
        commit = self.rev_parse(d, rev)
        if not commit:
            raise HubError(404, f"Invalid rev id: {unquote(rev)}", "RevisionNotFound")
        return commit

    def entries(self, d: Path, commit: str, prefix: str = "", recursive: bool = True) -> list[dict]:
        """Tree entries as the Hub's tree/paths-info routes describe them (LFS pointers resolved)."""
        args = ["ls-tree", "-l", *(["-r", "-t"] if recursive else []), commit]
        if prefix:
            args += ["--", prefix.rstrip("/") + ("/" if not recursive else "")]
        out = []
        for line in self.git(d, *args).splitlines():
            info, path = line.split("\t", 1)
            _mode, typ, oid, size = info.split()
            if prefix and not (path == prefix or path.startswith(prefix.rstrip("/") + "/")):
                continue
            if typ == "tree":
                out.append({"type": "directory", "oid": oid, "size": 0, "path": path})
                continue
            e = {"type": "file", "oid": oid, "size": int(size), "path": path}
            lfs = self.pointer(d, oid, int(size))
            if lfs:
                e["lfs"] = {"oid": lfs[0], "size": lfs[1], "pointerSize": int(size)}
                e["size"] = lfs[1]
            out.append(e)
        return out

    def pointer(self, d: Path, oid: str, size: int) -> tuple[str, int] | None:
        if size > 200:
            return None
        m = re.match(r"version https://git-lfs.github.com/spec/v1\noid sha256:([0-9a-f]{64})\nsize (\d+)\n",
                     self.git(d, "cat-file", "blob", oid))
        return (m.group(1), int(m.group(2))) if m else None

    def content(self, d: Path, commit: str, path: str) -> tuple[bytes, dict]:
        e = next((e for e in self.entries(d, commit, path) if e["path"] == path and e["type"] == "file"), None)
        if e is None:
            raise HubError(404, f"Entry not found: {path}", "EntryNotFound")
        if "lfs" in e:
            return (self.root / "lfs" / e["lfs"]["oid"]).read_bytes(), e
        return subprocess.run(["git", "--git-dir", str(d), "cat-file", "blob", e["oid"]], capture_output=True).stdout, e

    def lfs_patterns(self, d: Path, rev: str) -> list[str]:
        try:
            text = self.git(d, "show", f"{self.resolve(d, rev)}:.gitattributes")
        except HubError:
            return []
        return [ln.split()[0] for ln in text.splitlines() if "filter=lfs" in ln]

    def commit(self, d: Path, branch: str, ops: list[dict], header: dict) -> str:
        """Apply NDJSON operations on top of the branch head as one commit (CAS on the ref)."""
        with self.lock, tempfile.TemporaryDirectory() as tmp:
            ref = f"refs/heads/{branch}"
            head = self.rev_parse(d, ref)
            parent = header.get("parentCommit")
            if parent and parent != head:
                raise HubError(412, "A commit has happened since. Please refresh and try again.")
            env = {"GIT_INDEX_FILE": os.path.join(tmp, "index")}
            if head:
                self.git(d, "read-tree", head, env=env)
            for op in ops:
                key, v = op["key"], op["value"]
                if key == "file":
                    data = base64.b64decode(v["content"]) if v.get("encoding") == "base64" else v["content"].encode()
                elif key == "lfsFile":
                    obj = self.root / "lfs" / v["oid"]
                    if not obj.exists():
                        raise HubError(422, f"LFS object {v['oid']} for {v['path']} was never uploaded")
                    size = obj.stat().st_size
                    data = f"version https://git-lfs.github.com/spec/v1\noid sha256:{v['oid']}\nsize {size}\n".encode()
                elif key in ("deletedFile", "deletedFolder"):
                    gone = self.git(d, "ls-tree", "-r", "--name-only", head, "--", v["path"].rstrip("/")).split()
                    if not gone:
                        raise HubError(404, f"A file with this name doesn't exist: {v['path']}", "EntryNotFound")
                    self.git(d, "update-index", "--force-remove", "--", *gone, env={**env, "GIT_WORK_TREE": tmp})
                    continue
                else:
                    raise HubError(400, f"unknown commit operation {key!r}")
                blob = self.git(d, "hash-object", "-w", "--stdin", input=data).strip()
                self.git(d, "update-index", "--add", "--cacheinfo", f"100644,{blob},{v['path']}", env=env)
            tree = self.git(d, "write-tree", env=env).strip()
            msg = header.get("summary", "") + ("\n\n" + header["description"] if header.get("description") else "")
            new = self.git(d, "commit-tree", tree, *(["-p", head] if head else []), input=msg.encode()).strip()
            self.git(d, "update-ref", ref, new, head or "0" * 40)
            return new


_FAULTS = {
    409: "There is already a commit in progress on this repo; please retry in a moment",
    412: "A commit has happened since. Please refresh and try again.",
}


def _handler(hub: StandinHub):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet
            pass

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                out = b""
                while True:
                    n = int(self.rfile.readline().strip().split(b";")[0], 16)
                    chunk = self.rfile.read(n + 2)[:n]
                    if n == 0:
                        return out
                    out += chunk
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _send(self, status: int, body: bytes | dict | list = b"", headers: dict | None = None):
            data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
            self.send_response(status)
            hdrs = {"Content-Type": "application/json" if isinstance(body, (dict, list)) else "application/octet-stream",
                    "Content-Length": str(len(data)), **(headers or {})}
            for k, v in hdrs.items():
                self.send_header(k, v)
            self.end_headers()
            if not getattr(self, "_head", False):
                self.wfile.write(data)

        def _user(self) -> str | None:
            auth = self.headers.get("Authorization", "")
            if not auth:
                return None
            token = auth.removeprefix("Bearer ").strip()
            if token not in hub.tokens:
                raise HubError(401, "Invalid credentials in Authorization header")
            return hub.tokens[token]

        def _dispatch(self, method: str) -> None:
            url = urlsplit(self.path)
            hub.requests.append((method, url.path))
            self._head = method == "HEAD"  # HEAD is GET without a body
            want = "get" if self._head else method.lower()
            try:
                for pattern, fn in ROUTES:
                    m = re.fullmatch(pattern, url.path)
                    if m and fn.__name__.split("_")[0] == want:
                        return fn(self, m.groupdict(), parse_qs(url.query))
                raise HubError(404, f"stand-in Hub has no route {method} {url.path}")
            except HubError as e:
                hdr = {"X-Error-Message": e.message, **({"X-Error-Code": e.code} if e.code else {})}
                self._send(e.status, {"error": e.message}, hdr)

        def do_GET(self): self._dispatch("GET")  # noqa: E704
        def do_HEAD(self): self._dispatch("HEAD")  # noqa: E704
        def do_POST(self): self._dispatch("POST")  # noqa: E704
        def do_PUT(self): self._dispatch("PUT")  # noqa: E704

        # ---- routes -------------------------------------------------------------------------
        def post_create(self, g, q):
            user = self._user()
            if user is None:
                raise HubError(401, "You must be authenticated to create a repo")
            p = json.loads(self._body())
            kind = (p.get("type") or "model") + "s"
            repo = f"{p.get('organization') or user}/{p['name']}"
            d = hub.repo_dir(kind, repo)
            url = f"{hub.endpoint}/{'' if kind == 'models' else kind + '/'}{repo}"
            if d.exists():
                return self._send(409, {"error": "You already created this dataset repo", "url": url})
            d.mkdir(parents=True)
            hub.git(d, "init", "-q", "--bare", "-b", "main")
            private = p.get("private") or p.get("visibility") == "private"
            (d / "hub.json").write_text(json.dumps({"owner": user, "private": bool(private)}))
            hub.commit(d, "main", [{"key": "file", "value": {"path": ".gitattributes", "content": GITATTRIBUTES}}],
                       {"summary": "initial commit"})
            self._send(200, {"url": url, "name": repo, "id": repo})

        def post_validate(self, g, q):
            import yaml

            content = json.loads(self._body()).get("content", "")
            m = re.match(r"^---\n(.*?)\n---\n", content, re.S)
            try:
                meta = yaml.safe_load(m.group(1)) if m else {}
            except yaml.YAMLError as e:
                return self._send(400, {"errors": [{"message": f"Invalid YAML: {e}"}]})
            errors = [] if isinstance(meta, dict) or meta is None else [{"message": "metadata must be a mapping"}]
            for c in (meta or {}).get("configs", []) if not errors else []:
                if not isinstance(c, dict) or "config_name" not in c:
                    errors.append({"message": "each entry of configs needs a config_name"})
            self._send(400 if errors else 200, {"errors": errors} if errors else {"warnings": []})

        def post_preupload(self, g, q):
            d = hub.open_repo(g["kind"], g["repo"], self._user(), write=True)
            patterns = hub.lfs_patterns(d, g["rev"])
            try:
                known = {e["path"]: e for e in hub.entries(d, hub.resolve(d, g["rev"]))}
            except HubError:
                known = {}
            files = []
            for f in json.loads(self._body())["files"]:
                sample = base64.b64decode(f["sample"])
                lfs = f["size"] >= LFS_THRESHOLD or b"\x00" in sample or any(
                    fnmatch.fnmatch(f["path"], p) or fnmatch.fnmatch(f["path"].rsplit("/", 1)[-1], p) for p in patterns)
                e = known.get(f["path"])
                oid = (e["lfs"]["oid"] if "lfs" in e else e["oid"]) if e else None
                files.append({"path": f["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False,
                              "oid": oid})
            self._send(200, {"files": files, "commitOid": hub.resolve(d, g["rev"])})

        def post_batch(self, g, q):
            hub.open_repo(g["kind"] or "models", g["repo"], self._user(), write=True)
            p = json.loads(self._body())
            if p.get("operation") != "upload":
                raise HubError(400, "the stand-in Hub only serves LFS uploads; downloads go through resolve")
            objs = []
            for o in p["objects"]:
                item = {"oid": o["oid"], "size": o["size"], "authenticated": True}
                if not (hub.root / "lfs" / o["oid"]).exists():
                    item["actions"] = {
                        "upload": {"href": f"{hub.endpoint}/lfs-upload/{o['oid']}", "header": {}},
                        "verify": {"href": f"{hub.endpoint}/lfs-verify", "header": {}},
                    }
                objs.append(item)
            self._send(200, {"transfer": "basic", "objects": objs, "hash_algo": "sha256"})

        def put_lfs(self, g, q):
            data = self._body()
            if hashlib.sha256(data).hexdigest() != g["oid"]:
                raise HubError(400, "uploaded content does not match its sha256 oid")
            tmp = hub.root / "lfs" / f".{g['oid']}.tmp"
            tmp.write_bytes(data)
            os.replace(tmp, hub.root / "lfs" / g["oid"])
            self._send(200, b"")

        def post_verify(self, g, q):
            p = json.loads(self._body())
            obj = hub.root / "lfs" / p["oid"]
            if not obj.exists() or obj.stat().st_size != p["size"]:
                raise HubError(404, f"LFS object {p['oid']} not found or of the wrong size")
            self._send(200, {})

        def post_commit(self, g, q):
            d = hub.open_repo(g["kind"], g["repo"], self._user(), write=True)
            lines = [json.loads(ln) for ln in self._body().splitlines() if ln.strip()]
            if hub.commit_faults:
                status = hub.commit_faults.pop(0)
                raise HubError(status, _FAULTS.get(status, "Internal Error - We're working hard to fix this"))
            header = next((ln["value"] for ln in lines if ln["key"] == "header"), {})
            branch = unquote(g["rev"])
            if not hub.rev_parse(d, f"refs/heads/{branch}"):
                raise HubError(404, f"Invalid rev id: {branch}", "RevisionNotFound")
            oid = hub.commit(d, branch, [ln for ln in lines if ln["key"] != "header"], header)
            self._send(200, {"success": True, "commitOid": oid, "hookOutput": "", "pullRequestUrl": None,
                             "commitUrl": f"{hub.endpoint}/{g['kind']}/{g['repo']}/commit/{oid}"})

        def get_refs(self, g, q):
            d = hub.open_repo(g["kind"], g["repo"], self._user())
            out = {"branches": [], "converts": [], "tags": [], "pullRequests": []}
            fmt = "%(refname)\t%(objectname)\t%(*objectname)"
            for line in hub.git(d, "for-each-ref", f"--format={fmt}", "refs/heads", "refs/tags").splitlines():
                ref, obj, peeled = line.split("\t")
                kind = "tags" if ref.startswith("refs/tags/") else "branches"
                out[kind].append({"name": ref.split("/", 2)[2], "ref": ref, "targetCommit": peeled or obj})
            self._send(200, out)

        def post_tag(self, g, q):
            d = hub.open_repo(g["kind"], g["repo"], self._user(), write=True)
            p = json.loads(self._body())
            commit = hub.resolve(d, g["rev"])
            if hub.rev_parse(d, f"refs/tags/{p['tag']}"):
                raise HubError(409, f"Tag {p['tag']} already exists")
            hub.git(d, "tag", "-a", p["tag"], "-m", p.get("message") or p["tag"], commit)
            self._send(200, {"name": p["tag"], "ref": f"refs/tags/{p['tag']}", "targetCommit": commit})

        def get_info(self, g, q):
            d = hub.open_repo(g["kind"], g["repo"], self._user())
            commit = hub.resolve(d, g.get("rev") or "main")
            date = hub.git(d, "log", "-1", _DATE, "--format=%cd", commit).strip()
            files = [e for e in hub.entries(d, commit) if e["type"] == "file"]
            self._send(200, {
                "_id": g["repo"], "id": g["repo"], "author": g["repo"].split("/")[0], "sha": commit,
                "private": hub.meta(d)["private"], "gated": False, "disabled": False, "lastModified": date,
                "createdAt": date, "tags": [], "downloads": 0, "likes": 0,
                "siblings": [{"rfilename": e["path"], "size": e["size"]} for e in files],
            })

        def get_tree(self, g, q):
            d = hub.open_repo(g["kind"], g["repo"], self._user())
            commit = hub.resolve(d, g["rev"])
            path = unquote(g.get("path") or "").strip("/")
            items = hub.entries(d, commit, path, recursive=q.get("recursive", ["false"])[0].lower() == "true")
            if path and not items:
                raise HubError(404, f"Entry not found: {path}", "EntryNotFound")
            if q.get("recursive", ["false"])[0].lower() != "true":
                depth = path.count("/") + 1 if path else 0
                items = [e for e in items if e["path"].count("/") == depth]
            self._send(200, items)

        def post_paths(self, g, q):
            d = hub.open_repo(g["kind"], g["repo"], self._user())
            commit = hub.resolve(d, g["rev"])
            body = self._body()
            form = json.loads(body) if body.startswith(b"{") else parse_qs(body.decode())
            paths = form.get("paths", [])
            all_entries = {e["path"]: e for e in hub.entries(d, commit)}
            self._send(200, [all_entries[p.strip("/")] for p in paths if p.strip("/") in all_entries])

        def get_commits(self, g, q):
            d = hub.open_repo(g["kind"], g["repo"], self._user())
            commit = hub.resolve(d, g["rev"])
            out = []
            for rec in hub.git(d, "log", _DATE, "--format=%H%x1f%cd%x1f%an%x1f%s%x1f%b%x1e", commit).split("\x1e"):
                if rec.strip():
                    sha, date, author, title, body = rec.strip("\n").split("\x1f")
                    out.append({"id": sha, "date": date, "authors": [{"user": author}], "title": title,
                                "message": body.strip()})
            self._send(200, out)

        def get_resolve(self, g, q):
            d = hub.open_repo(g["kind"] or "models", g["repo"], self._user())
            commit = hub.resolve(d, g["rev"])
            data, e = hub.content(d, commit, unquote(g["path"]))
            etag = e["lfs"]["oid"] if "lfs" in e else e["oid"]
            hdr = {"X-Repo-Commit": commit, "ETag": f'"{etag}"', "Accept-Ranges": "bytes"}
            if "lfs" in e:
                hdr.update({"X-Linked-Etag": f'"{etag}"', "X-Linked-Size": str(len(data))})
            m = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
            if m:
                start, end = int(m.group(1)), int(m.group(2) or len(data) - 1)
                hdr["Content-Range"] = f"bytes {start}-{min(end, len(data) - 1)}/{len(data)}"
                hub.served.append((unquote(g["path"]), 206, len(data[start:end + 1])))
                return self._send(206, data[start:end + 1], hdr)
            hub.served.append((unquote(g["path"]), 200, 0 if self._head else len(data)))
            self._send(200, data, hdr)

    ROUTES = [
        (r"/api/repos/create", Handler.post_create),
        (r"/api/validate-yaml", Handler.post_validate),
        (rf"/api/{_REPO}/preupload/(?P<rev>[^/]+)", Handler.post_preupload),
        (rf"/api/{_REPO}/commit/(?P<rev>[^/]+)", Handler.post_commit),
        (rf"/api/{_REPO}/refs", Handler.get_refs),
        (rf"/api/{_REPO}/tag/(?P<rev>[^/]+)", Handler.post_tag),
        (rf"/api/{_REPO}(?:/revision/(?P<rev>[^/]+))?", Handler.get_info),
        (rf"/api/{_REPO}/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?", Handler.get_tree),
        (rf"/api/{_REPO}/paths-info/(?P<rev>[^/]+)", Handler.post_paths),
        (rf"/api/{_REPO}/commits/(?P<rev>[^/]+)", Handler.get_commits),
        (r"/(?:(?P<kind>datasets|spaces)/)?(?P<repo>[\w.-]+/[\w.-]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)",
         Handler.get_resolve),
        (r"/(?:(?P<kind>datasets|spaces)/)?(?P<repo>[\w.-]+/[\w.-]+)\.git/info/lfs/objects/batch", Handler.post_batch),
        (r"/lfs-upload/(?P<oid>[0-9a-f]{64})", Handler.put_lfs),
        (r"/lfs-verify", Handler.post_verify),
    ]
    return Handler
