"""The Space's pieces without a browser or a compile: intake (never executes pasted code), redaction,
the leaderboard over a real LocalStore, the chart and lineage views, the per-session gate and the staged store."""
from __future__ import annotations

import dataclasses
import threading

import pytest

pytest.importorskip("matplotlib")

from harness.task import load_task  # noqa: E402
from harness.types import Check, Env, Stats, Timing, Verdict, sha256_text  # noqa: E402
from hub.local_store import LocalStore  # noqa: E402
from hub.schema import row_from_verdict  # noqa: E402
from pipeline.population import Member  # noqa: E402
from space import leaderboard as lb  # noqa: E402
from space import views  # noqa: E402
from space.evolution import SessionGate, StagedStore  # noqa: E402
from space.intake import InputError, builtin_source, check_task_text, prepare_task, redact  # noqa: E402

TASK = '''import torch
import torch.nn as nn
open({marker!r}, "w").write("executed")   # a side effect: proves whether the text ran

class Model(nn.Module):
    def forward(self, x):
        return torch.relu(x)

def get_inputs():
    return [torch.randn(8, 8)]

def get_init_inputs():
    return []
'''


def test_pasted_task_is_checked_and_written_but_never_executed(tmp_path):
    marker = tmp_path / "marker"
    text = TASK.format(marker=str(marker))
    ti = prepare_task(text, tmp_path / "work")
    assert not ti.builtin and ti.task.source == text and ti.spec.endswith(".py")
    assert load_task(ti.spec).task_id == ti.task.task_id
    assert not marker.exists(), "the app process executed pasted code"


def test_builtin_text_runs_under_its_builtin_id(tmp_path):
    text = builtin_source("level1/gelu")
    ti = prepare_task(text, tmp_path / "work")
    assert ti.builtin and ti.spec == "level1/gelu" and not (tmp_path / "work").exists()
    # what the browser's code editor hands back: no final newline; and a user's blank lines and comments
    for variant in (text.rstrip("\n"), text.rstrip() + "\n\n\n", text.replace("\n\n", "\n\n\n") + "# mine\n"):
        got = prepare_task(variant, tmp_path / "work")
        assert got.builtin and got.spec == "level1/gelu", variant[-80:]
    assert prepare_task(text.rstrip("\n"), tmp_path / "work", hint="level1/gelu").spec == "level1/gelu"
    # a change to the code itself is a new task, whatever the dropdown says
    edited = prepare_task(text.replace("* 3.0]", "* 2.0]", 1), tmp_path / "work", hint="level1/gelu")
    assert not edited.builtin and edited.task.op_name == "gelu" and edited.spec.endswith("gelu.py")
    assert not (tmp_path / "work").joinpath("marker").exists()


@pytest.mark.parametrize("text, expected", [
    ("x" * 20_001, "too long: 20,001 characters, the limit is 20,000"),
    ("class Model:\x00", "NUL byte"),
    ("def get_inputs(:\n", "syntax error at line 1"),
    ("class Model:\n    pass\n", "missing def get_inputs(), def get_init_inputs()"),
    ("   \n", "The task is empty"),
])
def test_refusals_name_the_problem(text, expected):
    with pytest.raises(InputError) as e:
        check_task_text(text)
    assert expected in str(e.value)


