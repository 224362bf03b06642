"""LocalStore: the embedded, offline archive — a git directory laid out like a Hub dataset repo.

Layout: `README.md` (the dataset card) and `data/<split>/<shard>.parquet`.
`append` writes one new shard per split to a temporary file, fsyncs it,
renames it into place, regenerates the card and commits; earlier shards are
never rewritten. Every write runs under a file lock and starts by undoing
whatever a killed writer left behind (stale git `*.lock` files, untracked shards,
a half-written card), so a kill at any moment leaves the last commit intact.
Git itself is driven through its CLI. Bookkeeping that is not part of the
dataset (the dedup/statistics index, push/pull commit maps) lives under
`.git/kernel-evolve/`, never in the commits.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Callable, Iterator, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from hub.card import SUMMARY_COLUMNS, Summary, render_card, summarize, update_card
from hub.schema import ARROW_SCHEMA, ArchiveError, Row, as_rows, conform, table_keys, validate_table
from hub.shard_index import ShardIndex
from hub.shards import Shard, by_split, encode_splits, nbytes_of
from hub.store import CommitInfo, RefInfo

_GIT_ENV = {
    "GIT_AUTHOR_NAME": "kernel-evolve", "GIT_AUTHOR_EMAIL": "kernel-evolve@localhost",
    "GIT_COMMITTER_NAME": "kernel-evolve", "GIT_COMMITTER_EMAIL": "kernel-evolve@localhost",
    "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C",
}


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalStore:
    """A kernel archive in a local git directory. Create it with `init()` or by the first `append`."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path).expanduser().resolve()
        self._meta = self.path / ".git" / "kernel-evolve"
        self._index = ShardIndex(self._meta / "index.jsonl")

    def __repr__(self) -> str:
        return f"LocalStore({str(self.path)!r})"

    # ---- git plumbing -------------------------------------------------------------------------
    def _git(self, *args: str, input: bytes | None = None, check: bool = True) -> str:
        env = {**os.environ, **_GIT_ENV}
        p = subprocess.run(["git", "-C", str(self.path), *args], input=input, capture_output=True, env=env)
        if check and p.returncode != 0:
            raise ArchiveError(f"git {args[0]} failed in {self.path}: {p.stderr.decode(errors='replace').strip()}")
        return p.stdout.decode(errors="replace")

    def exists(self) -> bool:
        return (self.path / ".git").is_dir()

    def head(self) -> str | None:
        if not self.exists():
            return None
        out = self._git("rev-parse", "--verify", "-q", "HEAD^{commit}", check=False).strip()
        return out or None

    def resolve(self, revision: str | None) -> str:
        """The commit id of a branch, tag or commit; a clear error when there is none."""
        self._require()
        rev = revision or "HEAD"
        out = self._git("rev-parse", "--verify", "-q", f"{rev}^{{commit}}", check=False).strip()
        if not out:
            if revision is None:
                raise ArchiveError(f"the archive {self.path} has no commits yet; append rows or run `archive init`")
            raise ArchiveError(
                f"no revision {revision!r} in the archive {self.path}; "
                "see `kernel-evolve archive log` and `kernel-evolve archive tags`"
            )
        return out

    def _require(self) -> None:
        if not self.exists():
            raise ArchiveError(f"{self.path} is not a kernel archive; create one with `kernel-evolve archive init`")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self._meta.mkdir(parents=True, exist_ok=True)
        with open(self._meta / "lock", "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                self._recover()
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _recover(self) -> None:
        """Undo a killed writer: we hold the lock, so nobody else is writing."""
        self._remove_stale_git_locks()
        for tmp in (self._meta / "tmp").glob("*") if (self._meta / "tmp").is_dir() else ():
            tmp.unlink(missing_ok=True)
        if self.head() is None:
            self._git("read-tree", "--empty")  # drop entries a killed first commit staged
            return
        if self._git("status", "--porcelain", "--untracked-files=all", "--", "data", "README.md").strip():
            self._git("reset", "-q", "--hard", "HEAD")
            self._git("clean", "-fdq", "--", "data")

    def _remove_stale_git_locks(self) -> None:
        """Remove the `*.lock` files a git process killed mid-write left (index, HEAD, refs, packed-refs).

        Every git write to the archive runs under our file lock, which we hold, so no git process that
        could own one of these is alive; left in place, each makes every later write fail with
        "Unable to create ... .lock: File exists". The ref a killed `git commit` had not yet moved
        keeps its old value, so the commit it was writing is simply not there.
        """
        git_dir = self.path / ".git"
        stale = [*git_dir.glob("*.lock")]
        for sub in ("refs", "logs"):
            if (git_dir / sub).is_dir():
                stale += [p for p in (git_dir / sub).rglob("*.lock") if p.is_file()]
        for lock in stale:
            lock.unlink(missing_ok=True)

    # ---- creation -----------------------------------------------------------------------------
    def init(self, *, initial_commit: bool = True) -> str | None:
        """Create the archive (idempotent); return the head commit (None for a bare start, used by `pull`)."""
        self.path.mkdir(parents=True, exist_ok=True)
        if not self.exists():
            if any(self.path.iterdir()):
                raise ArchiveError(f"{self.path} exists, is not empty and is not an archive; pick another --archive")
            self._git("init", "-q", "-b", "main")
            self._git("config", "core.fsync", "committed")
            self._git("config", "core.quotepath", "off")
        with self._locked():
            head = self.head()
            if head is not None or not initial_commit:
                return head
            return self._commit_files([("README.md", render_card(Summary()).encode())], "Initialize kernel archive")

    # ---- the dedup + statistics index ---------------------------------------------------------
    def _index_entries(self) -> dict[str, dict]:
        """shard path -> {"keys": [...], "summary": {...}} for the shards of HEAD (indexing any it lacks)."""
        entries = self._index.entries()
        head = self.head()
        tree = self._git("ls-tree", "-r", "--name-only", head, "--", "data").split() if head else []
        missing = [p for p in tree if p.endswith(".parquet") and p not in entries]
        for p, blob in self.blobs(head, missing).items():  # from git, not the folder: it may lag behind HEAD
            pf = pq.ParquetFile(pa.BufferReader(blob))
            self._index.add(p, pf.read(columns=list(SUMMARY_COLUMNS)), p.split("/")[1], nbytes_of(pf))
        return {p: entries[p] for p in tree if p in entries}

    def shard_summaries(self) -> dict[str, Summary]:
        """Statistics of each shard at HEAD."""
        return {p: Summary.from_json(e["summary"]) for p, e in self._index_entries().items()} if self.head() else {}

    def summary(self, revision: str | None = None) -> Summary:
        """Statistics of the archive at HEAD (or at a revision, read from its shards)."""
        if revision is not None:
            out = Summary()
            for split, part in by_split(self.read_table(revision)):
                out.merge(summarize(part, split))
            return out
        out = Summary()
        if self.head() is None:
            return out
        for e in self._index_entries().values():
            out.merge(Summary.from_json(e["summary"]))
        return out

    # ---- writing --------------------------------------------------------------------------------
    def _tmp_file(self, data: bytes | pa.Table, suffix: str) -> Path:
        tmpdir = self._meta / "tmp"
        tmpdir.mkdir(parents=True, exist_ok=True)
        tmp = tmpdir / (uuid.uuid4().hex + suffix)
        with open(tmp, "wb") as fh:
            if isinstance(data, pa.Table):
                pq.write_table(data, fh, compression="zstd")
            else:
                fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        return tmp

    def _write_atomic(self, dest: Path, data: bytes | pa.Table) -> None:
        tmp = self._tmp_file(data, dest.suffix)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)

    def _commit_files(self, items: Sequence[tuple[str, bytes | pa.Table]], message: str, *,
                      date: str | None = None, deletions: Sequence[str] = ()) -> str:
        """Stage fsynced temporary files straight into git's index, commit, then rename them into the tree.

        The working tree therefore never holds a file that no commit has (a reader of the folder, e.g.
        `load_dataset(path)`, sees the last commit or the one before it), and a kill before the commit
        leaves only files under .git/kernel-evolve/tmp, which the next writer removes. `deletions` (paths
        of the head's tree; only compaction and its replays remove files) leave the tree after the commit.
        """
        staged = [(rel, self._tmp_file(data, Path(rel).suffix)) for rel, data in items]
        if staged:
            blobs = self._git("hash-object", "-w", "--", *[str(t) for _, t in staged]).split()
            info = [a for (rel, _), b in zip(staged, blobs) for a in ("--cacheinfo", f"100644,{b},{rel}")]
            self._git("update-index", "--add", *info)
        if deletions:
            self._git("update-index", "--force-remove", "--", *deletions)
        env_date = {"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date} if date else {}
        p = subprocess.run(
            ["git", "-C", str(self.path), "commit", "-q", "--allow-empty", "-F", "-"],
            input=message.encode(), capture_output=True, env={**os.environ, **_GIT_ENV, **env_date},
        )
        if p.returncode != 0:
            raise ArchiveError(f"git commit failed in {self.path}: {p.stderr.decode(errors='replace').strip()}")
        for rel, tmp in staged:
            dest = self.path / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, dest)
        for rel in deletions:
            (self.path / rel).unlink(missing_ok=True)
        for parent in {(self.path / rel).parent for rel, _ in staged} | {(self.path / r).parent for r in deletions}:
            if parent.is_dir():
                _fsync_dir(parent)
        return self.resolve(None)

    def append(self, rows: Sequence[Row] | pa.Table, message: str) -> str:
        """Add the new rows as one commit (one shard per split); return the commit id (HEAD if nothing was new)."""
        table = as_rows(rows)
        validate_table(table)
        if not message.strip():
            raise ArchiveError("an append needs a commit message")
        if self.head() is None:
            self.init()
        with self._locked():
            table = self._dedup(table)
            if table.num_rows == 0:
                return self.resolve(None)
            return self._commit_table(table, message)

    def _dedup(self, table: pa.Table) -> pa.Table:
        seen = {tuple(k) for e in self._index_entries().values() for k in e["keys"]}
        keep = []
        for i, k in enumerate(table_keys(table)):
            if k not in seen:
                seen.add(k)
                keep.append(i)
        return table if len(keep) == table.num_rows else table.take(pa.array(keep, pa.int64()))

    def _commit_table(self, table: pa.Table, message: str) -> str:
        return self._commit_shards(encode_splits(table), message)

    def _commit_shards(self, shards: Sequence[Shard], message: str, *, remove: Sequence[str] = ()) -> str:
        """One commit that adds `shards`, removes the shards `remove` and updates the card in place."""
        summary = Summary()
        gone = set(remove)
        for shard, e in self._index_entries().items():
            if shard not in gone:
                summary.merge(Summary.from_json(e["summary"]))
        for sh in shards:
            summary.merge(summarize(sh.table, sh.split, nbytes=sh.nbytes))
        card = update_card(self.card_text(), summary)
        items: list[tuple[str, bytes | pa.Table]] = [(sh.path, sh.data) for sh in shards]
        head = self._commit_files(items + [("README.md", card.encode())], message, deletions=sorted(gone))
        for sh in shards:
            self._index.add(sh.path, sh.table, sh.split, sh.nbytes)
        return head

    def card_text(self, revision: str | None = None) -> str | None:
        """The README.md (dataset card) at a revision (default HEAD), or None."""
        if self.head() is None:
            return None
        commit = self.resolve(revision)
        if "README.md" not in self._git("ls-tree", "--name-only", commit, "--", "README.md").split():
            return None
        return self.blobs(commit, ["README.md"])["README.md"].decode("utf-8", errors="replace")

    def rewrite_shards(self, plan: Callable[[str], tuple[list[Shard], list[str]]], message: str) -> str | None:
        """Replace shards in one commit (compaction): `plan(head)` says which to add and which to remove."""
        self._require()
        with self._locked():
            shards, remove = plan(self.resolve(None))
            return self._commit_shards(shards, message, remove=remove) if remove else None

    def shard_paths(self, revision: str | None = None) -> list[str]:
        return sorted(p for p in self.files_at(revision, "data") if p.endswith(".parquet"))

    def read_shard(self, path: str, revision: str) -> pa.Table:
        return pq.read_table(pa.BufferReader(self.blobs(revision, [path])[path]))

    def commit_files(self, files: dict[str, bytes], message: str, *, date: str | None = None,
                     deletions: Sequence[str] = ()) -> str:
        """Commit given files verbatim (used by `pull` to replay a remote commit). Shards are never rewritten;
        `deletions` (a replayed compaction) removes files of the head commit."""
        if not self.exists():
            self.init(initial_commit=False)
        with self._locked():
            existing = set(self.files_at(None)) if self.head() else set()
            clash = sorted(p for p in set(files) & existing if p.startswith("data/"))
            if clash:
                raise ArchiveError(f"refusing to rewrite the existing shard(s) {', '.join(clash)}")
            gone = [p for p in deletions if p in existing]
            return self._commit_files(sorted(files.items()), message, date=date, deletions=gone)

    def tag(self, name: str, message: str = "", revision: str | None = None) -> None:
        self._require()
        if not name or subprocess.run(["git", "check-ref-format", f"refs/tags/{name}"]).returncode != 0:
            raise ArchiveError(f"{name!r} is not a valid tag name (no spaces, '..', '~', '^', ':' or trailing '/')")
        with self._locked():
            commit = self.resolve(revision)
            if self._git("rev-parse", "-q", "--verify", f"refs/tags/{name}", check=False).strip():
                raise ArchiveError(f"the tag {name!r} already exists; tags are releases and are never moved")
            self._git("tag", "-a", name, "-m", message or name, commit)

    # ---- reading --------------------------------------------------------------------------------
    def log(self) -> list[CommitInfo]:
        if self.head() is None:
            return []
        out = self._git("log", "--format=%H%x1f%cI%x1f%B%x1e")
        commits = []
        for rec in out.split("\x1e"):
            rec = rec.strip("\n")
            if rec:
                sha, date, msg = rec.split("\x1f", 2)
                commits.append(CommitInfo(commit_id=sha, message=msg.strip(), created_at=date))
        return commits

    def refs(self) -> list[RefInfo]:
        if not self.exists():
            return []
        out = self._git("for-each-ref", "--format=%(refname)%09%(objectname)%09%(*objectname)", "refs/heads", "refs/tags")
        refs = []
        for line in out.splitlines():
            ref, obj, peeled = (line.split("\t") + ["", ""])[:3]
            kind = "tag" if ref.startswith("refs/tags/") else "branch"
            refs.append(RefInfo(name=ref.split("/", 2)[2], kind=kind, commit_id=peeled or obj))
        return refs

    def commits_oldest_first(self) -> list[str]:
        return self._git("rev-list", "--reverse", "HEAD").split() if self.head() else []

    def message(self, commit: str) -> str:
        return self._git("log", "-1", "--format=%B", commit).strip()

    def tag_message(self, name: str) -> str:
        return self._git("for-each-ref", "--format=%(contents)", f"refs/tags/{name}").strip()

    def files_at(self, revision: str | None = None, prefix: str = "") -> list[str]:
        commit = self.resolve(revision)
        return self._git("ls-tree", "-r", "--name-only", commit, *(["--", prefix] if prefix else [])).split()

    def changed_files(self, commit: str) -> list[str]:
        """Paths a commit added or modified (relative to its first parent)."""
        return self._git("diff-tree", "--root", "--no-commit-id", "-r", "--name-only", "--diff-filter=AM", commit).split()

    def deleted_files(self, commit: str) -> list[str]:
        """Paths a commit removed (relative to its first parent): only a compaction removes shards."""
        return self._git("diff-tree", "--root", "--no-commit-id", "-r", "--name-only", "--diff-filter=D", commit).split()

    def blobs(self, commit: str, paths: Sequence[str]) -> dict[str, bytes]:
        """The contents of files at a commit, through one `git cat-file --batch`."""
        if not paths:
            return {}
        req = "".join(f"{commit}:{p}\n" for p in paths).encode()
        p = subprocess.run(["git", "-C", str(self.path), "cat-file", "--batch"], input=req, capture_output=True)
        data, pos, out = p.stdout, 0, {}
        for path in paths:
            nl = data.index(b"\n", pos)
            header = data[pos:nl].split()
            if len(header) < 3 or header[1] != b"blob":
                raise ArchiveError(f"{path} is missing at {commit[:12]} in {self.path}")
            size = int(header[2])
            out[path] = data[nl + 1: nl + 1 + size]
            pos = nl + 1 + size + 1
        return out

    def read_table(self, revision: str | None = None, split: str | None = None) -> pa.Table:
        commit = self.resolve(revision)
        paths = sorted(
            (p for p in self.files_at(commit, f"data/{split}" if split else "data") if p.endswith(".parquet")),
            key=lambda p: (p.rsplit("/", 1)[-1], p),
        )
        tables = [conform(pq.read_table(pa.BufferReader(b))) for b in self.blobs(commit, paths).values()]
        return pa.concat_tables(tables) if tables else ARROW_SCHEMA.empty_table()

    def read(self, revision: str | None = None, split: str | None = None):
        """The rows at a revision (default HEAD), optionally of one split, as a `datasets.Dataset`."""
        import datasets

        from hub.schema import FEATURES

        return datasets.Dataset(self.read_table(revision, split), info=datasets.DatasetInfo(features=FEATURES))

    # ---- push/pull bookkeeping ------------------------------------------------------------------
    def commit_map(self, remote: str, kind: str = "commits") -> dict[str, str]:
        """local commit id -> remote commit id for a Hub repo this archive was pushed to or pulled from
        (`kind="merges"`: a local merge commit -> the remote commit whose rows it merged)."""
        p = self._meta / "remotes" / (remote.replace("/", "__") + ("" if kind == "commits" else f".{kind}") + ".json")
        return json.loads(p.read_text()) if p.exists() else {}

    def save_commit_map(self, remote: str, mapping: dict[str, str], kind: str = "commits") -> None:
        name = remote.replace("/", "__") + ("" if kind == "commits" else f".{kind}") + ".json"
        self._write_atomic(self._meta / "remotes" / name, json.dumps(mapping, indent=0).encode())
