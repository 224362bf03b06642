"""The run loop with fakes (fast): stages 1-3 with repairs and crossover, budgets, resume, garbage."""

import pytest

import _pipeline_scenario as sc
from _pipeline_fakes import FakeExecutor, FakeStore, verdict
from harness.types import Candidate, Verdict
from pipeline.operators.scripted import ScriptedOperator
from pipeline.run import Run, RunConfig, resume


def fake_check_functional(task, source, **kw):
    c = Candidate(task=task, source=source, format="A")
    if "F.relu" in source:
        return verdict(c, "incorrect", failed=(("functional_equivalence", "max abs diff 1.7 vs the original Model"),))
    return verdict(c, "verified", speedup=None)


def cfg(task, **kw):
    base = dict(tasks=(str(task),), backend="cpu", size="small", generations=2, population=1, islands=1,
                modes={"diff": 1.0, "crossover": 1000.0}, similarity=0.999, archive_batch=1, use_seed=False)
    base.update(kw)
    return RunConfig(**base)


def test_scripted_stages_with_fake_harness(tmp_path):
    task = sc.write_task(tmp_path)
    op, ex, store = ScriptedOperator(sc.script), FakeExecutor(), FakeStore()
    s = Run(cfg(task), tmp_path / "run", operator=op, executor=ex, store=store,
            check_functional=fake_check_functional).execute()
    ms = sc.check_scenario(tmp_path / "run", op.requests)
    assert s.stop_reason == "finished" and s.llm_calls == len(op.requests) == 6
    assert all(kw["size"] == "small" and kw["backend"] == "cpu" for kw in ex.kw)
    verified = [m for m in ms if m["status"] == "verified" and m["stage"] != "functionalize"]
    assert sorted(r["kernel_sha256"] for r in store.rows) == sorted(
        __import__("hashlib").sha256(m["source"].encode()).hexdigest() for m in verified)
    assert all(r["functional_code"] == sc.FUNCTIONAL and r["task_code"] == sc.PLAIN_TASK for r in store.rows)
    assert (tmp_path / "run" / "summary.md").read_text().count("plain_gelu") == 1
    assert (tmp_path / "run" / "config.yaml").is_file() and (tmp_path / "run" / "tasks" / "plain_gelu.py").is_file()


def test_llm_call_budget_stops_the_run_and_resume_continues(tmp_path):
    task = sc.write_task(tmp_path)
    store = FakeStore()
    op = ScriptedOperator(sc.script)
    s = Run(cfg(task, max_llm_calls=3), tmp_path / "run", operator=op, executor=FakeExecutor(), store=store,
            check_functional=fake_check_functional).execute()
    assert "LLM call budget" in s.stop_reason and len(op.requests) == 3
    n_rows = len(store.rows)
    op2 = ScriptedOperator(sc.script)
    # resume with a larger budget: the stored config is reused; stage 1 is not redone
    conf = RunConfig.load(tmp_path / "run")
    (tmp_path / "run" / "config.yaml").write_text((tmp_path / "run" / "config.yaml").read_text()
                                                  .replace("max_llm_calls: 3", "max_llm_calls: 100"))
    s2 = resume(tmp_path / "run", operator=op2, executor=FakeExecutor(), store=store,
                check_functional=fake_check_functional)
    assert conf.max_llm_calls == 3 and s2.stop_reason == "finished"
    assert not any(p.stage == "functionalize" for p in op2.requests)
    sc.check_scenario(tmp_path / "run", op.requests + op2.requests)
    assert len(store.rows) > n_rows and len({r["kernel_sha256"] for r in store.rows}) == len(store.rows)
    assert all(r["functional_code"] == sc.FUNCTIONAL for r in store.rows)   # stage 1's output survives resume


def test_garbage_completions_become_failed_candidates(tmp_path):
    op = ScriptedOperator(lambda p: "\u2581the the <s> ## ]] lorem")
    ex, store = FakeExecutor(), FakeStore()
    s = Run(cfg("level1/gelu", repairs=2, archive_failed=True), tmp_path / "run", operator=op, executor=ex,
            store=store, check_functional=fake_check_functional).execute()
    ms = sc.members(tmp_path / "run")
    assert len(ms) == 3 and all(m["status"] == "rejected" and m["stage"] == "translate" for m in ms)
    assert all("no code found" in Verdict.from_dict(m["verdict"]).checks[0].reason for m in ms)
    assert ex.seen == [] and store.rows == [] and s.statuses == {"rejected": 3}
    assert "no code found" in op.requests[1].messages[1]["content"]     # the repair prompt says why


