"""The Archive tab's data: an archive as a filterable leaderboard, per-level statistics and plots, row details.

Reads any `ArchiveStore` (local or Hub) into a pandas frame, filters it by
task, level, status, device and flags, sorts it by speedup, summarizes it per
level and draws the per-level speedup distribution. `FrameCache` keeps the
frame until the archive's head commit moves, so filtering re-reads nothing. An
archive that does not exist yet, or cannot be read, is an empty leaderboard
with a message, never a traceback.
"""
from __future__ import annotations

import threading
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

ALL = "all"
BOARD_COLUMNS = ["rank", "task_id", "op_name", "level", "status", "speedup_eager", "speedup_compile", "runtime_ms",
                 "device", "backend", "flags", "operator", "generation", "created_at", "kernel_sha256"]
STAT_COLUMNS = ["level", "kernels", "verified", "tasks", "median speedup", "best speedup", "best task"]


def load_frame(store: Any, revision: str | None = None) -> tuple[pd.DataFrame, str]:
    """All rows of the archive (at `revision`, default its head), and a note ("" when it read fine)."""
    try:
        data = store.read(revision=revision)
    except Exception as e:  # a missing or unreachable archive is an empty board
        return pd.DataFrame(columns=BOARD_COLUMNS), f"archive not readable yet ({type(e).__name__}: {str(e)[:200]})"
    if hasattr(data, "values") and not hasattr(data, "column_names"):   # a DatasetDict
        frames = [split.to_pandas() for split in data.values()]
        df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    else:
        df = data.to_pandas()
    if df.empty:
        return pd.DataFrame(columns=BOARD_COLUMNS), "the archive is empty"
    df["flags"] = df["flags"].map(lambda f: ", ".join(f) if f is not None and len(f) else "")
    return df.reset_index(drop=True), ""


def head_commit(store: Any) -> str | None:
    """The archive's head commit, or None when it has none or cannot say (then nothing is cached)."""
    try:
        head = store.head()
    except Exception:  # no commits yet, unreachable Hub: read afresh each time
        return None
    return str(head) if head else None


class FrameCache:
    """The archive's frame keyed by (archive, head commit): read once per commit, whatever the filters."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[str, str] | None = None
        self._value: tuple[pd.DataFrame, str] = (pd.DataFrame(columns=BOARD_COLUMNS), "")
        self.reads = 0

    def frame(self, store: Any, archive: str = "") -> tuple[pd.DataFrame, str]:
        head = head_commit(store)
        with self._lock:
            if head is not None and self._key == (archive, head):
                return self._value
        value = load_frame(store, revision=head)
        with self._lock:
            self.reads += 1
            if head is not None and not value[1].startswith("archive not readable"):
                self._key, self._value = (archive, head), value
        return value


def choices(df: pd.DataFrame, column: str) -> list[str]:
    vals = sorted({str(v) for v in df[column].dropna()}) if column in df and not df.empty else []
    return [ALL, *vals]


def filter_frame(df: pd.DataFrame, *, task: str = "", level: str = ALL, status: str = ALL, device: str = ALL,
                 flags: str = ALL) -> pd.DataFrame:
    """Rows matching the filters, fastest verified first. `flags`: all | none | flagged | a substring."""
    if df.empty:
        return df
    out = df
    if task.strip():
        needle = task.strip().lower()
        out = out[out["task_id"].str.lower().str.contains(needle, regex=False)
                  | out["op_name"].str.lower().str.contains(needle, regex=False)]
    if level not in (ALL, "", None):
        out = out[out["level"].astype(str) == str(level)]
    if status not in (ALL, "", None):
        out = out[out["status"] == status]
    if device not in (ALL, "", None):
        out = out[out["device"] == device]
    if flags == "none":
        out = out[out["flags"] == ""]
    elif flags == "flagged":
        out = out[out["flags"] != ""]
    elif flags not in (ALL, "", None):
        out = out[out["flags"].str.contains(flags, regex=False)]
    verified_first = (out["status"] != "verified").astype(int)
    order = out.assign(_v=verified_first, _s=out["speedup_eager"].fillna(-1.0))
    return order.sort_values(["_v", "_s"], ascending=[True, False]).drop(columns=["_v", "_s"]).reset_index(drop=True)


def board(df: pd.DataFrame) -> pd.DataFrame:
    """The leaderboard columns of filtered rows, ranked."""
    if df.empty:
        return pd.DataFrame(columns=BOARD_COLUMNS)
    out = df.reindex(columns=BOARD_COLUMNS[1:]).copy()
    out.insert(0, "rank", range(1, len(out) + 1))
    out["kernel_sha256"] = out["kernel_sha256"].astype(str).str[:12]
    for c in ("speedup_eager", "speedup_compile", "runtime_ms"):
        out[c] = out[c].astype(float).round(4)
    return out


def level_stats(df: pd.DataFrame) -> pd.DataFrame:
    """Per level: kernels, verified kernels, tasks, median and best verified speedup."""
    if df.empty:
        return pd.DataFrame(columns=STAT_COLUMNS)
    rows = []
    for level, g in df.groupby("level", sort=True):
        ok = g[g["status"] == "verified"]
        sp = ok["speedup_eager"].dropna()
        best = ok.loc[sp.idxmax()] if not sp.empty else None
        rows.append([int(level), len(g), len(ok), g["task_id"].nunique(),
                     round(float(sp.median()), 3) if not sp.empty else None,
                     round(float(sp.max()), 3) if not sp.empty else None,
                     best["task_id"] if best is not None else ""])
    return pd.DataFrame(rows, columns=STAT_COLUMNS)


def level_figure(df: pd.DataFrame) -> Figure | None:
    """Verified speedups vs eager per level: one box (and its points) per level, log scale."""
    if df.empty:
        return None
    ok = df[(df["status"] == "verified") & df["speedup_eager"].notna() & (df["speedup_eager"] > 0)]
    if ok.empty:
        return None
    levels = sorted(ok["level"].unique())
    data = [ok[ok["level"] == lv]["speedup_eager"].astype(float).tolist() for lv in levels]
    fig = Figure(figsize=(6.4, 3.4), dpi=100)
    ax = fig.subplots()
    ax.boxplot(data, showfliers=False)
    for i, ys in enumerate(data, start=1):
        ax.scatter([i] * len(ys), ys, s=14, alpha=0.7, zorder=3)
    ax.set_xticks(range(1, len(levels) + 1), [f"level {lv}\n(n={len(d)})" for lv, d in zip(levels, data)])
    ax.axhline(1.0, color="grey", linestyle="--", linewidth=1)
    ax.set_yscale("log")
    ax.set_ylabel("speedup vs eager (verified)")
    ax.set_title("Verified kernels per level", fontsize=10)
    fig.tight_layout()
    return fig


def row_details(df: pd.DataFrame, index: int) -> dict[str, Any] | None:
    """The task, kernel and verdict of the `index`-th filtered row."""
    if df is None or df.empty or not 0 <= index < len(df):
        return None
    r = df.iloc[index]
    return {"task_id": r.get("task_id", ""), "task_code": r.get("task_code", "") or "",
            "functional_code": r.get("functional_code", "") or "", "kernel_code": r.get("kernel_code", "") or "",
            "verdict_json": r.get("verdict_json", "") or "", "status": r.get("status", ""),
            "error": r.get("error", "") or ""}
