"""`kernel-evolve archive ...`: the archive's command line (a Typer app the top-level CLI mounts).

Every command takes `--archive PATH` (or `hf://owner/name` where a Hub repo
makes sense), defaulting to the one local archive at $KERNEL_EVOLVE_ARCHIVE
or ~/.cache/kernel-evolve/archive; each command prints which archive it used.
Errors print one actionable line and exit with status 3 (archive or Hub error; see
`hub.exit_codes`), never 1, which `verify` keeps for "not verified".
"""
from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Callable, Optional

import typer
from rich.console import Console
from rich.table import Table

from hub.exit_codes import ExitCode
from hub.schema import ArchiveError
from hub.archive import default_archive_path, open_store
from hub.store import ArchiveStore

app = typer.Typer(help="The kernel archive: a versioned dataset repo, local (git) or on the Hub.",
                  no_args_is_help=True, add_completion=False)
out = Console(soft_wrap=True)  # paths and ids stay on one line, whatever the terminal width
err = Console(stderr=True, soft_wrap=True)

ArchiveOpt = typer.Option(None, "--archive", "-a", help="Archive path or hf://owner/name "
                          "(default: $KERNEL_EVOLVE_ARCHIVE or ~/.cache/kernel-evolve/archive).")


def _friendly(fn: Callable) -> Callable:
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ArchiveError as e:
            err.print(f"[red]error:[/red] {e}")
            raise typer.Exit(ExitCode.ARCHIVE) from None
    return wrapper


def _open(archive: Optional[str]) -> ArchiveStore:
    store = open_store(archive)
    where = getattr(store, "path", None) or getattr(store, "url", "")
    err.print(f"archive: {where}")
    return store


def _local(archive: Optional[str]):
    from hub.local_store import LocalStore

    if archive and archive.startswith("hf://"):
        raise ArchiveError("this command needs a local --archive PATH (for push/pull the Hub repo is REPO_ID)")
    store = LocalStore(Path(archive).expanduser() if archive else default_archive_path())
    err.print(f"archive: {store.path}")
    return store


@app.command()
@_friendly
def init(archive: Optional[str] = ArchiveOpt) -> None:
    """Create an empty archive (a git repo laid out like a Hub dataset repo)."""
    store = _local(archive)
    head = store.init()
    out.print(f"ready at {store.path} (head {head[:12]})")


@app.command()
@_friendly
def log(archive: Optional[str] = ArchiveOpt, n: int = typer.Option(20, "-n", help="How many commits.")) -> None:
    """Commits, newest first."""
    commits = _open(archive).log()
    if not commits:
        out.print("no commits yet; create the archive with `kernel-evolve archive init`")
    for c in commits[:n]:
        title = c.message.splitlines()[0] if c.message else ""
        out.print(f"[yellow]{c.commit_id[:12]}[/yellow] {c.created_at}  {title}", highlight=False)


@app.command()
@_friendly
def tags(archive: Optional[str] = ArchiveOpt) -> None:
    """Tags (releases) and the commits they point at."""
    refs = [r for r in _open(archive).refs() if r.kind == "tag"]
    for r in refs:
        out.print(f"{r.name}\t{r.commit_id[:12]}", highlight=False)
    if not refs:
        out.print("no tags yet; make one with `kernel-evolve archive tag NAME -m MESSAGE`")


@app.command()
@_friendly
def stats(archive: Optional[str] = ArchiveOpt, revision: Optional[str] = typer.Option(None, "--revision")) -> None:
    """Rows, tasks, verified kernels, speedup geomean per level, devices."""
    from hub.card import Summary, summarize
    from hub.schema import split_for_level

    store = _open(archive)
    if hasattr(store, "summary"):
        s = store.summary(revision)
    else:
        t = store.read(revision).data.table
        s = Summary()
        import pyarrow.compute as pc

        for level in set(t.column("level").to_pylist()):
            s.merge(summarize(t.filter(pc.equal(t.column("level"), level)), split_for_level(level)))
    table = Table(title=f"{s.rows} rows, {len(s.tasks)} tasks, {s.verified} verified")
    for col in ("split", "rows", "verified w/ speedup", "speedup vs eager (geomean)"):
        table.add_column(col)
    geo = s.geomean_speedups()
    for split in sorted(s.splits):
        n = int(s.log_speedup.get(split, [0, 0])[1])
        table.add_row(split, str(s.splits[split]), str(n), f"{geo[split]:.3f}x" if split in geo else "n/a")
    out.print(table)
    out.print("statuses: " + (", ".join(f"{k} {v}" for k, v in sorted(s.statuses.items())) or "none"))
    out.print("devices: " + (", ".join(sorted(s.devices)) or "none"))


