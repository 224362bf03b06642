"""The kernel-evolve Space: paste a PyTorch task, watch it evolve, take away a verified kernel; browse the archive.

`build_app()` makes the `gr.Blocks` app with two tabs. **Optimize** checks the
pasted task (size limit, AST only: it is never executed here), runs the
pipeline on it through `space.evolution` and streams progress; the result is
the best verified kernel, every check of its verdict, a runtime chart of eager
vs torch.compile vs kernel with its spread, and its lineage; "Save to archive"
appends the run's verified kernels. **Archive** is the configured archive as a
leaderboard. Runs are bounded by one per browser session and a global limit
through Gradio's queue. On a Space, `python app.py` calls `main()`.
"""
from __future__ import annotations

import os
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import gradio as gr

from harness.task import TaskError, builtin_tasks
from harness.types import Verdict
from space import leaderboard as lb
from space import views
from space.evolution import RunSettings, SessionGate, StagedStore, evolve
from space.intake import MAX_TASK_CHARS, InputError, builtin_source, prepare_task, redact

DEFAULT_TASK = "level1/gelu"
OPERATORS = ["tune", "hf:Qwen/Qwen2.5-Coder-32B-Instruct", "hf:deepseek-ai/DeepSeek-V3",
             "hf:meta-llama/Llama-3.3-70B-Instruct"]
ENV_MAX_RUNS = "KERNEL_EVOLVE_SPACE_MAX_RUNS"
INTRO = """# kernel-evolve
Paste a PyTorch task in [KernelBench format](https://github.com/ScalingIntelligence/KernelBench) (`class Model`,
`get_inputs()`, `get_init_inputs()`), press **Run**, and get a kernel the harness **verified**: built, run in an
isolated process, compared against the reference outside that process over several seeds and shapes, and timed
against eager PyTorch and `torch.compile` in the same run. Your code runs only inside that sandbox."""


def _store(archive: str | None) -> Any:
    from hub.store import open_store
    return open_store(archive)


def _cuda() -> bool:
    """A CUDA device *and* nvcc: torch's wheels bring the runtime, but load_inline needs the compiler."""
    import shutil

    import torch
    if not torch.cuda.is_available():
        return False
    home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH") or "/usr/local/cuda"
    return bool(shutil.which("nvcc") or Path(home, "bin", "nvcc").is_file())


