"""The kernel-evolve Space's handlers: run a pasted or built-in task, stop it, save its kernels, browse the archive.

`SpaceApp` holds the archive, the limits and the sign-in rules (`space.auth`);
`space.layout` lays its handlers out as a `gr.Blocks` app. **Run** checks the
task (size limit, AST only: it is never executed here), refuses up front what
cannot work (an `hf:` run without a token, a new task with the offline
operator), runs the pipeline through `space.evolution` and streams the status
line (`space.status`), the candidates and, once one is verified, the best
kernel in context. **Stop** ends the run cleanly, keeping what was verified.
**Save** appends the run's verified kernels to the archive (a signed-in user on
a Space). The **Archive** tab reads the archive once per head commit.
On a Space, `python app.py` calls `main()`.
"""
from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import gradio as gr

from harness.task import TaskError
from harness.types import Verdict
from harness.settings import settings as env_settings
from space import leaderboard as lb
from space import status as st
from space import views
from space.auth import Auth
from space.evolution import RunSettings, SessionGate, Snapshot, StagedStore, evolve
from space.intake import MAX_TASK_CHARS, InputError, TaskInput, prepare_task, redact

log = logging.getLogger(__name__)


def _store(archive: str | None) -> Any:
    from hub.archive import open_store
    return open_store(archive)


def cuda_ready() -> bool:
    """A CUDA device *and* nvcc: torch's wheels bring the runtime, but load_inline needs the compiler."""
    import shutil

    import torch
    if not torch.cuda.is_available():
        return False
    home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH") or "/usr/local/cuda"
    return bool(shutil.which("nvcc") or Path(home, "bin", "nvcc").is_file())


