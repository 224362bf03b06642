"""The Space's status line: where a run is while it goes, and at its end the outcome or why it failed.

While a run goes the line gives the stage in words, the elapsed time, the
candidates judged and verified so far, the best speedup so far and, once a
candidate has been judged, an estimate of the time left. At the end it gives
the best result or the one reason that matters (the LLM call failed, stage 1
could not rewrite the Model, the kernel did not compile, it gave wrong
results, the time budget ran out, the user stopped it ...), in words that
say what to do next. Pure functions of a `Snapshot`; the browser tests wait on
this text.
"""
from __future__ import annotations

import time
from collections import Counter

from harness.types import Verdict
from pipeline.population import Member
from space.evolution import RunSettings, Snapshot

USER_STOP = "stopped by you"
NEEDS_LLM = ("**A new task needs an LLM operator.** This code is not one of the built-in tasks, so the offline "
             "`tune` operator has no kernel to start from (it only tunes the constants of an existing kernel). "
             "Choose an `hf:` operator above{sign_in}, then Run: it rewrites your Model as a function, writes a "
             "first kernel and evolves it.")


def clock(seconds: float) -> str:
    """0:42, 12:05, 1:02:03."""
    s = max(0, int(round(seconds)))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def needs_llm(space: bool) -> str:
    return "✗ " + NEEDS_LLM.format(sign_in=" and sign in with Hugging Face (your account pays for the calls)"
                                   if space else " (it uses this machine's `HF_TOKEN`)")


def _stage_words(snap: Snapshot, settings: RunSettings) -> str:
    st = snap.stage
    if st == "functionalize":
        return "stage 1 of 3, functionalize: the LLM rewrites your Model as a function"
    if st == "translate":
        return "stage 2 of 3, translate: the LLM writes a first kernel"
    if st == "seed":
        return "stage 2 of 3: building and checking the starting kernel (and timing eager and torch.compile)"
    if st == "optimize":
        return f"stage 3 of 3, optimize: generation {snap.generation} of {settings.generations}"
    return "starting: loading the task"


def _verified(snap: Snapshot) -> list[Member]:
    return [m for m in snap.kernels if m.verified]


def _best(snap: Snapshot) -> float | None:
    ok = _verified(snap)
    return max((m.speedup or 0.0 for m in ok), default=None) if ok else None


def estimate(snap: Snapshot, settings: RunSettings, functional: bool, now: float) -> str:
    """'about 1:10 left' from the time per candidate so far, or why there is no estimate yet."""
    judged = len(snap.members)
    expected = settings.expected_candidates(functional)
    if judged == 0:
        return "estimate after the first candidate"
    if judged >= expected:
        return "finishing (repairs or a last candidate)"
    left = (now - snap.started) / judged * (expected - judged)
    return f"about {clock(left)} left ({judged} of ~{expected} candidates)"


def running_line(snap: Snapshot, settings: RunSettings, *, functional: bool, now: float | None = None) -> str:
    now = time.time() if now is None else now
    elapsed = clock(now - snap.started)
    ok = _verified(snap)
    best = _best(snap)
    if snap.stopping:
        return (f"■ **Stopping** ({snap.stopping}): finishing the candidate being judged; verified kernels are kept. "
                f"{elapsed} elapsed · {len(snap.kernels)} judged, {len(ok)} verified")
    parts = [f"▶ **Running** · {_stage_words(snap, settings)}", f"{elapsed} elapsed",
             f"{len(snap.kernels)} judged, {len(ok)} verified"]
    if best is not None:
        parts.append(f"best so far **{best:.3g}x** vs eager")
    parts.append(estimate(snap, settings, functional, now))
    return " · ".join(parts)


def _last_verdict(members: list[Member]) -> Verdict | None:
    m = next((m for m in reversed(members) if m.verdict is not None), None)
    return m.verdict if m else None


