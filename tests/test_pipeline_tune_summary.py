"""scripts/tune_summary.py on a fixture run directory written the way the pipeline writes one."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import tune_summary  # noqa: E402


def stats(ms, iqr):
    return {"median_ms": ms, "iqr_ms": iqr, "min_ms": ms - iqr, "max_ms": ms + iqr, "n": 50}


def member(mid, task, status, gen, kernel_ms=None, roof=None, stage="optimize"):
    timing = None
    if kernel_ms is not None:
        timing = {"kernel": stats(kernel_ms, 0.02), "eager": stats(0.8, 0.04), "compiled": stats(0.5, 0.02),
                  "speedup_eager": 0.8 / kernel_ms, "speedup_compile": 0.5 / kernel_ms, "method": "cuda-events",
                  **(roof or {})}
    verdict = {"status": status, "task_id": task, "timing": timing, "checks": [], "flags": []}
    return {"id": mid, "task_id": task, "source": "// k", "status": status, "stage": stage, "mode": "tune",
            "generation": gen, "speedup": timing["speedup_eager"] if timing else None,
            "verdict_json": json.dumps(verdict)}


def write_run(d: Path) -> Path:
    d.mkdir()
    members = [member("f", "level1/softmax", "verified", 0, stage="functionalize"),
               member("s", "level1/softmax", "verified", 0, 1.0, stage="translate"),
               member("a", "level1/softmax", "compile_error", 1),
               member("b", "level1/softmax", "verified", 1, 0.5),
               member("c", "level1/softmax", "verified", 2, 0.4, {"achieved_gbps": 2200.0, "peak_gbps": 2650.0,
                                                                  "bandwidth_fraction": 0.83}),
               member("m", "level1/matmul", "incorrect", 0, stage="translate")]
    events = [{"ts": 1000.0, "event": "start"}, {"ts": 1000.0, "event": "seed", "task": "level1/softmax"},
              {"ts": 1360.0, "event": "task_done", "task": "level1/softmax", "result": "converged",
               "reason": "converged: the last 3 rounds did not raise the best speedup"},
              {"ts": 1370.0, "event": "call", "task": "level1/matmul"},
              {"ts": 1380.0, "event": "task_done", "task": "level1/matmul", "result": "no verified kernel"},
              {"ts": 1400.0, "event": "stop", "reason": "finished"}]
    (d / "members.jsonl").write_text("".join(json.dumps(m) + "\n" for m in members) + '{"id": "cut by kil')
    (d / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    return d


def cells(table: str, task: str) -> list[str]:
    line = next(ln for ln in table.splitlines() if ln.startswith(f"| {task} "))
    return [c.strip() for c in line.strip("|").split("|")]


def test_the_table_reports_seed_and_best_with_spread_roofline_rate_and_stop(tmp_path):
    table = tune_summary.summarise([write_run(tmp_path / "run")])
    head = [c.strip() for c in table.splitlines()[0].strip("|").split("|")]
    row = dict(zip(head, cells(table, "level1/softmax")))
    assert row["judged"] == "4" and row["verified"] == "3"                 # stage 1's functional form is no kernel
    assert row["seed vs eager"] == "0.800x [0.772-0.828]" and row["seed vs compile"] == "0.500x [0.485-0.515]"
    assert row["best vs eager"] == "**2.000x [1.902-2.103]**" and row["best vs compile"] == "1.250x [1.195-1.308]"
    assert row["best ms (IQR)"] == "0.4000 (0.0200)" and row["torch.compile ms"] == "0.5000"
    assert row["roofline"] == "83% BW (2200 GB/s)" and row["judged/h"] == "40" and row["stop"] == "converged"
    miss = dict(zip(head, cells(table, "level1/matmul")))
    assert miss["best vs eager"] == "-" and miss["stop"] == "no verified kernel" and miss["judged"] == "1"
    assert "geomean over the 1 of 2 tasks with a verified kernel: best vs eager **2.000** (seed 0.800), " \
           "best vs torch.compile **1.250** (seed 0.500); 1 tasks at >= 1.0x eager" in table
    assert "5 candidates judged, 3 verified in 400 s of wall time: **45 judged/h, 27 verified/h**" in table


def test_the_command_line_reads_several_runs_and_refuses_a_non_run(tmp_path):
    a, b = write_run(tmp_path / "cpu"), write_run(tmp_path / "cuda")
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "tune_summary.py"), str(a), str(b)],
                         capture_output=True, text=True, check=True).stdout
    assert "| cpu: level1/softmax |" in out and "| cuda: level1/matmul |" in out and "over the 2 of 4 tasks" in out
    bad = subprocess.run([sys.executable, str(ROOT / "scripts" / "tune_summary.py"), str(tmp_path)],
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "not a run directory" in bad.stderr
