"""Sakana interop: a file in Sakana's exact 19-column schema imports as unverified rows and exports back unchanged."""
from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hub.bench import synthetic_rows
from hub.local_store import LocalStore
from hub.sakana import SAKANA_COLUMNS, SAKANA_SCHEMA, export_sakana, import_sakana, to_sakana
from hub.schema import ArchiveError

ROOT = Path(__file__).resolve().parent.parent

TASK = "import torch\nclass Model(torch.nn.Module):\n    def forward(self, x):\n        return x * 2\n" \
       "def get_inputs():\n    return [torch.randn(8)]\ndef get_init_inputs():\n    return []\n"


def sakana_rows() -> list[dict]:
    """Five rows written by hand in Sakana's schema, with the nulls their archive has."""
    def row(i, level, task, op, correct, err, ncu):
        return {
            "Op_Name": op, "Level_ID": level, "Task_ID": task, "Kernel_Name": f"k{i}",
            "CUDA_Runtime": 0.1 * (i + 1), "PyTorch_Native_Runtime": 0.3, "PyTorch_Compile_Runtime": 0.25,
            "CUDA_Speedup_Native": 0.3 / (0.1 * (i + 1)), "CUDA_Speedup_Compile": 0.25 / (0.1 * (i + 1)),
            "CUDA_Code": f"#include <torch/extension.h>\n__global__ void k{i}(float* y) {{ y[0] = {i}; }}\n",
            "PyTorch_Code_Module": TASK, "PyTorch_Code_Functional": TASK.replace("x * 2", "fn(x)"),
            "Correct": correct, "Max_Diff": 1e-6 * i if correct else None, "Error": err,
            "NCU_Profile": ncu, "Torch_Profile": '{"aten::mul": 1}', "Clang_Tidy": "", "__index_level_0__": 100 + i,
        }
    return [
        row(0, 1, 19, "19_ReLU", True, None, None),
        row(1, 1, 19, "19_ReLU", True, None, '{"dram": 0.9}'),
        row(2, 2, 7, "7_Conv3d_GELU_", False, "Output mismatch", None),
        row(3, 3, 1, "1_MLP", True, "", "{}"),
        row(4, 3, 1, "1_MLP", True, None, None),
    ]


def write_sakana(path: Path, rows: list[dict]) -> Path:
    pq.write_table(pa.Table.from_pylist(rows, schema=SAKANA_SCHEMA), path)
    return path


def test_import_marks_rows_unverified_and_keeps_claims_apart(tmp_path):
    src = write_sakana(tmp_path / "sakana.parquet", sakana_rows())
    store = LocalStore(tmp_path / "a")
    assert import_sakana(store, str(src), progress=False) == 5
    rows = sorted(store.read().to_list(), key=lambda r: r["kernel_code"])
    assert {r["status"] for r in rows} == {"unverified"}
    assert not any(r["correct"] for r in rows)  # Sakana's "Correct" is a claim, never our label
    assert all(r["speedup_eager"] is None and r["runtime_ms"] is None for r in rows)
    assert [r["claimed_runtime_ms"] for r in rows] == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])
    assert [r["claimed_correct"] for r in rows] == [True, True, False, True, True]
    assert rows[0]["task_id"] == "sakana/level1/19_ReLU" and rows[0]["op_name"] == "relu"
    assert rows[2]["error"] == "Output mismatch"
    assert sorted(store.read().unique("level")) == [1, 2, 3]
    assert store.summary().verified == 0
    # importing the same file again adds nothing
    assert import_sakana(store, str(src), progress=False) == 0


def test_sakana_file_round_trips(tmp_path):
    original = sakana_rows()
    folder = tmp_path / "in"
    folder.mkdir()
    write_sakana(folder / "level_1.parquet", original[:2])
    write_sakana(folder / "level_2_3.parquet", original[2:])
    store = LocalStore(tmp_path / "a")
    assert import_sakana(store, str(folder), progress=False) == 5
    out = export_sakana(store, tmp_path / "out")
    assert [p.name for p in out] == ["level_1.parquet", "level_2.parquet", "level_3.parquet"]
    back = pa.concat_tables([pq.read_table(p) for p in out])
    assert back.schema.names == list(SAKANA_COLUMNS) and back.schema == SAKANA_SCHEMA
    key = lambda r: r["__index_level_0__"]  # noqa: E731
    assert sorted(back.to_pylist(), key=key) == sorted(original, key=key)
    single = export_sakana(store, tmp_path / "all.parquet")
    assert pq.read_table(single[0]).num_rows == 5


def test_export_of_our_rows_uses_our_measurements(tmp_path):
    rows = synthetic_rows(6, seed=3)
    table = to_sakana(pa.Table.from_pylist([r.to_dict() for r in rows]))
    got = table.to_pylist()
    for r, s in zip(rows, got):
        assert s["Correct"] == (r.status == "verified")
        assert s["CUDA_Runtime"] == r.runtime_ms and s["CUDA_Speedup_Native"] == r.speedup_eager
        assert s["Kernel_Name"] == "k" and s["Level_ID"] == r.level and s["CUDA_Code"] == r.kernel_code


def test_bad_sources_give_clear_errors(tmp_path):
    store = LocalStore(tmp_path / "a")
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"Op_Name": ["x"], "CUDA_Code": ["y"]}), bad)
    with pytest.raises(ArchiveError, match="missing column"):
        import_sakana(store, str(bad), progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ArchiveError, match="no .parquet files"):
        import_sakana(store, str(tmp_path / "empty"), progress=False)
    (tmp_path / "text.parquet").write_text("not parquet")
    with pytest.raises(ArchiveError, match="not a readable parquet"):
        import_sakana(store, str(tmp_path / "text.parquet"), progress=False)
    with pytest.raises(ArchiveError, match="neither a parquet file"):
        import_sakana(store, "no such thing!", progress=False)


def test_reverify_judges_an_imported_row_with_the_real_harness(tmp_path, monkeypatch):
    """One row, CPU backend, small size: the known-good GELU kernel claimed by a Sakana-schema row."""
    from hub.reverify import pending_rows, reverify

    task = (ROOT / "pipeline/tasks/level1/gelu.py").read_text()
    good = dict(sakana_rows()[0], Op_Name="26_GELU_", Task_ID=26, PyTorch_Code_Module=task,
                PyTorch_Code_Functional=task, CUDA_Code=(ROOT / "pipeline/tasks/level1/gelu.cpp").read_text())
    unparsable = dict(sakana_rows()[1], PyTorch_Code_Functional="def broken(:\n", PyTorch_Code_Module="x = 1\n")
    store = LocalStore(tmp_path / "a")
    import_sakana(store, str(write_sakana(tmp_path / "s.parquet", [good, unparsable])), progress=False)
    assert len(pending_rows(store)) == 2
    res = reverify(store, backend="cpu", seeds=1, size="small", progress=False)
    assert res.judged == 1 and res.verified == 1, res
    assert len(res.skipped) == 1 and "syntax error" in res.skipped[0][1]
    assert [c.message for c in store.log()][0].startswith("Reverify 1 imported rows")
    judged = [r for r in store.read().to_list() if r["status"] != "unverified"]
    assert len(judged) == 1
    j = judged[0]
    assert j["status"] == "verified" and j["correct"] and j["backend"] == "cpu" and j["verdict_json"]
    assert j["claimed_speedup_eager"] == pytest.approx(3.0) and j["source"] == "sakana"
    assert j["task_code"] == task and j["operator"] == "reverify"
    assert pending_rows(store) == pending_rows(store)[:1]  # only the unparsable row is left
