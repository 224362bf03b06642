"""Roofline feedback and stepping stones in the optimize prompts, with and without the data."""
import json

from _pipeline_fakes import ENV, FakeExecutor, FakeStore
from harness.task import known_good_kernel, load_task
from harness.types import Check, Stats, Timing, Verdict
from pipeline.innovation import MAX_STONE_CHARS, family, stepping_stones
from pipeline.operators.scripted import ScriptedOperator
from pipeline.prompts import Roofline, Shot, build_messages, summarize_verdict
from pipeline.run import Run, RunConfig

SOFTMAX = load_task("level1/softmax")


def timed(cls=Timing, **roof) -> Verdict:
    t = cls(kernel=Stats(0.412, 0.01, 0.4, 0.43, 50), eager=Stats(0.52, 0.02, 0.5, 0.55, 50),
            compiled=Stats(0.3, 0.01, 0.29, 0.31, 50), speedup_eager=0.52 / 0.412, speedup_compile=0.3 / 0.412,
            method="cuda-events+l2-flush", **roof)
    return Verdict(status="verified", task_id=SOFTMAX.task_id, task_sha256=SOFTMAX.sha256, kernel_sha256="k",
                   format="K", checks=(Check("outputs", "pass"),), flags=(), env=ENV, timing=t)


def test_feedback_says_where_the_time_goes_and_what_bounds_the_kernel():
    mem = summarize_verdict(timed(achieved_gbps=1650.0, peak_gbps=2661.0, bandwidth_fraction=0.62))
    assert "Runtime 0.412 ms" in mem and "eager 0.52 ms" in mem and "torch.compile 0.3 ms" in mem
    assert "moves 1650 GB/s, 62% of the measured peak bandwidth (2661 GB/s)" in mem
    assert "Reading: memory-bound at 62% of peak: fewer bytes or better coalescing" in mem
    near = summarize_verdict(timed(achieved_gbps=2300.0, peak_gbps=2661.0))   # fraction derived
    assert "86% of the measured peak bandwidth" in near and "near the bandwidth roof" in near
    mm = summarize_verdict(timed(achieved_gbps=300.0, peak_gbps=3000.0, bandwidth_fraction=0.1,
                                 achieved_gflops=400e3, peak_gflops=989e3, flops_fraction=0.40))
    assert "computes 4e+05 GFLOP/s, 40% of peak" in mm and "Reading: compute-bound at 40% of peak FLOP/s" in mm
    tiny = summarize_verdict(timed(bandwidth_fraction=0.02, flops_fraction=0.01))
    assert "Reading: latency-bound at 2% of peak bandwidth and 1% of peak FLOP/s" in tiny


def test_feedback_without_roofline_data_degrades_to_the_runtimes():
    for v in (timed(), timed()):                  # a harness without the fields, or with them unset
        text = summarize_verdict(v)
        assert "Runtime 0.412 ms" in text and "torch.compile 0.3 ms" in text and "vs torch.compile 0.728x" in text
        assert "Roofline" not in text and "Reading" not in text
    assert Roofline.of(None) is None and Roofline.of(timed().timing) is None


def test_optimize_prompts_carry_the_roofline_and_the_stepping_stones():
    parent = Shot("// parent", "parent", timed(achieved_gbps=1650.0, peak_gbps=2661.0))
    other = Shot("// other", "other", timed(flops_fraction=0.5, bandwidth_fraction=0.2))
    stone = Shot("// fast layernorm", "layernorm (level1/layernorm, same family: normalization), speedup 2x vs eager")
    for kind in ("rewrite", "diff", "crossover"):
        u = build_messages(kind, SOFTMAX, backend="cuda", parent=parent, other=other, inspirations=(stone,),
                           kernel_format="K")[1]["content"]
        assert "Reading: memory-bound at 62% of peak" in u and "// fast layernorm" in u and "same family" in u
        assert "aim the change at that bound" in u and "memory-bound at 62% of peak" in u.split("aim the change")[0]
        if kind == "crossover":
            assert "the parents as memory-bound at 62% of peak and compute-bound at 50% of peak FLOP/s" in u
    bare = build_messages("rewrite", SOFTMAX, parent=Shot("// parent", "parent", timed()))[1]["content"]
    assert "Runtime 0.412 ms" in bare and "Reading" not in bare and "aim the change" not in bare