def _session(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "anonymous"


class SpaceApp:
    """The handlers, holding the archive, limits and sign-in rules; `blocks()` lays them out."""

    #: the outputs of `run`, in order (space.layout wires components to these names)
    RUN_OUTPUTS = ("status", "cands", "log", "kernel", "result", "verdict", "checks", "chart", "lineage", "staged",
                   "save_btn", "download", "stop_btn")

    def __init__(self, *, archive: str | None = None, backend: str = "auto", max_chars: int = MAX_TASK_CHARS,
                 max_runs: int | None = None, work_root: str | os.PathLike[str] | None = None,
                 settings: RunSettings = RunSettings(), auth: Auth | None = None, llm_base_url: str | None = None):
        self.archive = archive
        self.backend = backend
        self.max_chars = max_chars
        self.max_runs = max_runs or env_settings().space_max_runs
        self.work_root = Path(work_root or Path(tempfile.gettempdir()) / "kernel-evolve-space")
        self.defaults = settings
        self.auth = auth or Auth.from_env(llm_base_url=llm_base_url)
        self.gate = SessionGate()
        self.save_lock = threading.Lock()
        self.frames = lb.FrameCache()

    # ---- Optimize ---------------------------------------------------------------------------
    def _empty(self, status: str, running: bool = False) -> tuple:
        off = gr.update(interactive=False)
        return (status, [], "", "", "", "", [], None, "", None, off, gr.update(value=None, interactive=False),
                gr.update(interactive=running))

    def run(self, code: str, example: str | None, operator: str, generations: float, population: float,
            backend: str, size: str, request: gr.Request, oauth_token: gr.OAuthToken | None = None):
        """Stream a run: the outputs named in RUN_OUTPUTS, once per change."""
        try:
            settings = self._settings(operator, generations, population, backend, size)
            token = self.auth.llm_token(settings.operator, oauth_token)
        except InputError as e:
            yield self._empty(f"✗ {e}")
            return
        session = _session(request)
        stopper = self.gate.enter(session)
        if stopper is None:
            yield self._empty("✗ A run is already going in this browser session: wait for it, or press Stop.")
            return
        try:
            workdir = self.work_root / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
            task = prepare_task(code, workdir / "task", max_chars=self.max_chars, hint=example)
            store = StagedStore(_store(self.archive))
            if settings.operator == "tune" and not self._tunable(task, settings, store):
                yield self._empty(st.needs_llm(self.auth.space))
                return
            yield self._empty(f"▶ **Starting** · task `{task.task.task_id}` "
                              f"({'built-in' if task.builtin else 'pasted'}) · operator `{settings.operator}` · "
                              f"backend {settings.backend}", running=True)
            snaps = evolve(task.spec, settings, run_dir=workdir / "run", store=store, stopper=stopper, token=token,
                           base_url=self.auth.llm_base_url)
            yield from self._stream(snaps, settings, task, workdir, store)
        except InputError as e:
            yield self._empty(f"✗ {e}")
        except (TaskError, ValueError) as e:
            yield self._empty(f"✗ {redact(str(e))}")
        except Exception as e:  # an archive or environment failure: a message, never a traceback in the page
            log.exception("run failed")
            yield self._empty(f"✗ The run could not start ({type(e).__name__}): {redact(str(e))[:500]}")
        finally:
            self.gate.leave(session)

    def stop(self, request: gr.Request) -> None:
        """Ask this browser session's run to stop; the run's stream shows it winding down and then the result."""
        self.gate.stop(_session(request))

    def _tunable(self, task: TaskInput, settings: RunSettings, store: StagedStore) -> bool:
        """Can the offline operator start on this task? A built-in one, or a functional one the archive has a kernel
        for; a new task needs an LLM to functionalize and translate it."""
        if task.builtin:
            return True
        if not task.task.functional:
            return False
        from pipeline.starter import starting_kernels
        try:
            return bool(starting_kernels(task.task, backend=settings.backend, store=store))
        except Exception:  # an unreadable archive has no seed
            return False

    def _settings(self, operator: str, generations: float, population: float, backend: str,
                  size: str) -> RunSettings:
        from pipeline.operators import OperatorSpecError, make_operator
        operator = (operator or "tune").strip()
        if not operator.startswith("hf:"):   # hf: operators are built per run, with the user's token
            try:
                make_operator(operator)
            except OperatorSpecError as e:
                raise InputError(redact(str(e))) from None
        elif len(operator) <= 3:
            raise InputError("Name a model after `hf:`, for example `hf:Qwen/Qwen2.5-Coder-32B-Instruct`.")
        backend = backend or self.backend
        if backend == "auto":
            backend = "cuda" if cuda_ready() else "cpu"
        if backend == "cuda" and not cuda_ready():
            raise InputError("This machine has no CUDA device with nvcc: choose the cpu backend (C++ kernels).")
        if backend not in ("cpu", "cuda"):
            raise InputError(f"Unknown backend {backend!r}: choose auto, cpu or cuda.")
        if size not in ("small", "default"):
            raise InputError(f"Unknown size {size!r}: choose small or default.")
        return replace(self.defaults, operator=operator, generations=int(max(0, min(generations, 10))),
                       population=int(max(1, min(population, 8))), backend=backend, size=size)

    def _stream(self, snaps: Any, settings: RunSettings, task: TaskInput, workdir: Path, store: StagedStore):
        best_id, chart, verdict = None, None, None
        for snap in snaps:
            best = snap.best
            if best is not None and best.id != best_id:
                best_id, verdict = best.id, best.verdict
                chart = views.speedup_figure(verdict)
                if verdict.isolation_gaps:   # the host's sandbox, for the Space's operator (kept in the JSON too)
                    log.warning("sandbox gaps on this host: %s", "; ".join(verdict.isolation_gaps))
            if snap.done:
                status = st.final_line(snap, settings, space=self.auth.space)
                if best is None:
                    last = next((m for m in reversed(snap.kernels) if m.verdict is not None), None)
                    verdict = last.verdict if last else None
            else:
                status = st.running_line(snap, settings, functional=task.task.functional)
            yield self._update(snap, redact(status), verdict, chart, workdir, store)

    def _update(self, snap: Snapshot, status: str, verdict: Verdict | None, chart: Any, workdir: Path,
                store: StagedStore) -> tuple:
        best = snap.best
        file = None
        if snap.done and verdict is not None:
            file = workdir / "verdict.json"
            file.write_text(verdict.to_json(indent=2))
        staged = [r for r in store.rows if r.status == "verified"] if snap.done else None
        return (status, views.candidate_rows(snap.members), redact("\n".join(snap.log[-200:])),
                best.source if best else "", views.result_markdown(verdict) if best else "",
                redact(views.verdict_markdown(verdict)), views.check_rows(verdict), chart,
                views.lineage_markdown(snap.members, best), staged, gr.update(interactive=bool(staged)),
                gr.update(value=str(file) if file else None, interactive=file is not None),
                gr.update(interactive=not snap.done))

    def save(self, staged: list | None, oauth_token: gr.OAuthToken | None = None) -> tuple[str, Any]:
        """Append the run's verified kernels to the archive in one commit (on a Space: a confirmed signed-in user)."""
        try:   # the sign-in first: an anonymous caller learns nothing about the session's state
            user = self.auth.saver(oauth_token)
        except InputError as e:
            return f"✗ {e}", gr.update(interactive=bool(staged))
        if not staged:
            return "Nothing to save: run a task until a kernel is verified.", gr.update(interactive=False)
        by = f" by @{user}" if user else ""
        with self.save_lock:
            try:
                commit = _store(self.archive).append(staged, f"space: {len(staged)} verified kernel(s) "
                                                             f"for {staged[0].task_id}{by}")
            except Exception as e:  # the archive's own errors are actionable; keep tokens out of them
                return f"✗ Saving failed: {redact(str(e))[:500]}", gr.update(interactive=True)
        return (f"✓ Saved {len(staged)} verified kernel(s) to the archive{by}, commit `{str(commit)[:12]}`.",
                gr.update(interactive=False))

    # ---- Archive ----------------------------------------------------------------------------
    def archive_view(self, task: str, level: str, status: str, device: str, flags: str):
        """(note, level stats, level plot, leaderboard, filtered rows, level/status/device choices)."""
        df, note = self.frames.frame(_store(self.archive), self.archive or "")
        rows = lb.filter_frame(df, task=task or "", level=level or lb.ALL, status=status or lb.ALL,
                               device=device or lb.ALL, flags=flags or lb.ALL)
        where = self.archive or "the default local archive"
        head = f"{len(rows)} of {len(df)} rows · archive: `{where}`" + (f" · {note}" if note else "")
        return (head, lb.level_stats(df), lb.level_figure(df), lb.board(rows), rows,
                gr.update(choices=lb.choices(df, "level")), gr.update(choices=lb.choices(df, "status")),
                gr.update(choices=lb.choices(df, "device")))

    def details(self, rows: Any, evt: gr.SelectData):
        """Task, kernel and verdict of the clicked leaderboard row."""
        index = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        d = lb.row_details(rows, int(index)) if rows is not None else None
        if d is None:
            return "Select a row of the leaderboard.", "", "", "", []
        v = Verdict.from_json(d["verdict_json"]) if d["verdict_json"] else None
        head = f"### `{d['task_id']}` · {d['status']}" + (f"\n\nerror: `{d['error'][:300]}`" if d["error"] else "")
        return head, d["task_code"], d["kernel_code"], views.verdict_markdown(v), views.check_rows(v)

    def blocks(self) -> gr.Blocks:
        from space.layout import layout
        return layout(self)


def build_app(**kw: Any) -> gr.Blocks:
    """The Space's Blocks app; keyword arguments go to `SpaceApp`."""
    return SpaceApp(**kw).blocks()


def main() -> None:
    """Entry point on a Space: settings from the environment ($KERNEL_EVOLVE_ARCHIVE, $KERNEL_EVOLVE_BACKEND)."""
    cfg = env_settings()
    demo = build_app(archive=cfg.archive, backend=cfg.backend or "auto", llm_base_url=cfg.llm_base_url or None)
    demo.launch(server_name=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0"),
                server_port=int(os.environ.get("PORT", os.environ.get("GRADIO_SERVER_PORT", "7860"))),
                theme=gr.themes.Soft())


if __name__ == "__main__":
    main()