class SpaceApp:
    """The handlers, holding the archive and limits; `blocks()` lays them out."""

    def __init__(self, *, archive: str | None = None, backend: str = "auto", max_chars: int = MAX_TASK_CHARS,
                 max_runs: int | None = None, work_root: str | os.PathLike[str] | None = None,
                 settings: RunSettings = RunSettings()):
        self.archive = archive
        self.backend = backend
        self.max_chars = max_chars
        self.max_runs = max_runs or int(os.environ.get(ENV_MAX_RUNS, "1"))
        self.work_root = Path(work_root or Path(tempfile.gettempdir()) / "kernel-evolve-space")
        self.defaults = settings
        self.gate = SessionGate()
        self.save_lock = threading.Lock()

    # ---- Optimize ---------------------------------------------------------------------------
    def _empty(self, status: str) -> tuple:
        return (status, [], "", "", "", [], None, "", None, gr.update(interactive=False), None)

    def run(self, code: str, operator: str, generations: float, population: float, backend: str, size: str,
            request: gr.Request):
        """Stream a run: (status, candidates, log, kernel, verdict, checks, chart, lineage, staged, save, file)."""
        try:
            settings = self._settings(operator, generations, population, backend, size)
        except InputError as e:
            yield self._empty(f"✗ {e}")
            return
        session = getattr(request, "session_hash", None) or "anonymous"
        if not self.gate.enter(session):
            yield self._empty("✗ A run is already going in this browser session; wait for it to finish.")
            return
        try:
            workdir = self.work_root / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
            try:
                task = prepare_task(code, workdir / "task", max_chars=self.max_chars)
            except InputError as e:
                yield self._empty(f"✗ {e}")
                return
            store = StagedStore(_store(self.archive))
            yield self._empty(f"▶ **starting**: task `{task.task.task_id}` "
                              f"({'built-in' if task.builtin else 'pasted'}), backend {settings.backend}")
            yield from self._stream(task.spec, settings, workdir, store)
        except (InputError, TaskError, ValueError) as e:
            yield self._empty(f"✗ {redact(str(e))}")
        except Exception as e:  # an archive or environment failure: a message, never a traceback in the page
            yield self._empty(f"✗ The run could not start ({type(e).__name__}): {redact(str(e))[:500]}")
        finally:
            self.gate.leave(session)

    def _settings(self, operator: str, generations: float, population: float, backend: str,
                  size: str) -> RunSettings:
        from dataclasses import replace

        from pipeline.operators import OperatorSpecError, make_operator
        operator = (operator or "tune").strip()
        try:
            make_operator(operator)
        except OperatorSpecError as e:
            raise InputError(redact(str(e))) from None
        backend = backend or self.backend
        if backend == "auto":
            backend = "cuda" if _cuda() else "cpu"
        if backend == "cuda" and not _cuda():
            raise InputError("This machine has no CUDA device with nvcc: choose the cpu backend (C++ kernels).")
        if backend not in ("cpu", "cuda"):
            raise InputError(f"Unknown backend {backend!r}: choose auto, cpu or cuda.")
        if size not in ("small", "default"):
            raise InputError(f"Unknown size {size!r}: choose small or default.")
        return replace(self.defaults, operator=operator, generations=int(max(0, min(generations, 10))),
                       population=int(max(1, min(population, 8))), backend=backend, size=size)

    def _stream(self, spec: str, settings: RunSettings, workdir: Path, store: StagedStore):
        best_id, chart, verdict = None, None, None
        for snap in evolve(spec, settings, run_dir=workdir / "run", store=store):
            best = snap.best
            if best is not None and best.id != best_id:
                best_id, verdict = best.id, Verdict.from_json(best.verdict_json)
                chart = views.speedup_figure(verdict)
            status = views.progress_markdown(snap.task_id, snap.stage, snap.generation, snap.members, snap.done,
                                             snap.stop_reason, redact(snap.error))
            log = "\n".join(snap.log[-200:])
            if best is None and snap.done:
                last = next((m for m in reversed(snap.kernels) if m.verdict_json), None)
                verdict = Verdict.from_json(last.verdict_json) if last else None
            file = None
            if snap.done and verdict is not None:
                file = workdir / "verdict.json"
                file.write_text(verdict.to_json(indent=2))
                file = str(file)
            staged = [r for r in store.rows if r.status == "verified"] if snap.done else None
            yield (status, views.candidate_rows(snap.members), redact(log), best.source if best else "",
                   redact(views.verdict_markdown(verdict)), views.check_rows(verdict), chart,
                   views.lineage_markdown(snap.members, best), staged,
                   gr.update(interactive=bool(staged)), file)

    def save(self, staged: list | None) -> tuple[str, Any]:
        """Append the run's verified kernels to the archive in one commit."""
        if not staged:
            return "Nothing to save: run a task until a kernel is verified.", gr.update(interactive=False)
        with self.save_lock:
            try:
                commit = _store(self.archive).append(staged, f"space: {len(staged)} verified kernel(s) "
                                                             f"for {staged[0].task_id}")
            except Exception as e:  # the archive's own errors are actionable; keep tokens out of them
                return f"✗ Saving failed: {redact(str(e))[:500]}", gr.update(interactive=True)
        return (f"✓ Saved {len(staged)} verified kernel(s) to the archive, commit `{str(commit)[:12]}`.",
                gr.update(interactive=False))

    # ---- Archive ----------------------------------------------------------------------------
    def archive_view(self, task: str, level: str, status: str, device: str, flags: str):
        """(note, level stats, level plot, leaderboard, filtered rows, level/status/device choices)."""
        df, note = lb.load_frame(_store(self.archive))
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

    # ---- layout -----------------------------------------------------------------------------
    def blocks(self) -> gr.Blocks:
        examples = builtin_tasks()
        backend_default = self.backend if self.backend in ("auto", "cpu", "cuda") else "auto"
        with gr.Blocks(title="kernel-evolve") as demo:
            gr.Markdown(INTRO)
            with gr.Tab("Optimize"):
                with gr.Row():
                    with gr.Column(scale=3):
                        example = gr.Dropdown(examples, value=DEFAULT_TASK if DEFAULT_TASK in examples else None,
                                              label="Example from the built-in suite")
                        code = gr.Code(builtin_source(DEFAULT_TASK) if DEFAULT_TASK in examples else "",
                                       language="python", lines=22, max_lines=40, interactive=True,
                                       label=f"PyTorch task (KernelBench format, at most {self.max_chars:,} chars)",
                                       elem_id="task-code")
                    with gr.Column(scale=2):
                        operator = gr.Dropdown(OPERATORS, value=self.defaults.operator, allow_custom_value=True,
                                               label="Operator (tune = offline tunable sweep; hf:MODEL = LLM)")
                        generations = gr.Slider(0, 10, value=self.defaults.generations, step=1, label="Generations",
                                                elem_id="generations")
                        population = gr.Slider(1, 8, value=self.defaults.population, step=1,
                                               label="Candidates per generation", elem_id="population")
                        backend = gr.Radio(["auto", "cpu", "cuda"], value=backend_default,
                                           label="Backend (auto = CUDA when a GPU is present)")
                        size = gr.Radio(["small", "default"], value=self.defaults.size,
                                        label="Problem size (small suits CPU)")
                        run_btn = gr.Button("Run", variant="primary", elem_id="run-btn")
                status = gr.Markdown("Ready.", elem_id="run-status")
                with gr.Accordion("Candidates and log", open=True):
                    with gr.Row():
                        cands = gr.Dataframe(headers=views.CANDIDATE_HEADERS, label="Candidates judged",
                                             interactive=False, max_height=260, scale=3)
                        log = gr.Textbox(label="Run log", lines=8, max_lines=12, interactive=False, scale=2)
                with gr.Row():
                    with gr.Column(scale=3):
                        kernel = gr.Code(language="cpp", label="Best verified kernel", lines=18, max_lines=40,
                                         interactive=False, buttons=["copy", "download"], elem_id="kernel-code")
                    with gr.Column(scale=2):
                        chart = gr.Plot(label="Runtime: eager vs torch.compile vs kernel", show_label=False,
                                        elem_id="speedup-chart")
                        with gr.Row():
                            verdict_file = gr.DownloadButton("Download verdict JSON", value=None)
                            save_btn = gr.Button("Save to archive", interactive=False, elem_id="save-btn")
                        save_msg = gr.Markdown()
                verdict_md = gr.Markdown(elem_id="verdict")
                checks = gr.Dataframe(headers=views.CHECK_HEADERS, label="Every check of the verdict",
                                      interactive=False, wrap=True, elem_id="checks")
                lineage = gr.Markdown(elem_id="lineage")
                staged = gr.State(None)
            with gr.Tab("Archive") as archive_tab:
                with gr.Row():
                    f_task = gr.Textbox(label="Task or op contains")
                    f_level = gr.Dropdown([lb.ALL], value=lb.ALL, label="Level", allow_custom_value=True)
                    f_status = gr.Dropdown([lb.ALL], value=lb.ALL, label="Status", allow_custom_value=True)
                    f_device = gr.Dropdown([lb.ALL], value=lb.ALL, label="Device", allow_custom_value=True)
                    f_flags = gr.Dropdown([lb.ALL, "none", "flagged"], value=lb.ALL, label="Flags",
                                          allow_custom_value=True)
                    refresh = gr.Button("Refresh")
                a_note = gr.Markdown()
                with gr.Row():
                    a_stats = gr.Dataframe(headers=lb.STAT_COLUMNS, label="Per level", interactive=False)
                    a_plot = gr.Plot(label="Verified speedups per level", show_label=False)
                a_board = gr.Dataframe(headers=lb.BOARD_COLUMNS, label="Leaderboard (click a row for details)",
                                       interactive=False, elem_id="leaderboard")
                a_rows = gr.State(None)
                d_head = gr.Markdown()
                with gr.Row():
                    d_task = gr.Code(language="python", label="Task", interactive=False)
                    d_kernel = gr.Code(language="cpp", label="Kernel", interactive=False, buttons=["copy", "download"],
                                       elem_id="detail-kernel")
                d_verdict = gr.Markdown()
                d_checks = gr.Dataframe(headers=views.CHECK_HEADERS, label="Checks", interactive=False, wrap=True)

            example.change(lambda t: builtin_source(t) if t else gr.skip(), example, code, api_name="example")
            run_btn.click(self.run, [code, operator, generations, population, backend, size],
                          [status, cands, log, kernel, verdict_md, checks, chart, lineage, staged, save_btn,
                           verdict_file],
                          api_name="run", concurrency_limit=self.max_runs, concurrency_id="evolve",
                          trigger_mode="once")
            save_btn.click(self.save, staged, [save_msg, save_btn], api_name="save", concurrency_limit=1)
            filters = [f_task, f_level, f_status, f_device, f_flags]
            outs = [a_note, a_stats, a_plot, a_board, a_rows, f_level, f_status, f_device]
            refresh.click(self.archive_view, filters, outs, api_name="archive")
            archive_tab.select(self.archive_view, filters, outs, api_name=False)
            f_task.submit(self.archive_view, filters, outs, api_name=False)
            for f in (f_level, f_status, f_device, f_flags):
                f.input(self.archive_view, filters, outs, api_name=False)
            a_board.select(self.details, a_rows, [d_head, d_task, d_kernel, d_verdict, d_checks], api_name=False)
        demo.queue(default_concurrency_limit=4, max_size=32)
        return demo


def build_app(**kw: Any) -> gr.Blocks:
    """The Space's Blocks app; keyword arguments go to `SpaceApp`."""
    return SpaceApp(**kw).blocks()


def main() -> None:
    """Entry point on a Space: settings from the environment ($KERNEL_EVOLVE_ARCHIVE, $KERNEL_EVOLVE_BACKEND)."""
    demo = build_app(archive=os.environ.get("KERNEL_EVOLVE_ARCHIVE"),
                     backend=os.environ.get("KERNEL_EVOLVE_BACKEND", "auto"))
    demo.launch(server_name=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0"),
                server_port=int(os.environ.get("PORT", os.environ.get("GRADIO_SERVER_PORT", "7860"))),
                theme=gr.themes.Soft())


if __name__ == "__main__":
    main()
