"""Push and pull: mirroring a local archive's history to a Hub dataset repo and back.

`push` replays every local commit the Hub lacks as one `create_commit` each
(same message, the files that commit added) and recreates the tags; `pull`
replays remote commits into the local git archive (same messages and dates)
and recreates the tags. Which local commit is which remote commit is kept in
`.git/kernel-evolve/remotes/`, so both are incremental and resumable. When
both sides have moved on, `pull` merges: the remote rows are appended as one
deduplicated commit, remembered as a merge of that remote commit, so the next
`push` replays only the local commits the remote lacks (never the merged rows,
which the remote already has) and then maps the merge to the remote's new head.
Appends only add files; a compaction also removes shards, and both directions
replay those removals.
"""
from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq

from tqdm.auto import tqdm

from hub.hub_store import HubStore, content_id
from hub.local_store import LocalStore
from hub.schema import KEY_COLUMNS, ArchiveError, table_keys
from hub.shards import card_after, encode, is_shard, split_of_path


@dataclass(frozen=True)
class SyncResult:
    commits: int          # commits replayed
    tags: int             # tags created
    merged_rows: int = 0  # rows appended by a merge commit (pull only)
    head: str = ""        # the destination's head afterwards


def push(local: LocalStore, remote: HubStore, *, tag: str | None = None, progress: bool = True) -> SyncResult:
    """Mirror local commits and tags to the Hub repo (created if missing)."""
    if local.head() is None:
        raise ArchiveError(f"the archive {local.path} has no commits to push")
    if tag and tag not in {r.name for r in local.refs() if r.kind == "tag"}:
        local.tag(tag, f"release {tag}")
    remote.ensure()
    mapping = local.commit_map(remote.repo_id)
    merges = local.commit_map(remote.repo_id, "merges")
    remote_head = remote.head()
    if remote_head not in set(mapping.values()) | set(merges.values()):
        stray = [p for p in remote.files(remote_head) if p.startswith("data/")]
        if stray:
            raise ArchiveError(
                f"{remote.url} has data that this archive does not know; run "
                f"`kernel-evolve archive pull {remote.repo_id}` first, then push")
    pending = [c for c in local.commits_oldest_first() if c not in mapping]
    for commit in tqdm(pending, desc=f"push {remote.repo_id}", unit="commit", disable=not progress):
        if commit in merges:
            # a merge brought in rows of merges[commit], which the remote holds: after the commits replayed before
            # it, the remote head holds exactly this commit's rows, so nothing is uploaded
            mapping[commit] = remote_head
            local.save_commit_map(remote.repo_id, mapping)
            continue
        files, gone = local.changed_files(commit), local.deleted_files(commit)
        if files or gone:
            # rows the remote keeps after this commit's removals (a compaction re-adds the rows it removes)
            blobs = _unseen(local.blobs(commit, files), remote.stored_keys(remote_head, excluding=gone))
            if any(is_shard(p) for p in [*files, *gone]) or "README.md" in blobs:
                # the card this commit carries counts the local rows; the remote's may differ (after a merge)
                base = blobs["README.md"].decode() if "README.md" in blobs else remote.card_text(remote_head)
                blobs["README.md"] = card_after(base, remote.shard_summaries(remote_head), blobs, gone,
                                                repo_id=remote.repo_id).encode()
            remote_head = remote.commit_files(blobs, local.message(commit), parent=remote_head, deletions=gone)
        mapping[commit] = remote_head
        local.save_commit_map(remote.repo_id, mapping)  # after each commit, so a broken push resumes
    remote_tags = {r.name for r in remote.refs() if r.kind == "tag"}
    made = 0
    for ref in local.refs():
        if ref.kind == "tag" and ref.name not in remote_tags and ref.commit_id in mapping:
            remote.tag(ref.name, local.tag_message(ref.name), revision=mapping[ref.commit_id])
            made += 1
    return SyncResult(commits=len(pending), tags=made, head=remote_head)