def test_redact_blanks_tokens(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_abcdefghijklmnopqrstuvwxyz")
    monkeypatch.setenv("MY_API_KEY", "sk-secret-value-123")
    out = redact("401 for hf_abcdefghijklmnopqrstuvwxyz and sk-secret-value-123 and hf_ZZZZZZZZZZZZZZZZZZZZ1")
    assert "hf_abc" not in out and "sk-secret" not in out and "hf_ZZZ" not in out and out.count("[redacted]") == 3


def _verdict(task, status: str, kernel: float | None, flags=()) -> Verdict:
    timing = None
    if kernel is not None:
        s = lambda m: Stats(median_ms=m, iqr_ms=m / 10, min_ms=m * 0.9, max_ms=m * 1.3, n=30)  # noqa: E731
        timing = Timing(kernel=s(kernel), eager=s(1.0), compiled=s(0.8), speedup_eager=1.0 / kernel,
                        speedup_compile=0.8 / kernel, method="perf_counter_ns")
    return Verdict(status=status, task_id=task.task_id, task_sha256=task.sha256, kernel_sha256=f"{kernel}{status}",
                   format="A", checks=(Check("compile", "pass", "built"), Check("case:seed1", "pass" if status ==
                                       "verified" else "fail", "rel error 1e-7")),
                   flags=tuple(flags), env=Env(device="cpu-x", backend="cpu", torch_version="2", cuda_version=""),
                   timing=timing)


@pytest.fixture
def archive(tmp_path):
    store = LocalStore(tmp_path / "archive")
    gelu, relu2 = load_task("level1/gelu"), load_task("level2/add_relu_mul")
    rows = [row_from_verdict(_verdict(gelu, "verified", k), task=gelu, kernel_code=f"// gelu {k}") for k in (0.5, 2.0)]
    rows.append(row_from_verdict(_verdict(gelu, "incorrect", None), task=gelu, kernel_code="// wrong"))
    rows.append(row_from_verdict(_verdict(relu2, "verified", 0.25, flags=("slow_compile",)), task=relu2,
                                 kernel_code="// fused"))
    store.append(rows, "test rows")
    return store


def test_leaderboard_filters_sorts_and_summarizes(archive):
    df, note = lb.load_frame(archive)
    assert note == "" and len(df) == 4
    rows = lb.filter_frame(df)
    assert list(rows["status"])[:3] == ["verified"] * 3 and rows["speedup_eager"].iloc[0] == pytest.approx(4.0)
    assert list(lb.filter_frame(df, task="gelu", status="verified")["speedup_eager"]) == [2.0, 0.5]
    assert len(lb.filter_frame(df, level="2")) == 1 and len(lb.filter_frame(df, flags="flagged")) == 1
    assert len(lb.filter_frame(df, flags="none")) == 3 and len(lb.filter_frame(df, device="nope")) == 0
    board = lb.board(rows)
    assert list(board["rank"]) == [1, 2, 3, 4] and list(board.columns) == lb.BOARD_COLUMNS
    stats = lb.level_stats(df).set_index("level")
    assert stats.loc[1, "kernels"] == 3 and stats.loc[1, "verified"] == 2 and stats.loc[1, "best speedup"] == 2.0
    assert stats.loc[2, "best task"] == "level2/add_relu_mul"
    assert lb.level_figure(df) is not None and lb.choices(df, "level") == ["all", "1", "2"]
    d = lb.row_details(rows, 0)
    assert d["kernel_code"] == "// fused" and "Model" in d["task_code"]
    assert views.check_rows(Verdict.from_json(d["verdict_json"]))[0][0] == "compile"


def test_missing_archive_is_an_empty_board(tmp_path):
    df, note = lb.load_frame(LocalStore(tmp_path / "nothing"))
    assert df.empty and "not readable yet" in note and "kernel-evolve archive init" in note
    assert lb.board(lb.filter_frame(df)).empty and lb.level_figure(df) is None


def test_chart_lineage_and_status_views():
    task = load_task("level1/gelu")
    v = _verdict(task, "verified", 0.5)
    fig = views.speedup_figure(v)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["eager\n1 ms", "torch.compile\n0.8 ms", "kernel\n0.5 ms"]
    assert ax.get_title() == "Runtime · kernel 2.00x vs eager, 1.60x vs torch.compile"
    assert [round(p.get_height(), 3) for p in ax.patches] == [1.0, 0.8, 0.5]
    assert views.speedup_figure(_verdict(task, "incorrect", None)) is None
    a = Member(id="a", task_id=task.task_id, source="x", status="verified", stage="translate", speedup=1.0)
    b = Member(id="b", task_id=task.task_id, source="y", status="verified", generation=1, parent_ids=("a",),
               speedup=2.0)
    c = Member(id="c", task_id=task.task_id, source="z", status="incorrect", generation=1, parent_ids=("a",))
    assert [m.id for m in views.lineage([a, b, c], b)] == ["a", "b"]
    assert views.candidate_rows([a, b, c])[1] == ["b", 1, "optimize/rewrite", "✓ verified", 2.0, None]


def test_session_gate_allows_one_run_per_session_and_staged_store_holds_rows(archive):
    gate = SessionGate()
    s1 = gate.enter("s1")
    assert s1 is not None and gate.enter("s1") is None and gate.enter("s2") is not None
    assert not s1.is_set() and gate.stop("s1") and s1.is_set() and s1.reason == "stopped by you"
    assert not gate.stop("nobody")
    gate.leave("s1")
    assert gate.enter("s1") is not None
    staged = StagedStore(archive)
    before = len(archive.log())
    threads = [threading.Thread(target=staged.append, args=([i], "m")) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(staged.rows) == list(range(8)) and len(archive.log()) == before
    assert len(staged.read()) == 4


def test_evolve_streams_snapshots_and_stages_rows(tmp_path, archive):
    import time

    from _pipeline_fakes import FakeExecutor

    from space.evolution import RunSettings, evolve
    before = len(archive.log())
    staged = StagedStore(archive)
    snaps = list(evolve("level1/gelu", RunSettings(generations=2, population=2, backend="cpu"),
                        run_dir=tmp_path / "run", store=staged, executor=FakeExecutor(), poll_s=0.01))
    assert snaps[-1].done and not snaps[-1].error and snaps[-1].stop_reason == "finished"
    assert not any(s.done for s in snaps[:-1])
    counts = [len(s.members) for s in snaps]
    assert counts == sorted(counts) and counts[-1] >= 3
    best = snaps[-1].best
    assert best.speedup == max(m.speedup for m in snaps[-1].kernels if m.verified)
    assert any("seed kernel: known-good" in ln for ln in snaps[-1].log)
    assert sha256_text(best.source) in {r.kernel_sha256 for r in staged.rows}
    assert len(archive.log()) == before   # nothing reaches the archive until the user saves

    # a consumer that goes away stops the run: the loop's budget check raises Stop and the run winds down
    from space.evolution import Stopper
    stopper = Stopper()

    class Slow(FakeExecutor):
        def submit(self, candidate, **kw):
            time.sleep(0.3)
            return super().submit(candidate, **kw)

    gen = evolve("level1/gelu", RunSettings(generations=10, population=2, backend="cpu"), run_dir=tmp_path / "r2",
                 store=StagedStore(archive), executor=Slow(), stopper=stopper, poll_s=0.01)
    next(gen)
    gen.close()
    assert stopper.is_set()
    deadline = time.time() + 30
    events = tmp_path / "r2" / "events.jsonl"
    while time.time() < deadline and '"event": "stop"' not in (events.read_text() if events.exists() else ""):
        time.sleep(0.1)
    assert '"event": "stop"' in events.read_text()
    assert "cancelled" in events.read_text()


@pytest.mark.parametrize("iso, gaps", [
    ("pid-namespace + net-namespace + uid 61000 + rlimits + landlock v7 (writes only in its folder)", []),
    ("pid-namespace + net-namespace + uid 61000 + rlimits + landlock v6 (x) + pre-started sandbox", []),
    ("pid-namespace + net-namespace + uid 61000 + rlimits", ["no Landlock"]),
    ("subreaper + net-namespace + no PID namespace: CUDA fails inside one on this host (304) + uid 61447 + rlimits "
     "+ landlock v7 (x)", ["no PID namespace"]),
    ("subreaper + rlimits + landlock v4 (x)", ["no uid drop", "no network namespace", "no PID namespace"]),
    ("subreaper + rlimits", ["no uid drop", "no network namespace", "no PID namespace", "no Landlock"]),
    ("pid-namespace + host-network + rlimits", ["no uid drop", "no network namespace", "no Landlock"]),
    ("unknown", ["no uid drop", "no network namespace", "no PID namespace", "no Landlock"]),
])
def test_verdicts_say_what_their_sandbox_lacked(iso, gaps):
    from rich.console import Console

    from pipeline.report import print_verdict

    task = load_task("level1/gelu")
    base = _verdict(task, "verified", 0.5)
    v = dataclasses.replace(base, checks=base.checks + (Check("isolation", "pass", iso),))
    assert [g.split(":")[0] for g in v.isolation_gaps] == gaps
    md = views.verdict_markdown(v)
    console = Console(record=True, width=400)
    print_verdict(v, console)
    out = console.export_text()
    # the operator sees the gaps (CLI, and the verdict JSON they are read from); the Space's user page does not
    assert ("sandbox gap:" in out) == bool(gaps) and all(g in out for g in gaps)
    assert "sandbox gap" not in md and not any(g.split(":")[0] in md for g in gaps)
    assert [g.split(":")[0] for g in Verdict.from_json(v.to_json()).isolation_gaps] == gaps
    assert base.isolation_gaps == ()  # a verdict that ran nothing (no isolation check) claims nothing
