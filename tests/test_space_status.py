"""The Space's words without a browser: the status line for every way a run goes or fails, the result in context,
the sign-in rules (which token an `hf:` run sends, who may save) and the archive frame cached by head commit."""
from __future__ import annotations

import dataclasses

import pytest

pytest.importorskip("matplotlib")

from harness.task import load_task  # noqa: E402
from harness.types import Check, Env, Stats, Timing, Verdict  # noqa: E402
from pipeline.population import Member  # noqa: E402
from space import status as st  # noqa: E402
from space.auth import Auth  # noqa: E402
from space.evolution import RunSettings, Snapshot  # noqa: E402
from space.intake import InputError  # noqa: E402
from space.views import result_markdown, speedup_spread  # noqa: E402

TASK = load_task("level1/gelu")
ENV = Env(device="cpu-x", backend="cpu", torch_version="2", cuda_version="")
NOW = 1_000_000.0


def stats(m: float, iqr: float = 0.0, lo: float | None = None, hi: float | None = None) -> Stats:
    return Stats(median_ms=m, iqr_ms=iqr, min_ms=m if lo is None else lo, max_ms=m if hi is None else hi, n=30)


def verdict(status: str, *, kernel: float = 1.0, eager: float = 1.0, compiled: float | None = None,
            error: str = "", failed: tuple[tuple[str, str], ...] = ()) -> Verdict:
    timing = None
    if status == "verified":
        timing = Timing(kernel=stats(kernel, kernel / 10), eager=stats(eager, eager / 10),
                        compiled=stats(compiled, compiled / 10) if compiled else None, speedup_eager=eager / kernel,
                        speedup_compile=compiled / kernel if compiled else None, method="perf_counter_ns")
    checks = tuple(Check(n, "fail", r) for n, r in failed) or (Check("compile", "pass", "built"),)
    return Verdict(status=status, task_id=TASK.task_id, task_sha256=TASK.sha256, kernel_sha256=status, format="K",
                   checks=checks, flags=(), env=ENV, timing=timing, error=error)


def member(i: int, v: Verdict, stage: str = "translate") -> Member:
    return Member(id=f"m{i}", task_id=TASK.task_id, source="// k", status=v.status, stage=stage, mode=stage,
                  speedup=v.timing.speedup_eager if v.timing else None, verdict=v)


def snap(members=(), *, done=True, stage="done", stop_reason="finished", error="", failed_calls=(), stopping="",
         generation=0) -> Snapshot:
    return Snapshot(task_id=TASK.task_id, stage=stage, generation=generation, members=tuple(members), log=(),
                    done=done, stop_reason=stop_reason, error=error, started=NOW - 75, failed_calls=failed_calls,
                    stopping=stopping)


TUNE = RunSettings(operator="tune", generations=2, population=2)
LLM = RunSettings(operator="hf:m", generations=1, population=2)


def test_running_line_gives_stage_time_counts_best_and_an_estimate():
    s = snap([member(0, verdict("verified", kernel=0.5))], done=False, stage="optimize", generation=1)
    line = st.running_line(s, TUNE, functional=True, now=NOW)
    assert line.startswith("▶ **Running** · stage 3 of 3, optimize: generation 1 of 2")
    assert "1:15 elapsed" in line and "1 judged, 1 verified" in line and "best so far **2x** vs eager" in line
    # 1 of 1 + 2*2 = 5 candidates judged in 75 s: 4 more at 75 s each
    assert "about 5:00 left (1 of ~5 candidates)" in line
    first = st.running_line(snap([], done=False, stage="functionalize"), LLM, functional=False, now=NOW)
    assert "stage 1 of 3, functionalize" in first and "estimate after the first candidate" in first
    stopping = st.running_line(snap([], done=False, stopping="stopped by you"), TUNE, functional=True, now=NOW)
    assert stopping.startswith("■ **Stopping** (stopped by you)") and "verified kernels are kept" in stopping


def test_final_line_for_a_result_and_for_a_stop():
    fast = [member(0, verdict("verified", kernel=0.5)), member(1, verdict("incorrect"), "optimize")]
    line = st.final_line(snap(fast), TUNE, now=NOW)
    assert line.startswith("✓ **Verified kernel found** · best **2x** vs eager")
    assert "2 judged, 1 verified in 1:15" in line
    slow = st.final_line(snap([member(0, verdict("verified", kernel=2.0))]), TUNE)
    assert "best **0.5x** vs eager (slower than eager PyTorch" in slow
    kept = st.final_line(snap(fast, stop_reason="stopped by you"), TUNE)
    assert kept.startswith("■ **Stopped by you**, keeping what was verified")
    none = st.final_line(snap([member(0, verdict("compile_error", error="x"))], stop_reason="stopped by you"), TUNE)
    assert none.startswith("■ **Stopped by you** before a kernel was verified")