def pull(remote: HubStore, local: LocalStore, *, revision: str | None = None, progress: bool = True) -> SyncResult:
    """Bring the Hub repo's history (up to `revision`) into the local archive."""
    commits = list(reversed(remote.log(revision)))  # oldest first
    if not local.exists():
        local.init(initial_commit=False)
    mapping = local.commit_map(remote.repo_id)
    merges = local.commit_map(remote.repo_id, "merges")
    back = _back(local, mapping, merges)
    done = [i for i, c in enumerate(commits) if c.commit_id in back]
    start = done[-1] + 1 if done else 0
    head = local.head()
    fresh = head is not None and not done and not mapping and not local.files_at(None, "data")
    fast_forward = head is None or fresh or (bool(done) and back[commits[done[-1]].commit_id] == head)
    if not fast_forward:
        target = commits[-1].commit_id
        rows = remote.read(target)
        before = local.summary().rows
        message = f"Merge {remote.repo_id}@{target[:12]} ({rows.num_rows} rows)"
        merged = local.append(rows.data.table, message)
        # a commit of its own even when every remote row was known, so the merge never marks a commit of ours
        head = merged if merged != head else local.commit_files({}, message + ": nothing new")
        merges[head] = target   # head now holds every row of `target`; see push
        local.save_commit_map(remote.repo_id, merges, "merges")
        return SyncResult(commits=0, tags=0, merged_rows=local.summary().rows - before, head=head)
    previous = remote.files(commits[start - 1].commit_id) if start else {}
    for c in tqdm(commits[start:], desc=f"pull {remote.repo_id}", unit="commit", disable=not progress):
        now = remote.files(c.commit_id)
        changed = [p for p, f in now.items() if p not in previous or content_id(previous[p]) != content_id(f)]
        files = {p: remote.download(p, c.commit_id) for p in changed}
        gone = [p for p in previous if p not in now]
        if any(is_shard(p) for p in [*files, *gone]) or "README.md" in files:
            base = files["README.md"].decode() if "README.md" in files else local.card_text()
            files["README.md"] = card_after(base, local.shard_summaries(), files, gone).encode()
        head = local.commit_files(files, c.message, date=c.created_at, deletions=gone)
        mapping[head] = c.commit_id
        local.save_commit_map(remote.repo_id, mapping)
        previous = now
    back = _back(local, mapping, merges)
    local_tags = {r.name for r in local.refs() if r.kind == "tag"}
    made = 0
    for ref in remote.refs():
        if ref.kind == "tag" and ref.name not in local_tags and ref.commit_id in back:
            local.tag(ref.name, ref.name, revision=back[ref.commit_id])
            made += 1
    return SyncResult(commits=len(commits) - start, tags=made, head=local.head() or "")


def _unseen(blobs: dict[str, bytes], known: set) -> dict[str, bytes]:
    """The files of a commit to replay, less the rows the remote already holds (possible only after a merge)."""
    out = dict(blobs)
    for path, data in blobs.items():
        if not is_shard(path):
            continue
        keys = table_keys(pq.read_table(pa.BufferReader(data), columns=list(KEY_COLUMNS)))
        keep = [i for i, k in enumerate(keys) if k not in known]
        if len(keep) == len(keys):
            continue
        if keep:
            table = pq.read_table(pa.BufferReader(data)).take(pa.array(keep, pa.int64()))
            out[path] = encode(table, split_of_path(path), path.rsplit("/", 1)[-1]).data
        else:
            del out[path]
    return out


def _back(local: LocalStore, mapping: dict[str, str], merges: dict[str, str]) -> dict[str, str]:
    """remote commit -> the newest local commit that holds its rows (merges included)."""
    order = {c: i for i, c in enumerate(local.commits_oldest_first())}
    back: dict[str, str] = {}
    for loc, r in [*mapping.items(), *merges.items()]:
        if loc in order and (r not in back or order[loc] > order[back[r]]):
            back[r] = loc
    return back
