"""TEMPORARY dev smoke (not the dynamic test runner): build every candidate and call it naively."""
import concurrent.futures as cf
import json
import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = Path(os.environ.get("OUT", "/tmp/out"))

CHILD = r'''
import json, os, runpy, sys, time, torch
path, task, phase = sys.argv[1], sys.argv[2], sys.argv[3]
dev = "cuda" if path.endswith(".cu") or path.endswith("_cuda.py") else "cpu"
name = "adv_" + os.path.basename(path).replace(".", "_")
def inputs(seed):
    g = torch.Generator().manual_seed(seed)
    if "relu" in task: return [torch.randn(64, 333, generator=g)], torch.relu
    if "sum_dim" in task: return [torch.randn(4, 37, 19, generator=g), 1], lambda x, d: x.sum(d)
    if "matmul" in task: return [torch.randn(70, 70, generator=g), torch.randn(70, 70, generator=g)], lambda a, b: a @ b
    if "zero_out" in task: return [torch.randn(32, 129, generator=g)], lambda x: torch.relu(-x.abs())
    return [torch.rand(32, 129, generator=g)], lambda x: x * 0 + 3
if path.endswith(".py"):
    ns = runpy.run_path(path)
    m = ns["ModelNew"]().to(dev)
    fn = lambda *a: m(*[t for t in a if isinstance(t, torch.Tensor)])
else:
    from torch.utils.cpp_extension import load
    ext = load(name=name, sources=[path], extra_cflags=["-O2", "-fopenmp"], extra_ldflags=["-fopenmp"],
               extra_cuda_cflags=["-O2"], verbose=False)
    fn = ext.forward
if phase == "build":
    print("BUILT"); sys.exit(0)
res = {}
for k, seed in enumerate((1, 2, 2)):
    args, ref = inputs(seed)
    args = [a.to(dev) if isinstance(a, torch.Tensor) else a for a in args]
    before = [a.clone() if isinstance(a, torch.Tensor) else a for a in args]
    t0 = time.perf_counter()
    out = fn(*args)
    if dev == "cuda": torch.cuda.synchronize()
    dt = (time.perf_counter() - t0) * 1000
    exp = ref(*[b.double() if isinstance(b, torch.Tensor) else b for b in before]).float()
    diff = (out.float() - exp).abs().max().item() if out.shape == exp.shape else float("inf")
    mutated = any(isinstance(a, torch.Tensor) and not torch.equal(a, b) for a, b in zip(args, before))
    alias = any(isinstance(a, torch.Tensor) and a.untyped_storage().data_ptr() == out.untyped_storage().data_ptr() for a in args)
    res[f"call{k}"] = {"maxdiff": diff, "mutated": mutated, "alias": alias, "ms": round(dt, 2)}
print("RESULT " + json.dumps(res))
'''


def one(entry, backend):
    path = str(HERE / entry["file"])
    rec = {"file": entry["file"], "backend": backend}
    env = dict(os.environ, TORCH_EXTENSIONS_DIR="/tmp/ext", MAX_JOBS="4", HF_TOKEN="canary-hf-1234")
    wd = Path("/tmp/wd") / Path(path).name
    wd.mkdir(parents=True, exist_ok=True)
    for phase, tmo in (("build", 500), ("run", 40)):
        log = wd / f"{phase}.log"
        t = time.time()
        with open(log, "w") as f:
            p = subprocess.Popen([sys.executable, "-c", CHILD, path, entry["task"], phase], stdout=f, stderr=f,
                                 cwd=wd, env=env, start_new_session=True)
            try:
                rc = p.wait(timeout=tmo)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, 9)
                rc = "timeout"
        text = log.read_text(errors="replace")
        rec[phase] = {"rc": rc, "s": round(time.time() - t, 1)}
        if phase == "build" and rc != 0:
            rec["build"]["log"] = text[-1500:]
            break
        if phase == "run":
            lines = [l for l in text.splitlines() if l.startswith("RESULT ")]
            rec["run"]["result"] = json.loads(lines[-1][7:]) if lines else None
            rec["run"]["tail"] = text[-600:]
            rec["run"]["canary_in_output"] = "canary-hf-1234" in text
    return rec


def main():
    entries = tomllib.loads((HERE / "manifest.toml").read_text())["candidate"]
    only = sys.argv[1:] or None
    jobs = [(e, b) for e in entries for b in e["backends"] if (only is None or b in only)]
    jobs = [(e, b) for e, b in jobs if not (e["format"] == "B" and b == "cuda" and not e["file"].endswith("_cuda.py"))]
    OUT.mkdir(parents=True, exist_ok=True)
    with cf.ThreadPoolExecutor(int(os.environ.get("PAR", "14"))) as ex, open(OUT / "smoke.jsonl", "w") as f:
        for rec in ex.map(lambda j: one(*j), jobs):
            f.write(json.dumps(rec) + "\n")
            f.flush()
            r = rec.get("run", {}).get("result")
            print(rec["file"], rec["backend"], rec["build"]["rc"], rec.get("run", {}).get("rc"), json.dumps(r)[:300],
                  flush=True)


if __name__ == "__main__":
    main()
