"""HubStore: a kernel archive that is a dataset repo on the Hugging Face Hub.

Writes go through `huggingface_hub.HfApi`: one `create_commit` per append (a
`CommitOperationAdd` per new shard plus the regenerated card) with
`parent_commit` set, so a concurrent writer makes the Hub answer 412 (or 409)
and we re-read, dedup again and retry after a jittered backoff (`hub.retry`).
Dedup keys and statistics of stored shards are read with column projection:
`HfFileSystem` range reads of the parquet footer and the key columns only,
never whole shards. The card is the head's README.md updated in place
(`hub.card.update_card`). Tags are `create_tag`; history is
`list_repo_commits` and `list_repo_refs`. Reads go through
`datasets.load_dataset(repo, revision=…)`. Hub errors become `ArchiveError`s
that say what to do.
"""
from __future__ import annotations

import contextlib
import io
import random
import time
from typing import Any, Callable, Iterator, Sequence

import pyarrow as pa
import pyarrow.parquet as pq
from huggingface_hub import (
    CommitOperationAdd,
    CommitOperationDelete,
    HfApi,
    HfFileSystem,
    constants,
    get_token,
    hf_hub_download,
)
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from hub.card import SUMMARY_COLUMNS, Summary, summarize, update_card
from hub.retry import Backoff, retry_on_conflict, status_of
from hub.schema import ARROW_SCHEMA, ArchiveError, Row, as_rows, conform, table_keys, validate_table
from hub.shards import Shard, encode_splits, is_shard, nbytes_of, split_of_path, summarize_blob
from hub.store import CommitInfo, RefInfo

#: range-read block for projected shard reads: the footer and the key columns, not the kernel code
PROJECTION_BLOCK = 16 * 1024


