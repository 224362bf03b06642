"""Push and pull: mirroring a local archive's history to a Hub dataset repo and back.

`push` replays every local commit the Hub lacks as one `create_commit` each
(same message, the files that commit added) and recreates the tags; `pull`
replays remote commits into the local git archive (same messages and dates)
and recreates the tags. Which local commit is which remote commit is kept in
`.git/kernel-evolve/remotes/`, so both are incremental and resumable. When
both sides have moved on, `pull` merges: the remote rows are appended as one
deduplicated commit. Archives only ever add files, so deletions are not replayed.
"""
from __future__ import annotations

from dataclasses import dataclass

from tqdm.auto import tqdm

from hub.hub_store import HubStore
from hub.local_store import LocalStore
from hub.schema import ArchiveError


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
    remote_head = remote.head()
    if remote_head not in set(mapping.values()):
        stray = [p for p in remote.files(remote_head) if p.startswith("data/")]
        if stray:
            raise ArchiveError(
                f"{remote.url} has data that this archive does not know; run "
                f"`kernel-evolve archive pull {remote.repo_id}` first, then push")
    pending = [c for c in local.commits_oldest_first() if c not in mapping]
    for commit in tqdm(pending, desc=f"push {remote.repo_id}", unit="commit", disable=not progress):
        files = local.changed_files(commit)
        if files:
            remote_head = remote.commit_files(local.blobs(commit, files), local.message(commit), parent=remote_head)
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
    back = {r: loc for loc, r in mapping.items()}
    done = [i for i, c in enumerate(commits) if c.commit_id in back]
    start = done[-1] + 1 if done else 0
    head = local.head()
    fresh = head is not None and not done and not mapping and not local.files_at(None, "data")
    fast_forward = head is None or fresh or (bool(done) and back[commits[done[-1]].commit_id] == head)
    if not fast_forward:
        target = commits[-1].commit_id
        rows = remote.read(target)
        before = local.summary().rows
        head = local.append(rows.data.table, f"Merge {remote.repo_id}@{target[:12]} ({rows.num_rows} rows)")
        return SyncResult(commits=0, tags=0, merged_rows=local.summary().rows - before, head=head)
    previous = remote.files(commits[start - 1].commit_id) if start else {}
    for c in tqdm(commits[start:], desc=f"pull {remote.repo_id}", unit="commit", disable=not progress):
        now = remote.files(c.commit_id)
        changed = [p for p, f in now.items() if p not in previous or _oid(previous[p]) != _oid(f)]
        files = {p: remote.download(p, c.commit_id) for p in changed}
        head = local.commit_files(files, c.message, date=c.created_at)
        mapping[head] = c.commit_id
        local.save_commit_map(remote.repo_id, mapping)
        previous = now
    back = {r: loc for loc, r in mapping.items()}
    local_tags = {r.name for r in local.refs() if r.kind == "tag"}
    made = 0
    for ref in remote.refs():
        if ref.kind == "tag" and ref.name not in local_tags and ref.commit_id in back:
            local.tag(ref.name, ref.name, revision=back[ref.commit_id])
            made += 1
    return SyncResult(commits=len(commits) - start, tags=made, head=local.head() or "")


def _oid(f) -> str:
    return f.lfs.sha256 if f.lfs else f.blob_id
