"""HubStore: a kernel archive that is a dataset repo on the Hugging Face Hub.

Writes go through `huggingface_hub.HfApi`: one `create_commit` per append (a
`CommitOperationAdd` per new shard plus the regenerated card) with
`parent_commit` set, so a concurrent writer makes the Hub answer 412 and we
re-read and retry. Tags are `create_tag`; history is `list_repo_commits` and
`list_repo_refs`. Reads go through `datasets.load_dataset(repo, revision=…)`.
Hub errors become `ArchiveError`s that say what to do.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
from typing import Any, Iterator, Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from huggingface_hub import CommitOperationAdd, HfApi, constants, get_token, hf_hub_download
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from hub.card import Summary, render_card, summarize
from hub.local_store import shard_name
from hub.schema import ARROW_SCHEMA, ArchiveError, Row, as_rows, conform, split_for_level, table_keys, validate_table
from hub.store import CommitInfo, RefInfo

_KEY_COLUMNS = ["kernel_sha256", "task_id", "device", "status", "speedup_eager", "level"]


class HubStore:
    """A kernel archive in the Hub dataset repo `repo_id` (created on first write)."""

    def __init__(self, repo_id: str, *, token: str | None = None, endpoint: str | None = None,
                 private: bool = False, max_retries: int = 5):
        if repo_id.count("/") != 1 or not all(repo_id.split("/")):
            raise ArchiveError(f"{repo_id!r} is not a Hub repo id; use OWNER/NAME (e.g. hf://alice/kernels)")
        self.repo_id = repo_id
        self.token = token
        self.endpoint = (endpoint or constants.ENDPOINT).rstrip("/")
        self.private = private
        self.max_retries = max_retries
        self.api = HfApi(endpoint=self.endpoint, token=token)
        self._shards: dict[tuple[str, str], tuple[list, Summary]] = {}  # (path, etag) -> keys, summary

    def __repr__(self) -> str:
        return f"HubStore({self.repo_id!r}, endpoint={self.endpoint!r})"

    @property
    def url(self) -> str:
        return f"{self.endpoint}/datasets/{self.repo_id}"

    # ---- errors ---------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _errors(self, revision: str | None = None) -> Iterator[None]:
        try:
            yield
        except RevisionNotFoundError:
            raise ArchiveError(
                f"no revision {revision!r} in {self.url}; list them with "
                f"`kernel-evolve archive tags --archive hf://{self.repo_id}`") from None
        except GatedRepoError:
            raise ArchiveError(f"{self.url} is gated: request access on its page, then use a token of that account") from None
        except RepositoryNotFoundError:
            raise ArchiveError(
                f"cannot read {self.url}: it does not exist, or it is private/gated and no token with access was given "
                "(run `hf auth login` or set HF_TOKEN)") from None
        except HfHubHTTPError as e:
            code = e.response.status_code if e.response is not None else None
            if code == 401:
                raise ArchiveError(f"the Hub rejected the token for {self.url}: run `hf auth login` again "
                                   "or set HF_TOKEN to a valid token") from None
            if code == 403:
                raise ArchiveError(f"your token may not write to {self.url}: use a token with write access "
                                   "to that namespace") from None
            raise ArchiveError(f"the Hub answered {code} for {self.url}: {e}") from None
        except LocalEntryNotFoundError as e:
            raise ArchiveError(f"cannot reach {self.endpoint} (offline?): {e}") from None
        except OSError as e:
            if "connect" in str(e).lower() or type(e).__name__.endswith("ConnectError"):
                raise ArchiveError(f"cannot reach {self.endpoint}: {e}") from None
            raise

    def _write_token(self) -> str:
        token = self.token or get_token()
        if not token:
            raise ArchiveError(
                f"writing to {self.url} needs a Hugging Face token with write access: "
                "run `hf auth login` or set HF_TOKEN")
        return token

    # ---- history --------------------------------------------------------------------------------
    def ensure(self) -> None:
        """Create the dataset repo if it does not exist yet."""
        token = self._write_token()
        with self._errors():
            self.api.create_repo(self.repo_id, repo_type="dataset", exist_ok=True, private=self.private, token=token)

    def head(self, revision: str | None = None) -> str:
        with self._errors(revision):
            return self.api.repo_info(self.repo_id, repo_type="dataset", revision=revision).sha

    def log(self, revision: str | None = None) -> list[CommitInfo]:
        with self._errors(revision):
            items = self.api.list_repo_commits(self.repo_id, repo_type="dataset", revision=revision)
        return [CommitInfo(commit_id=c.commit_id, created_at=c.created_at.isoformat(),
                           message=(c.title + ("\n\n" + c.message if c.message else "")).strip()) for c in items]

    def refs(self) -> list[RefInfo]:
        with self._errors():
            r = self.api.list_repo_refs(self.repo_id, repo_type="dataset")
        return [RefInfo(b.name, "branch", b.target_commit) for b in r.branches] + \
               [RefInfo(t.name, "tag", t.target_commit) for t in r.tags]

    def tag(self, name: str, message: str = "", revision: str | None = None) -> None:
        token = self._write_token()
        if name in {r.name for r in self.refs() if r.kind == "tag"}:
            raise ArchiveError(f"the tag {name!r} already exists on {self.url}; tags are releases and are never moved")
        with self._errors(revision):
            self.api.create_tag(self.repo_id, tag=name, tag_message=message or name, revision=revision,
                                repo_type="dataset", token=token)

    def files(self, revision: str | None = None) -> dict[str, Any]:
        """path -> RepoFile at a revision."""
        with self._errors(revision):
            return {f.path: f for f in self.api.list_repo_tree(self.repo_id, repo_type="dataset", revision=revision,
                                                                recursive=True) if hasattr(f, "blob_id")}

    def download(self, path: str, revision: str) -> bytes:
        with self._errors(revision):
            local = hf_hub_download(self.repo_id, path, repo_type="dataset", revision=revision,
                                    endpoint=self.endpoint, token=self.token)
        with open(local, "rb") as fh:
            return fh.read()

    # ---- writing --------------------------------------------------------------------------------
    def _stored(self, head: str) -> tuple[set, Summary]:
        """Dedup keys and statistics of the shards at `head` (each shard read once per process)."""
        keys: set = set()
        summary = Summary()
        for path, f in self.files(head).items():
            if not (path.startswith("data/") and path.endswith(".parquet")):
                continue
            ck = (path, f.lfs.sha256 if f.lfs else f.blob_id)
            if ck not in self._shards:
                t = pq.read_table(io.BytesIO(self.download(path, head)), columns=_KEY_COLUMNS)
                self._shards[ck] = ([tuple(k) for k in table_keys(t)], summarize(t, path.split("/")[1]))
            k, s = self._shards[ck]
            keys.update(k)
            summary.merge(Summary.from_json(s.to_json()))
        return keys, summary

    def append(self, rows: Sequence[Row] | pa.Table, message: str) -> str:
        table = as_rows(rows)
        validate_table(table)
        if not message.strip():
            raise ArchiveError("an append needs a commit message")
        token = self._write_token()
        self.ensure()
        for _attempt in range(self.max_retries):
            head = self.head()
            seen, summary = self._stored(head)
            keep = []
            for i, k in enumerate(table_keys(table)):
                if k not in seen:
                    seen.add(k)
                    keep.append(i)
            if not keep:
                return head
            new = table.take(pa.array(keep, pa.int64()))
            ops, name, mine = [], shard_name(), {}
            for level in sorted(set(new.column("level").to_pylist()), key=lambda v: (v is None, v)):
                col = new.column("level")
                part = new.filter(pc.is_null(col) if level is None else pc.equal(col, level))
                split = split_for_level(level)
                buf = io.BytesIO()
                pq.write_table(part, buf, compression="zstd")
                ops.append(CommitOperationAdd(f"data/{split}/{name}", buf.getvalue()))
                part_summary = summarize(part, split)
                summary.merge(part_summary)
                mine[(ops[-1].path_in_repo, hashlib.sha256(buf.getvalue()).hexdigest())] = (
                    [tuple(k) for k in table_keys(part)], part_summary)
            card = render_card(summary, repo_id=self.repo_id)
            ops.append(CommitOperationAdd("README.md", card.encode()))
            title, _, body = message.strip().partition("\n")
            try:
                with self._errors():
                    info = self.api.create_commit(
                        self.repo_id, operations=ops, commit_message=title, commit_description=body.strip(),
                        repo_type="dataset", parent_commit=head, token=token)
                self._shards.update(mine)  # our own shards need no download on the next append
                return info.oid
            except ArchiveError as e:
                if "answered 412" in str(e):
                    continue  # someone committed since we read `head`: re-read, dedup again, retry
                raise
        raise ArchiveError(f"{self.url} kept changing under us ({self.max_retries} conflicting commits); retry later")

    def commit_files(self, files: dict[str, bytes], message: str, *, parent: str | None = None) -> str:
        """One commit of given files (used by `push` to replay a local commit)."""
        token = self._write_token()
        title, _, body = message.strip().partition("\n")
        ops = [CommitOperationAdd(p, data) for p, data in sorted(files.items())]
        with self._errors():
            return self.api.create_commit(self.repo_id, operations=ops, commit_message=title or "update",
                                          commit_description=body.strip(), repo_type="dataset",
                                          parent_commit=parent, token=token).oid

    # ---- reading --------------------------------------------------------------------------------
    def read(self, revision: str | None = None, split: str | None = None):
        """Rows at a revision via `datasets.load_dataset` (one split, or all of them concatenated)."""
        import datasets

        from hub.schema import FEATURES

        if self.endpoint != constants.ENDPOINT.rstrip("/"):
            raise ArchiveError(f"datasets reads from HF_ENDPOINT={constants.ENDPOINT}; set HF_ENDPOINT={self.endpoint} "
                               "before starting Python instead of passing endpoint=")
        commit = self.head(revision)  # clear errors for a missing repo or revision before datasets runs
        parquet = [p for p in self.files(commit) if p.startswith("data/") and p.endswith(".parquet")]
        if split is not None:
            parquet = [p for p in parquet if p.split("/")[1] == split]
        if not parquet:
            return datasets.Dataset(ARROW_SCHEMA.empty_table(), info=datasets.DatasetInfo(features=FEATURES))
        with self._errors(revision):
            loaded = datasets.load_dataset(self.repo_id, revision=commit, split=split, token=self.token)
        parts = [loaded] if split is not None else [loaded[s] for s in sorted(loaded)]
        table = pa.concat_tables([conform(p.data.table) for p in parts])
        return datasets.Dataset(table, info=datasets.DatasetInfo(features=FEATURES))
