"""Prompts carry feedback; population selection and near-duplicate rejection; the strategies; the tune operator."""
import random
from collections import Counter

import pytest

from _pipeline_fakes import verdict
from harness.task import load_task
from harness.types import Candidate
from pipeline.operators.tune import TuneOperator, neighbours, tunables
from pipeline.population import Member, Population, source_hash
from pipeline.prompts import build_messages, summarize_verdict
from pipeline.proposal import Proposal
from pipeline.strategy import BestOfN, IslandsEvolution

TASK = load_task("level1/gelu")
K = "#include <torch/extension.h>\n#define CHUNK 4096  // tunable: 1024 4096 16384\n#define UNROLL 1  // tunable: 1 4\ntorch::Tensor forward(torch::Tensor x) { return x; }\nPYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def(\"forward\", &forward); }\n"


def member(i, speed, children_of=(), island=0, status="verified", src=None):
    return Member(id=f"m{i}", task_id=TASK.task_id, source=src or K.replace("return x", f"return x; // v{i}"),
                  status=status, speedup=speed, island=island, parent_ids=tuple(children_of))


def test_feedback_summary_is_designed_text():
    c = Candidate(task=TASK, source=K, format="A")
    fb = summarize_verdict(verdict(c, "incorrect", failed=(("outputs", "max abs diff 3.2 > tol on seed 0"),),
                                   error="\n".join(["noise"] * 100 + ["kernel.cpp:3: error: bad"])))
    assert "Status: incorrect" in fb and "outputs: max abs diff 3.2" in fb and "kernel.cpp:3: error: bad" in fb
    assert "noise" not in fb            # the error excerpt keeps the error lines, not the log
    ok = summarize_verdict(verdict(c, "verified", speedup=2.0, flags=("implausible_speedup",)))
    assert "speedup vs eager 2x" in ok and "implausible_speedup" in ok


def test_prompts_carry_feedback_previous_attempt_and_stepping_stones():
    from pipeline.prompts import Shot
    msgs = build_messages("translate", TASK, backend="cpu", previous="int broken;",
                          feedback="Status: compile_error.\nError excerpt:\nerror: expected ';'",
                          inspirations=(Shot("// relu kernel", "relu (level1/relu)"),))
    assert msgs[0]["role"] == "system" and "PYBIND11_MODULE" in msgs[0]["content"] and "omp" in msgs[0]["content"]
    u = msgs[1]["content"]
    assert "module_fn" in u and "int broken;" in u and "error: expected ';'" in u and "relu (level1/relu)" in u
    assert "__global__" in build_messages("translate", TASK, backend="cuda")[0]["content"]
    with pytest.raises(ValueError):
        build_messages("nonsense", TASK)


def test_parent_selection_weights_speedup_and_rewards_few_children():
    pop = Population(n_islands=1)
    for i, s in enumerate([0.5, 1.0, 4.0]):
        pop.add(member(i, s))
    pop.add(member(9, None, status="incorrect"))
    rng = random.Random(0)
    picks = Counter(pop.select_parent(TASK.task_id, 0, rng).id for _ in range(3000))
    assert "m9" not in picks and picks["m2"] > picks["m1"] > picks["m0"]
    for j in range(30):                           # m2 gets many children: its weight drops
        pop.add(member(100 + j, None, children_of=("m2",), status="compile_error"))
    picks2 = Counter(pop.select_parent(TASK.task_id, 0, rng).id for _ in range(3000))
    assert picks2["m2"] < picks["m2"] / 3


def test_near_duplicates_are_rejected_before_evaluation():
    pop = Population()
    pop.add(member(0, 1.0, src=K))
    assert "same normalized source" in pop.duplicate_of(TASK.task_id, K.replace("\n", "\n  ") + "// comment\n")
    near = K.replace("return x;", "return x ;")
    assert "duplicate" in pop.duplicate_of(TASK.task_id, near)
    body = "".join(f"static inline float f{i}(float v) {{ return v * {i}.0f + 1.0f; }}\n" for i in range(20))
    pop.add(member(1, 1.0, src=K + body))
    tuned = (K + body).replace("CHUNK 4096", "CHUNK 1024")
    assert "near-duplicate of member m1" in pop.duplicate_of(TASK.task_id, tuned)
    assert pop.duplicate_of(TASK.task_id, tuned, threshold=None) == ""     # tune variants: exact hash only
    assert pop.duplicate_of(TASK.task_id, K + "\n".join(f"// x\nint f{i}(){{return {i};}}" for i in range(40))) == ""


