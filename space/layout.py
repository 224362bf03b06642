"""The Space's page: which components it shows, in what order, and which handler each one triggers.

Laid out for a 1400 px screen and a phone alike: the example, operator, Run
and Stop come before the editor (so Run is reachable on a phone without
scrolling past the code); the editor and the result sit side by side where
there is room and stack on a phone; tables span the page's width. On a Space the page offers "Sign in with Hugging Face"
(`gr.LoginButton`); handlers that spend a user's quota or write the archive
take a `gr.OAuthToken`. `DEFAULT_TASK` is the example the page opens with.
"""
from __future__ import annotations

from typing import Any, Callable, Protocol

import gradio as gr

from harness.task import builtin_tasks
from space import leaderboard as lb
from space import views
from space.intake import builtin_source



class Handlers(Protocol):
    """What the page needs of the app (`space.app.SpaceApp`): its settings and the handlers it wires."""

    RUN_OUTPUTS: tuple[str, ...]
    archive: str | None
    auth: Any
    backend: str
    defaults: Any
    max_chars: int
    max_runs: int
    run: Callable[..., Any]
    stop: Callable[..., Any]
    save: Callable[..., Any]
    details: Callable[..., Any]
    archive_view: Callable[..., Any]


#: The example the page opens with: a built-in task whose CPU format-K seed verifies and beats eager on an
#: ordinary 2-core machine (notes/seeds_cpu_table.md); change it here only.
DEFAULT_TASK = "level2/conv2d_relu_scale"
OPERATORS = ["tune", "hf:Qwen/Qwen2.5-Coder-32B-Instruct", "hf:deepseek-ai/DeepSeek-V3",
             "hf:meta-llama/Llama-3.3-70B-Instruct"]
SAKANA = "https://huggingface.co/datasets/SakanaAI/AI-CUDA-Engineer-Archive"
INTRO = """# kernel-evolve
Paste a PyTorch task in [KernelBench format](https://github.com/ScalingIntelligence/KernelBench) (`class Model`,
`get_inputs()`, `get_init_inputs()`), or keep the example, and press **Run** to get a kernel the harness **verified**:
built, run in an isolated process, compared with PyTorch outside that process over several seeds and shapes, and timed
against eager PyTorch and `torch.compile` in the same run. Your code runs only inside that sandbox.
Verified kernels can be saved to the archive dataset ({archive}), which builds on Sakana AI's
[AI CUDA Engineer archive]({sakana})."""
SIGN_IN_NOTE = ("Sign in to use an `hf:` LLM operator (its calls go to Inference Providers on **your** account) "
                "and to save kernels to the archive. The offline `tune` operator needs no sign-in.")
LOCAL_NOTE = ("Running locally: `hf:` operators and saving use this machine's Hugging Face token (`HF_TOKEN` or "
              "`hf auth login`). The offline `tune` operator needs none.")


def archive_link(archive: str | None) -> str:
    """Markdown for the configured archive: a Hub dataset link, or the local path."""
    if archive and archive.startswith("hf://"):
        repo = archive[len("hf://"):]
        return f"[{repo}](https://huggingface.co/datasets/{repo})"
    return f"`{archive}`, a local folder" if archive else "the default local archive folder"