def test_bad_config_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a run directory"):
        resume(tmp_path)
    with pytest.raises(ValueError, match="unknown backend"):
        Run(RunConfig(tasks=("level1/gelu",), backend="tpu"), tmp_path / "r", operator=ScriptedOperator([]),
            executor=FakeExecutor(), store=FakeStore(), check_functional=fake_check_functional)


@pytest.mark.parametrize("budget,reason", [({"max_wall_s": 0.0}, "wall-time budget"),
                                           ({"max_tokens": 1}, "token budget")])
def test_wall_and_token_budgets(tmp_path, budget, reason):
    task = sc.write_task(tmp_path)
    op = ScriptedOperator(sc.script)
    s = Run(cfg(task, **budget), tmp_path / "run", operator=op, executor=FakeExecutor(), store=FakeStore(),
            check_functional=fake_check_functional).execute()
    assert reason in s.stop_reason and len(op.requests) == (0 if "wall" in reason else 1)
    assert reason in (tmp_path / "run" / "summary.md").read_text()


def test_tune_loop_with_fake_harness_climbs_to_the_best_setting(tmp_path):
    ex, store = FakeExecutor(), FakeStore()
    s = Run(cfg("level1/gelu", operator="tune", modes=None, generations=5, population=2, use_seed=True,
                kernel_format="A"), tmp_path / "run", executor=ex, store=store,
            check_functional=fake_check_functional).execute()
    ms = sc.members(tmp_path / "run")
    # the fake harness scores CHUNK 16384 best; the sweep tries each setting once, then stops as exhausted
    import math
    import re
    from harness.task import known_good_kernel, load_task
    src = known_good_kernel(load_task("level1/gelu"), "cpu", format="A").read_text()
    settings = math.prod(len(v.split()) for v in re.findall(r"//\s*tunable:\s*([^\n]+)", src))
    assert settings >= 3
    assert len(ms) == settings and len(ex.seen) == settings and s.llm_calls == 0
    assert "#define CHUNK 16384" in next(m["source"] for m in ms if m["id"] == s.best["level1/gelu"][0])
    assert len(store.rows) == settings and s.stop_reason == "finished"


def test_a_line_cut_by_kill_is_dropped_and_the_run_resumes(tmp_path):
    task = sc.write_task(tmp_path)
    store = FakeStore()
    Run(cfg(task, max_llm_calls=4), tmp_path / "run", operator=ScriptedOperator(sc.script), executor=FakeExecutor(),
        store=store, check_functional=fake_check_functional).execute()
    members = tmp_path / "run" / "members.jsonl"
    kept = members.read_text()
    with open(members, "a") as f:
        f.write('{"id": "half-writ')                          # what kill -9 mid-write leaves
    (tmp_path / "run" / "config.yaml").write_text(
        (tmp_path / "run" / "config.yaml").read_text().replace("max_llm_calls: 4", "max_llm_calls: null"))
    op = ScriptedOperator(sc.script)
    s = resume(tmp_path / "run", operator=op, executor=FakeExecutor(), store=store,
               check_functional=fake_check_functional)
    assert s.stop_reason == "finished" and members.read_text().startswith(kept) and "half-writ" not in members.read_text()
    assert [m["mode"] for m in sc.members(tmp_path / "run")][-2:] == ["diff", "crossover"]


def test_an_archive_outage_keeps_kernels_pending_until_resume(tmp_path):
    class Down(FakeStore):
        def append(self, rows, message):
            raise ConnectionError("hub unreachable")
    s = Run(cfg("level1/gelu", operator="tune", modes=None, generations=1, population=1, use_seed=True),
            tmp_path / "run", executor=FakeExecutor(), store=Down(), check_functional=fake_check_functional).execute()
    assert "archive append failed" in s.stop_reason and not s.commits
    store = FakeStore()
    s2 = resume(tmp_path / "run", executor=FakeExecutor(), store=store, check_functional=fake_check_functional)
    assert len(store.rows) == 2 and s2.commits and "archive" not in s2.stop_reason