def test_islands_strategy_mixes_modes_with_lineage_and_migrates():
    pop = Population(n_islands=2)
    pop.add(member(0, 1.0, island=0))
    pop.add(member(1, 2.0, island=1))
    s = IslandsEvolution(task=TASK, per_generation=8, modes={"rewrite": 1, "diff": 1, "crossover": 2}, seed=1,
                         migrate_every=1)
    props = s.select(pop)
    assert len(props) == 8 and {p.island for p in props} == {0, 1} and all(p.generation == 1 for p in props)
    cross = [p for p in props if p.mode == "crossover"]
    assert cross and all(len(p.parent_ids) == 2 and len(set(p.parent_ids)) == 2 for p in cross)
    assert all("Parent A" in p.messages[1]["content"] for p in cross)
    diff = [p for p in props if p.mode == "diff"]
    assert diff and all("SEARCH" in p.messages[1]["content"] and p.base_source for p in diff)
    s.update([])
    assert pop.verified(TASK.task_id, island=0) and {m.id for m in pop.verified(TASK.task_id, 0)} == {"m0", "m1"}


def test_best_of_n_always_samples_the_seed():
    pop = Population()
    pop.add(member(0, 1.0))
    pop.add(member(1, 9.0))
    props = BestOfN(task=TASK, per_generation=5).select(pop)
    assert len(props) == 5 and all(p.parent_ids == ("m0",) and p.mode == "rewrite" for p in props)


def test_tune_operator_sweeps_untried_neighbours_then_is_exhausted():
    assert [t.name for t in tunables(K)] == ["CHUNK", "UNROLL"]
    ns = neighbours(K)
    assert len(ns) == 3 and any("#define CHUNK 1024  // tunable: 1024 4096 16384" in n for n in ns)
    op = TuneOperator()
    p = Proposal(task=TASK, mode="tune", base_source=K)
    outs = {op.propose(Proposal(task=TASK, mode="tune", base_source=K, variant=v)).text for v in range(3)}
    assert len(outs) == 3 and not op.propose(Proposal(task=TASK, mode="tune", base_source=K, variant=3)).text
    avoid = frozenset(source_hash(n) for n in ns)
    done = op.propose(Proposal(task=TASK, mode="tune", base_source=K, avoid=avoid))
    assert done.error.startswith("exhausted") and not done.llm_call
    assert op.propose(Proposal(task=TASK, mode="rewrite", base_source=K)).error
    assert p.mode == "tune"


def test_innovation_retrieves_related_verified_kernels_and_seeds_prefer_the_archive():
    from _pipeline_fakes import FakeStore
    from pipeline.innovation import stepping_stones
    from pipeline.starter import starting_kernels

    def row(tid, op, code, status="verified", speed=1.0, backend="cpu"):
        return {"task_id": tid, "op_name": op, "kernel_code": code, "status": status, "speedup_eager": speed,
                "backend": backend, "task_code": "", "kernel_sha256": code, "device": "d"}
    store = FakeStore([row("level1/gelu", "gelu", "// mine 1", speed=1.5), row("level1/gelu", "gelu", "// mine 2", speed=3.0),
                       row("level2/layernorm_gelu", "layernorm_gelu", "// related", speed=2.0),
                       row("level1/matmul", "matmul", "// unrelated"), row("level1/tanh", "tanh", "// bad", "incorrect"),
                       row("level1/relu", "relu", "// cuda only", backend="cuda")])
    stones = stepping_stones(store, TASK, backend="cpu", k=2)
    assert [s.code for s in stones] == ["// related", "// unrelated"]          # own task and failures excluded
    seeds = starting_kernels(TASK, backend="cpu", store=store)
    assert [s.origin for s in seeds] == ["archive:level1/gelu", "known-good:gelu.k.cpp", "known-good:gelu.cpp"]
    assert seeds[0].source == "// mine 2"
    assert [s.origin for s in starting_kernels(TASK, backend="cpu", store=FakeStore(), kernel_format="A")] == \
        ["known-good:gelu.cpp", "known-good:gelu.k.cpp"]

    class Broken:
        def read(self, *a, **k):
            raise OSError("unreadable")
    assert stepping_stones(Broken(), TASK, backend="cpu") == ()