class HubStore:
    """A kernel archive in the Hub dataset repo `repo_id` (created on first write)."""

    def __init__(self, repo_id: str, *, token: str | None = None, endpoint: str | None = None,
                 private: bool = False, backoff: Backoff = Backoff(),
                 sleep: Callable[[float], None] = time.sleep, rng: random.Random | None = None):
        if repo_id.count("/") != 1 or not all(repo_id.split("/")):
            raise ArchiveError(f"{repo_id!r} is not a Hub repo id; use OWNER/NAME (e.g. hf://alice/kernels)")
        self.repo_id = repo_id
        self.token = token
        self.endpoint = (endpoint or constants.ENDPOINT).rstrip("/")
        self.private = private
        self.backoff, self._sleep, self._rng = backoff, sleep, rng or random.Random()
        self.api = HfApi(endpoint=self.endpoint, token=token)
        self._shards: dict[tuple[str, str], tuple[list, Summary]] = {}  # (path, content id) -> keys, summary

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
            code = status_of(e)
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
            try:
                self.api.create_tag(self.repo_id, tag=name, tag_message=message or name, revision=revision,
                                    repo_type="dataset", token=token)
            except HfHubHTTPError as e:
                if status_of(e) != 409:
                    raise
                # another writer made the same tag between our check and our call
                raise ArchiveError(f"the tag {name!r} already exists on {self.url}; tags are releases and are "
                                   "never moved") from None

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
    def read_columns(self, path: str, revision: str, columns: Sequence[str]) -> tuple[pa.Table, int]:
        """Some columns of a shard, by range reads through `HfFileSystem` (footer + those column chunks only)."""
        fs = HfFileSystem(endpoint=self.endpoint, token=self.token)
        with self._errors(revision), fs.open(f"datasets/{self.repo_id}@{revision}/{path}", "rb",
                                             block_size=PROJECTION_BLOCK) as fh:
            pf = pq.ParquetFile(fh)
            return pf.read(columns=list(columns)), nbytes_of(pf)

    def _stored(self, head: str) -> dict[str, tuple[list, Summary]]:
        """shard path -> (dedup keys, statistics) at `head`; each shard's key columns are read once per process."""
        out = {}
        for path, f in self.files(head).items():
            if not is_shard(path):
                continue
            ck = (path, content_id(f))
            if ck not in self._shards:
                t, nbytes = self.read_columns(path, head, SUMMARY_COLUMNS)
                self._shards[ck] = ([tuple(k) for k in table_keys(t)], summarize(t, split_of_path(path), nbytes=nbytes))
            out[path] = self._shards[ck]
        return out

    def stored_keys(self, revision: str, excluding: Sequence[str] = ()) -> set:
        """The dedup keys of every row at a revision (less the rows of the shards `excluding`)."""
        return {k for p, (keys, _) in self._stored(revision).items() if p not in excluding for k in keys}

    def shard_summaries(self, revision: str) -> dict[str, Summary]:
        """Statistics of each shard at a revision (projected reads of shards not seen before)."""
        return {p: s for p, (_, s) in self._stored(revision).items()}

    def card_text(self, revision: str) -> str | None:
        """The README.md at a revision (None when the repo has none yet)."""
        if "README.md" not in self.files(revision):
            return None
        return self.download("README.md", revision).decode("utf-8", errors="replace")

    def _commit(self, head: str, stored: dict[str, tuple[list, Summary]], shards: Sequence[Shard],
                remove: Sequence[str], message: str, token: str) -> str:
        """One create_commit on `head`: add `shards`, delete `remove`, update the card. Conflicts propagate."""
        summary = Summary()
        for path, (_, s) in stored.items():
            if path not in remove:
                summary.merge(Summary.from_json(s.to_json()))
        for sh in shards:
            summary.merge(summarize(sh.table, sh.split, nbytes=sh.nbytes))
        card = update_card(self.card_text(head), summary, repo_id=self.repo_id)
        ops: list = [CommitOperationAdd(sh.path, sh.data) for sh in shards]
        ops += [CommitOperationDelete(p) for p in remove]
        ops.append(CommitOperationAdd("README.md", card.encode()))
        title, _, body = message.strip().partition("\n")
        info = self.api.create_commit(self.repo_id, operations=ops, commit_message=title,
                                      commit_description=body.strip(), repo_type="dataset", parent_commit=head,
                                      token=token)
        for sh in shards:   # our own shards need no read on the next append
            self._shards[(sh.path, _sha256(sh.data))] = ([tuple(k) for k in table_keys(sh.table)],
                                                         summarize(sh.table, sh.split, nbytes=sh.nbytes))
        return info.oid

    def _retrying(self, attempt: Callable[[], str]) -> str:
        with self._errors():
            return retry_on_conflict(attempt, self.backoff, what=self.url, sleep=self._sleep, rng=self._rng)

    def append(self, rows: Sequence[Row] | pa.Table, message: str) -> str:
        table = as_rows(rows)
        validate_table(table)
        if not message.strip():
            raise ArchiveError("an append needs a commit message")
        token = self._write_token()
        self.ensure()

        def attempt() -> str:
            head = self.head()
            stored = self._stored(head)
            seen = {k for keys, _ in stored.values() for k in keys}
            keep = []
            for i, k in enumerate(table_keys(table)):
                if k not in seen:
                    seen.add(k)
                    keep.append(i)
            if not keep:
                return head
            shards = encode_splits(table.take(pa.array(keep, pa.int64())))
            return self._commit(head, stored, shards, (), message, token)

        return self._retrying(attempt)

    def rewrite_shards(self, plan: Callable[[str], tuple[list[Shard], list[str]]], message: str) -> str | None:
        """Replace shards in one commit (compaction): `plan(head)` says which to add and which to remove.

        Returns the commit id, or None when the plan changes nothing. A conflict re-plans on the new head.
        """
        token = self._write_token()

        def attempt() -> str:
            head = self.head()
            shards, remove = plan(head)
            if not remove:
                return ""
            return self._commit(head, self._stored(head), shards, remove, message, token)

        return self._retrying(attempt) or None

    def shard_paths(self, revision: str | None = None) -> list[str]:
        return sorted(p for p in self.files(revision) if is_shard(p))

    def read_shard(self, path: str, revision: str) -> pa.Table:
        return pq.read_table(io.BytesIO(self.download(path, revision)))

    def commit_files(self, files: dict[str, bytes], message: str, *, parent: str | None = None,
                     deletions: Sequence[str] = ()) -> str:
        """One commit of given files (used by `push` to replay a local commit, deletions included)."""
        token = self._write_token()
        title, _, body = message.strip().partition("\n")
        ops: list = [CommitOperationAdd(p, data) for p, data in sorted(files.items())]
        ops += [CommitOperationDelete(p) for p in sorted(deletions)]
        with self._errors():
            oid = self.api.create_commit(self.repo_id, operations=ops, commit_message=title or "update",
                                         commit_description=body.strip(), repo_type="dataset",
                                         parent_commit=parent, token=token).oid
        for p, data in files.items():   # what we uploaded needs no read on the next append
            if is_shard(p):
                t = pq.read_table(pa.BufferReader(data), columns=list(SUMMARY_COLUMNS))
                self._shards[(p, _sha256(data))] = ([tuple(k) for k in table_keys(t)], summarize_blob(p, data))
        return oid

    # ---- reading --------------------------------------------------------------------------------
    def read(self, revision: str | None = None, split: str | None = None):
        """Rows at a revision via `datasets.load_dataset` (one split, or all of them concatenated)."""
        import datasets

        from hub.schema import FEATURES

        if self.endpoint != constants.ENDPOINT.rstrip("/"):
            raise ArchiveError(f"datasets reads from HF_ENDPOINT={constants.ENDPOINT}; set HF_ENDPOINT={self.endpoint} "
                               "before starting Python instead of passing endpoint=")
        commit = self.head(revision)  # clear errors for a missing repo or revision before datasets runs
        parquet = [p for p in self.files(commit) if is_shard(p)]
        if split is not None:
            parquet = [p for p in parquet if p.split("/")[1] == split]
        if not parquet:
            return datasets.Dataset(ARROW_SCHEMA.empty_table(), info=datasets.DatasetInfo(features=FEATURES))
        with self._errors(revision):
            loaded = datasets.load_dataset(self.repo_id, revision=commit, split=split, token=self.token)
        parts = [loaded] if split is not None else [loaded[s] for s in sorted(loaded)]
        table = pa.concat_tables([conform(p.data.table) for p in parts])
        return datasets.Dataset(table, info=datasets.DatasetInfo(features=FEATURES))


def content_id(f: Any) -> str:
    """The content id of a listed file: its LFS sha256, else its git blob id."""
    return f.lfs.sha256 if f.lfs else f.blob_id


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()