def _lines(text: str, n: int = 3, width: int = 300) -> str:
    keep = [ln.strip() for ln in (text or "").splitlines() if ln.strip()][:n]
    return " ⏎ ".join(keep)[:width]


def _kernel_failure(kernels: list[Member]) -> str:
    counts = Counter(m.status for m in kernels)
    tally = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    v = _last_verdict(kernels)
    status = kernels[-1].status
    why = ""
    if v is not None:
        failed = v.failed_checks
        why = failed[0].reason if failed else ""
        why = _lines(v.error) if status in ("compile_error", "runtime_error") and v.error else (why or _lines(v.error))
    head = {
        "compile_error": "**The kernel did not compile**",
        "incorrect": "**The kernel gave wrong results** (it was compared with PyTorch's output outside its process)",
        "rejected": "**The kernel was refused before it ran** (a static check)",
        "timeout": "**The kernel ran past its time limit**",
        "runtime_error": "**The kernel crashed while running**",
        "no_code": "**The answer held no kernel code**",
    }.get(status, f"**No kernel was verified** (last status: {status})")
    return (f"✗ {head}: `{why}`" if why else f"✗ {head}.") + (
        f" Judged: {tally}. Next: more generations or another `hf:` model (the LLM repairs from this error); "
        "the run log and the checks below have the details.")


def final_line(snap: Snapshot, settings: RunSettings, *, space: bool = False, now: float | None = None) -> str:
    """The outcome, or the reason there is none, in words a user can act on."""
    ok = _verified(snap)
    took = clock((time.time() if now is None else now) - snap.started)
    stopped = snap.stop_reason.startswith(USER_STOP) or snap.stopping.startswith(USER_STOP)
    if snap.error:
        return (f"✗ **The run failed inside the app**: `{snap.error[:300]}`. Try again; if it happens again, "
                "report it with the run log below.")
    if ok:
        best = _best(snap) or 0.0
        head = "■ **Stopped by you**, keeping what was verified" if stopped else "✓ **Verified kernel found**"
        slower = " (slower than eager PyTorch: see the result below)" if best < 1.0 else ""
        return (f"{head} · best **{best:.3g}x** vs eager{slower} · {len(snap.kernels)} judged, {len(ok)} verified "
                f"in {took}")
    if stopped:
        return (f"■ **Stopped by you** before a kernel was verified ({len(snap.kernels)} judged in {took}). "
                "Press Run to start again.")
    llm_errors = [c for c in snap.failed_calls if "call failed" in c]
    if llm_errors and not snap.kernels:
        return (f"✗ **The LLM call failed**: `{llm_errors[-1][:300]}`. Check that the model is served by "
                "Inference Providers and that your account may use it (sign in again if your session expired), "
                "or choose another operator.")
    cannot = [c for c in snap.failed_calls if "only sweeps tunables" in c]
    if cannot and not snap.kernels:
        return needs_llm(space)
    stage1 = [m for m in snap.members if m.stage == "functionalize"]
    if snap.stage.startswith("failed: no functional form"):
        v = _last_verdict(stage1)
        why = (v.failed_checks[0].reason if v and v.failed_checks else (v.error if v else "")) or "no answer"
        return (f"✗ **Stage 1 (functionalize) failed**: {len(stage1)} tries, none equal to your Model "
                f"(last: `{_lines(why, 2)}`). Check that Model, get_inputs and get_init_inputs run as written, "
                "or try another model.")
    if snap.kernels:
        line = _kernel_failure(list(snap.kernels))
    elif snap.stage.startswith("failed: no verified kernel") and settings.operator == "tune":
        line = needs_llm(space)
    else:
        line = "✗ **No kernel was judged**" + (f": `{snap.failed_calls[-1][:300]}`" if snap.failed_calls else ".")
    if "budget spent" in snap.stop_reason:
        line += f" The run stopped early: {snap.stop_reason} (the Space's limit); try fewer generations."
    return line