@app.command()
@_friendly
def tag(name: str, message: str = typer.Option("", "-m", "--message"), archive: Optional[str] = ArchiveOpt,
        revision: Optional[str] = typer.Option(None, "--revision", help="Commit to tag (default: head).")) -> None:
    """Tag a version (a release) of the archive."""
    _open(archive).tag(name, message, revision=revision)
    out.print(f"tagged {name}")


@app.command("import-sakana")
@_friendly
def import_sakana_cmd(source: str = typer.Argument(..., help="A parquet file, a folder of them, or a Hub dataset id."),
                      archive: Optional[str] = ArchiveOpt) -> None:
    """Import rows in Sakana's 19-column schema as status=unverified (claims kept in claimed_* columns)."""
    from hub.sakana import import_sakana

    added = import_sakana(_open(archive), source)
    out.print(f"imported {added} new rows (unverified); judge them with `kernel-evolve archive reverify`")


@app.command("export-sakana")
@_friendly
def export_sakana_cmd(dest: str = typer.Argument(..., metavar="OUT", help="OUT.parquet or a folder."),
                      archive: Optional[str] = ArchiveOpt, revision: Optional[str] = typer.Option(None, "--revision")
                      ) -> None:
    """Export the archive in Sakana's 19-column schema."""
    from hub.sakana import export_sakana

    for p in export_sakana(_open(archive), dest, revision=revision):
        out.print(f"wrote {p}")


@app.command()
@_friendly
def reverify(archive: Optional[str] = ArchiveOpt, limit: Optional[int] = typer.Option(None, "--limit"),
             backend: str = typer.Option("auto", "--backend", help="auto | cuda | cpu"),
             seeds: int = typer.Option(3, "--seeds"),
             size: str = typer.Option("default", "--size", help="default | small (the task's SMALL overrides)")
             ) -> None:
    """Run unverified (imported) rows through the harness and commit the verdicts."""
    from hub.reverify import reverify as run

    res = run(_open(archive), limit=limit, backend=backend, seeds=seeds, size=size)
    out.print(f"judged {res.judged}, verified {res.verified}, skipped {len(res.skipped)}; "
              f"{len(res.commits)} commit(s)")
    for task_id, reason in res.skipped[:10]:
        out.print(f"  skipped {task_id}: {reason}", highlight=False)


@app.command()
@_friendly
def compact(archive: Optional[str] = ArchiveOpt,
            tag: Optional[str] = typer.Option(None, "--tag", help="Tag for the compacted commit "
                                              "(default: compacted-<UTC time>)."),
            rows_per_shard: int = typer.Option(20_000, "--rows-per-shard", min=1, help="Rows per new shard."),
            message: Optional[str] = typer.Option(None, "-m", "--message", help="Commit message.")) -> None:
    """Rewrite many small shards into few, in one tagged commit (the same rows; older versions stay readable)."""
    from hub.compact import compact as run

    res = run(_open(archive), tag=tag, rows_per_shard=rows_per_shard, message=message)
    if res.commit is None:
        out.print(f"nothing to compact: {res.shards_before} shard(s), at most one per split")
        return
    out.print(f"compacted {res.shards_before} shards into {res.shards_after} ({res.rows} rows rewritten) "
              f"in commit {res.commit[:12]}, tagged {res.tag}")


@app.command()
@_friendly
def push(repo_id: str, archive: Optional[str] = ArchiveOpt,
         tag: Optional[str] = typer.Option(None, "--tag", help="Tag the local head with NAME first."),
         private: bool = typer.Option(False, "--private", help="Create the Hub repo as private.")) -> None:
    """Mirror the local history (commit messages and tags) to the Hub dataset REPO_ID."""
    from hub.hub_store import HubStore
    from hub.sync import push as do_push

    res = do_push(_local(archive), HubStore(repo_id.removeprefix("hf://"), private=private), tag=tag)
    out.print(f"pushed {res.commits} commit(s) and {res.tags} tag(s) to {repo_id}")


@app.command()
@_friendly
def pull(repo_id: str, archive: Optional[str] = ArchiveOpt,
         revision: Optional[str] = typer.Option(None, "--revision", help="Branch, tag or commit to pull up to.")
         ) -> None:
    """Bring the Hub dataset REPO_ID's history (commits and tags) into the local archive."""
    from hub.hub_store import HubStore
    from hub.sync import pull as do_pull

    res = do_pull(HubStore(repo_id.removeprefix("hf://")), _local(archive), revision=revision)
    if res.merged_rows:
        out.print(f"both sides had new commits: merged {res.merged_rows} new row(s) from {repo_id} as one commit")
    else:
        out.print(f"pulled {res.commits} commit(s) and {res.tags} tag(s) from {repo_id}")


if __name__ == "__main__":  # python -m hub.cli
    sys.exit(app())
