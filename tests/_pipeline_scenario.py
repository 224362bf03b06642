"""A scripted scenario through stages 1-3, shared by the fake-harness and real-harness tests.

The task is a plain (non-functional) GELU module. The script answers:
functionalize -> a wrong functional form (relu), repair -> the right one;
translate -> a kernel that does not compile, repair -> the known-good GELU kernel;
diff -> a SEARCH/REPLACE edit of a tunable; crossover -> a full kernel with another tunable value.
"""
from __future__ import annotations

import json
from pathlib import Path

from harness.task import load_task, known_good_kernel
from harness.types import Verdict
from pipeline.operators.tune import set_tunable
from pipeline.prompts import summarize_verdict
from pipeline.proposal import Proposal

KNOWN_GOOD = known_good_kernel(load_task("level1/gelu"), "cpu", format="A").read_text()

PLAIN_TASK = '''"""GELU as a plain module (no functional form yet)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

OP_NAME = "gelu"
BATCH = 16384
DIM = 24576
SMALL = {"BATCH": 64, "DIM": 333}


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        return F.gelu(x)


def get_inputs():
    return [torch.randn(BATCH, DIM) * 3.0]


def get_init_inputs():
    return []
'''

FUNCTIONAL = PLAIN_TASK.replace('''class Model(nn.Module):''', '''def module_fn(x):
    return F.gelu(x)


class Model(nn.Module):''').replace("def forward(self, x):\n        return F.gelu(x)",
                                     "def forward(self, x, fn=module_fn):\n        return fn(x)")
WRONG_FUNCTIONAL = FUNCTIONAL.replace("    return F.gelu(x)\n\n\nclass", "    return F.relu(x)\n\n\nclass")
BROKEN = KNOWN_GOOD.replace("std::erf(", "undefined_erf_fn(") + "// FAIL compile\n"
DIFF = ("<<<<<<< SEARCH\n#define CHUNK 4096  // tunable: 1024 4096 16384\n=======\n"
        "#define CHUNK 1024  // tunable: 1024 4096 16384\n>>>>>>> REPLACE\n")
CROSS = set_tunable(KNOWN_GOOD, "CHUNK", "16384")


def script(p: Proposal) -> str:
    if p.stage == "functionalize":
        return f"Here is the functional form.\n```python\n{WRONG_FUNCTIONAL if p.attempt == 0 else FUNCTIONAL}```"
    if p.stage == "translate":
        return f"```cpp\n{BROKEN if p.attempt == 0 else KNOWN_GOOD}```"
    if p.mode == "diff":
        return "Smaller chunks balance the threads better:\n" + DIFF
    if p.mode == "crossover":
        return f"```cpp\n{CROSS}```"
    return "I do not know."


def write_task(tmp: Path) -> Path:
    path = tmp / "plain_gelu.py"
    path.write_text(PLAIN_TASK)
    return path


def members(run_dir: Path) -> list[dict]:
    return [json.loads(l) for l in (run_dir / "members.jsonl").read_text().splitlines()]


def check_scenario(run_dir: Path, requests: list[Proposal]) -> list[dict]:
    """Assertions common to the fake and real harness: repairs happened and prompts carried the feedback."""
    ms = members(run_dir)
    by_stage = {s: [m for m in ms if m["stage"] == s] for s in ("functionalize", "translate", "optimize")}
    f0, f1 = by_stage["functionalize"]
    assert f0["status"] == "incorrect" and f1["status"] == "verified"
    t0, t1 = by_stage["translate"]
    assert t0["status"] == "compile_error" and t1["status"] == "verified"
    fix_f = next(p for p in requests if p.stage == "functionalize" and p.attempt == 1)
    assert summarize_verdict(Verdict.from_dict(f0["verdict"])) in fix_f.messages[1]["content"]
    assert "F.relu" in fix_f.messages[1]["content"]                   # the previous attempt is shown
    fix_t = next(p for p in requests if p.stage == "translate" and p.attempt == 1)
    fb = summarize_verdict(Verdict.from_dict(t0["verdict"]))
    assert "compile_error" in fb and fb in fix_t.messages[1]["content"]
    assert "undefined_erf_fn" in fix_t.messages[1]["content"]
    translate_prompt = next(p for p in requests if p.stage == "translate" and p.attempt == 0).messages[1]["content"]
    assert "def module_fn(x)" in translate_prompt                      # stage 2 sees stage 1's output
    opt = by_stage["optimize"]
    diff = next(m for m in opt if m["mode"] == "diff")
    cross = next(m for m in opt if m["mode"] == "crossover")
    assert diff["status"] == "verified" and "#define CHUNK 1024" in diff["source"]
    assert cross["status"] == "verified" and sorted(cross["parent_ids"]) == sorted([t1["id"], diff["id"]])
    diff_req = next(p for p in requests if p.mode == "diff")
    assert summarize_verdict(Verdict.from_dict(t1["verdict"])) in diff_req.messages[1]["content"]
    cross_req = next(p for p in requests if p.mode == "crossover")
    assert "Parent A" in cross_req.messages[1]["content"] and "Parent B" in cross_req.messages[1]["content"]
    return ms