def layout(app: Handlers) -> gr.Blocks:
    examples = builtin_tasks()
    default = DEFAULT_TASK if DEFAULT_TASK in examples else (examples[0] if examples else None)
    backend_default = app.backend if app.backend in ("auto", "cpu", "cuda") else "auto"
    d = app.defaults
    with gr.Blocks(title="kernel-evolve") as demo:
        gr.Markdown(INTRO.format(archive=archive_link(app.archive), sakana=SAKANA), elem_id="intro")
        with gr.Row():   # columns, so that on a phone the note goes under the button rather than beside it
            if app.auth.space:
                with gr.Column(scale=0, min_width=280):
                    gr.LoginButton(elem_id="login-btn")
            with gr.Column(scale=1, min_width=300):
                gr.Markdown(SIGN_IN_NOTE if app.auth.space else LOCAL_NOTE, elem_id="sign-in-note")
        with gr.Tab("Optimize"):
            with gr.Row(equal_height=True):
                example = gr.Dropdown(examples, value=default, label="Example from the built-in suite", scale=3,
                                      min_width=220, elem_id="example")
                operator = gr.Dropdown(OPERATORS, value=d.operator, allow_custom_value=True, scale=3, min_width=220,
                                       label="Operator (tune: offline; hf:MODEL: an LLM)", elem_id="operator")
                run_btn = gr.Button("Run", variant="primary", scale=1, min_width=110, elem_id="run-btn")
                stop_btn = gr.Button("Stop", variant="stop", interactive=False, scale=1, min_width=110,
                                     elem_id="stop-btn")
            status = gr.Markdown("Ready: press **Run** to evolve the example, or paste your own task first.",
                                 elem_id="run-status")
            with gr.Accordion("Settings", open=True):
                with gr.Row():
                    generations = gr.Slider(0, 10, value=d.generations, step=1, label="Generations", min_width=200,
                                            elem_id="generations")
                    population = gr.Slider(1, 8, value=d.population, step=1, label="Candidates per generation",
                                           min_width=200, elem_id="population")
                    backend = gr.Radio(["auto", "cpu", "cuda"], value=backend_default, min_width=200,
                                       label="Backend (auto: CUDA when a GPU is present)")
                    size = gr.Radio(["small", "default"], value=d.size, label="Problem size (small suits the CPU)",
                                    min_width=200)
            with gr.Row():
                with gr.Column(scale=1, min_width=340):
                    code = gr.Code(builtin_source(default) if default else "", language="python", lines=20,
                                   max_lines=30, interactive=True, elem_id="task-code",
                                   label=f"PyTorch task (KernelBench format, at most {app.max_chars:,} characters)")
                with gr.Column(scale=1, min_width=340):
                    result = gr.Markdown("_After a run: the best verified kernel's speed, in context._",
                                         elem_id="result")
                    chart = gr.Plot(label="Runtime: eager vs torch.compile vs kernel", show_label=False,
                                    elem_id="speedup-chart")
                    with gr.Row():
                        download = gr.DownloadButton("Download verdict JSON", value=None, interactive=False,
                                                     elem_id="download-btn", min_width=160)
                        save_btn = gr.Button("Save to archive", interactive=False, elem_id="save-btn", min_width=160)
                    save_msg = gr.Markdown(elem_id="save-msg")
            kernel = gr.Code(language="cpp", label="Best verified kernel", lines=14, max_lines=30, interactive=False,
                             buttons=["copy", "download"], elem_id="kernel-code")
            cands = gr.Dataframe(headers=views.CANDIDATE_HEADERS, label="Candidates judged", interactive=False,
                                 max_height=260, wrap=True, elem_id="candidates")
            with gr.Accordion("Run log", open=False):
                run_log = gr.Textbox(show_label=False, lines=8, max_lines=14, interactive=False, elem_id="run-log")
            verdict = gr.Markdown(elem_id="verdict")
            checks = gr.Dataframe(headers=views.CHECK_HEADERS, label="Every check of the verdict", interactive=False,
                                  wrap=True, elem_id="checks")
            lineage = gr.Markdown(elem_id="lineage")
            staged = gr.State(None)
        with gr.Tab("Archive") as archive_tab:
            with gr.Row():
                f_task = gr.Textbox(label="Task or op contains", min_width=200)
                f_level = gr.Dropdown([lb.ALL], value=lb.ALL, label="Level", allow_custom_value=True, min_width=120)
                f_status = gr.Dropdown([lb.ALL], value=lb.ALL, label="Status", allow_custom_value=True, min_width=140)
                f_device = gr.Dropdown([lb.ALL], value=lb.ALL, label="Device", allow_custom_value=True, min_width=140)
                f_flags = gr.Dropdown([lb.ALL, "none", "flagged"], value=lb.ALL, label="Flags",
                                      allow_custom_value=True, min_width=120)
                refresh = gr.Button("Refresh", min_width=100)
            a_note = gr.Markdown()
            with gr.Row():
                a_stats = gr.Dataframe(headers=lb.STAT_COLUMNS, label="Per level", interactive=False, min_width=320)
                a_plot = gr.Plot(label="Verified speedups per level", show_label=False, min_width=320)
            a_board = gr.Dataframe(headers=lb.BOARD_COLUMNS, label="Leaderboard (click a row for details)",
                                   interactive=False, elem_id="leaderboard")
            a_rows = gr.State(None)
            d_head = gr.Markdown()
            with gr.Row():
                d_task = gr.Code(language="python", label="Task", interactive=False, min_width=320)
                d_kernel = gr.Code(language="cpp", label="Kernel", interactive=False, buttons=["copy", "download"],
                                   elem_id="detail-kernel", min_width=320)
            d_verdict = gr.Markdown()
            d_checks = gr.Dataframe(headers=views.CHECK_HEADERS, label="Checks", interactive=False, wrap=True)

        example.change(lambda t: builtin_source(t) if t else gr.skip(), example, code, api_name="example")
        outputs = dict(status=status, cands=cands, log=run_log, kernel=kernel, result=result, verdict=verdict,
                       checks=checks, chart=chart, lineage=lineage, staged=staged, save_btn=save_btn,
                       download=download, stop_btn=stop_btn)
        run_btn.click(app.run, [code, example, operator, generations, population, backend, size],
                      [outputs[name] for name in app.RUN_OUTPUTS], api_name="run", concurrency_limit=app.max_runs,
                      concurrency_id="evolve", trigger_mode="once", show_progress="hidden")
        stop_btn.click(app.stop, None, None, api_name="stop", concurrency_limit=None)
        save_btn.click(app.save, staged, [save_msg, save_btn], api_name="save", concurrency_limit=1)
        filters = [f_task, f_level, f_status, f_device, f_flags]
        outs = [a_note, a_stats, a_plot, a_board, a_rows, f_level, f_status, f_device]
        refresh.click(app.archive_view, filters, outs, api_name="archive")
        archive_tab.select(app.archive_view, filters, outs, api_visibility="private")
        f_task.submit(app.archive_view, filters, outs, api_visibility="private")
        for f in (f_level, f_status, f_device, f_flags):
            f.input(app.archive_view, filters, outs, api_visibility="private")
        a_board.select(app.details, a_rows, [d_head, d_task, d_kernel, d_verdict, d_checks], api_visibility="private")
    demo.queue(default_concurrency_limit=4, max_size=32)
    return demo