@pytest.mark.parametrize("case, expected", [
    ("crash", "The run failed inside the app"),
    ("llm error", "The LLM call failed"),
    ("tune on a new task", "A new task needs an LLM operator"),
    ("functionalize", "Stage 1 (functionalize) failed"),
    ("compile", "The kernel did not compile"),
    ("incorrect", "The kernel gave wrong results"),
    ("rejected", "The kernel was refused before it ran"),
    ("timeout", "The kernel ran past its time limit"),
    ("budget", "The run stopped early: wall-time budget spent (900 s)"),
])
def test_every_failure_says_why_in_words_a_user_can_act_on(case, expected):
    settings = LLM
    s = {
        "crash": lambda: snap(error="RuntimeError: boom"),
        "llm error": lambda: snap(stage="failed: no functional form", failed_calls=(
            "hf:m call failed: HfHubHTTPError: 401 Unauthorized",) * 4),
        "tune on a new task": lambda: snap(stage="failed: no functional form", failed_calls=(
            "the tune operator only sweeps tunables; it cannot do 'functionalize'",)),
        "functionalize": lambda: snap([member(i, verdict("rejected", failed=(("extract", "no module_fn"),)),
                                              "functionalize") for i in range(4)],
                                      stage="failed: no functional form"),
        "compile": lambda: snap([member(0, verdict("compile_error", error="k.cpp:3:5: error: expected ';'"))]),
        "incorrect": lambda: snap([member(0, verdict("incorrect", failed=(("case:seed1", "max abs diff 1 > 1e-4"),)))]),
        "rejected": lambda: snap([member(0, verdict("rejected", failed=(("static_io_access", "fopen"),)))]),
        "timeout": lambda: snap([member(0, verdict("timeout", error="ran past 120 s"))]),
        "budget": lambda: snap([member(0, verdict("compile_error", error="e"))],
                               stop_reason="wall-time budget spent (900 s)"),
    }[case]()
    line = st.final_line(s, settings, space=True)
    assert line.startswith("✗") and expected in line, line
    detail = {"llm error": "401 Unauthorized", "functionalize": "no module_fn", "compile": "expected ';'",
              "incorrect": "max abs diff 1 > 1e-4", "rejected": "fopen", "timeout": "ran past 120 s",
              "tune on a new task": "sign in with Hugging Face", "crash": "boom"}.get(case, "")
    assert detail in line, line


def test_result_in_context_says_plainly_when_slower_than_eager():
    slow = result_markdown(verdict("verified", kernel=2.0, eager=1.0, compiled=0.5))
    assert "**0.5x** vs eager PyTorch" in slow and "**This kernel is slower than eager PyTorch**" in slow
    assert "more generations" in slow and "*Eager* is PyTorch running your `Model`" in slow
    fast = result_markdown(verdict("verified", kernel=0.5, eager=1.0, compiled=0.25))
    assert "slower than eager" not in fast and "beats eager PyTorch but not torch.compile" in fast
    assert result_markdown(verdict("incorrect")) == ""
    # a skewed timing (IQR wider than the median) never gives a 0x lower bound: quartiles lie within min..max
    lo, hi = speedup_spread(stats(0.2, 0.4, lo=0.15, hi=1.2), stats(0.4, 0.1, lo=0.38, hi=0.5))
    assert lo == pytest.approx(0.15 / 0.45) and hi == pytest.approx(0.4 / 0.38)


def test_hf_runs_use_the_signed_in_users_token_on_a_space_and_never_the_environments(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_owner_secret_0000000000")

    class Token:
        token = "hf_user_1111111111111111"

    space = Auth(space=True)
    assert space.llm_token("tune", None) is None
    with pytest.raises(InputError, match="Sign in with Hugging Face"):
        space.llm_token("hf:m", None)
    assert space.llm_token("hf:m", Token()) == Token.token
    local = Auth(space=False)
    assert local.llm_token("hf:m", Token()) is None          # locally: the environment's token, as on the CLI
    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.setenv("HF_HOME", "/nonexistent-hf-home")     # no saved login either
    with pytest.raises(InputError, match="needs a Hugging Face token"):
        local.llm_token("hf:m", None)
    assert Auth(space=False, llm_base_url="http://127.0.0.1:1").llm_token("hf:m", None) is None


def test_saving_on_a_space_needs_a_user_the_hub_confirms():
    class Token:
        def __init__(self, t):
            self.token = t

    def whoami(token):
        if token != "good":
            raise RuntimeError("401 Client Error: Unauthorized")
        return {"name": "alice"}

    space = Auth(space=True, whoami=whoami)
    with pytest.raises(InputError, match="needs a signed-in user"):
        space.saver(None)
    with pytest.raises(InputError, match="did not confirm your sign-in"):
        space.saver(Token("made-up"))
    assert space.saver(Token("good")) == "alice"
    assert Auth(space=False).saver(None) == ""


def test_archive_frame_is_read_once_per_head_commit(tmp_path):
    from hub.local_store import LocalStore
    from hub.schema import row_from_verdict
    from space.leaderboard import FrameCache

    store = LocalStore(tmp_path / "archive")
    store.append([row_from_verdict(verdict("verified", kernel=0.5), task=TASK, kernel_code="// a")], "one")
    cache = FrameCache()
    df, note = cache.frame(store, "a")
    assert len(df) == 1 and note == "" and cache.reads == 1
    for _ in range(3):   # filters, tab switches: no re-read while the head stays
        assert cache.frame(store, "a")[0] is df
    assert cache.reads == 1
    other = dataclasses.replace(verdict("verified", kernel=0.25), kernel_sha256="b" * 64)
    store.append([row_from_verdict(other, task=TASK, kernel_code="// b")], "two")
    assert len(cache.frame(store, "a")[0]) == 2 and cache.reads == 2


def test_checks_table_leaves_the_build_sandbox_note_to_the_verdict_json():
    from space.views import check_rows
    note = "built in 0.2 s (format K); the compiler ran without a uid drop (pid-namespace + rlimits)"
    v = dataclasses.replace(verdict("verified"), checks=(Check("compile", "pass", note),))
    assert check_rows(v) == [["compile", "✓ pass", "built in 0.2 s (format K)"]]
    assert note in v.to_json()