def row(tid, op, code, speed=1.0, bw=None, backend="cuda"):
    vj = json.dumps({"timing": {"bandwidth_fraction": bw}}) if bw is not None else ""
    return {"task_id": tid, "op_name": op, "kernel_code": code, "status": "verified", "speedup_eager": speed,
            "backend": backend, "task_code": "", "kernel_sha256": code[:40], "device": "d", "verdict_json": vj}


def test_stepping_stones_same_task_first_then_family_within_a_size_bound():
    assert [family(o) for o in ("conv2d_relu_scale", "log_softmax", "max_dim", "add_broadcast", "zzz")] == \
        ["matmul", "normalization", "reduction", "elementwise", ""]
    store = FakeStore([row("level1/softmax", "softmax", "// own slow", 1.1), row("level1/softmax", "softmax", "// own fast", 2.4, bw=0.71),
                       row("level1/relu", "relu", "// relu", 5.0), row("level1/layernorm", "layernorm", "// layernorm", 1.5),
                       row("level1/matmul", "matmul", "// matmul", 3.0), row("level1/log_softmax", "log_softmax", "// logsm", 1.2)])
    stones = stepping_stones(store, SOFTMAX, backend="cuda", k=3, same_task=True)
    assert [s.code for s in stones] == ["// own fast", "// own slow", "// logsm"]
    assert "same task" in stones[0].label and "71% of peak bandwidth" in stones[0].label
    assert "same family: normalization" in stones[2].label
    others = stepping_stones(store, SOFTMAX, backend="cuda", k=2)          # translate: other tasks only
    assert [s.code for s in others] == ["// logsm", "// layernorm"]
    huge = FakeStore([row("level1/softmax", "softmax", "x" * 50000), row("level1/layernorm", "layernorm", "y" * 50000),
                      row("level1/log_softmax", "log_softmax", "z" * 50000)])
    cut = stepping_stones(huge, SOFTMAX, backend="cuda", k=3, same_task=True, budget_chars=2 * MAX_STONE_CHARS + 200)
    assert len(cut) == 2 and all(len(s.code) < MAX_STONE_CHARS + 100 and "more characters cut" in s.code for s in cut)
    assert stepping_stones(FakeStore(), SOFTMAX, backend="cuda", k=3, same_task=True) == ()


def test_a_run_shows_the_archive_best_of_its_own_task_in_optimize_prompts(tmp_path):
    gelu = load_task("level1/gelu")
    seed = known_good_kernel(gelu, "cpu").read_text()
    store = FakeStore([row("level1/gelu", "gelu", seed + "static const int archived_fast = 1;\n", 3.0, backend="cpu"),
                       row("level1/gelu", "gelu", seed + "// the run's own translation\n", 5.0, backend="cpu")])
    script = lambda p: f"```cpp\n{seed}// SPEED 1.2\n```" if p.mode == "translate" else f"```cpp\n{seed}// v{p.generation}\n```"
    op = ScriptedOperator(script)
    cfg = RunConfig(tasks=("level1/gelu",), backend="cpu", size="small", generations=1, population=1, islands=1,
                    modes={"rewrite": 1.0}, archive_batch=100, use_seed=False, operator="hf:x")
    Run(cfg, tmp_path / "run", operator=op, executor=FakeExecutor(), store=store,
        check_functional=lambda *a, **k: None).execute()
    rewrite = [p for p in op.requests if p.mode == "rewrite"]
    assert rewrite and "archived_fast" in rewrite[0].messages[1]["content"]
    assert "gelu (level1/gelu, same task), speedup 3x vs eager" in rewrite[0].messages[1]["content"]
    assert "speedup 5x" not in rewrite[0].messages[1]["content"]   # the parent itself is no stepping stone
