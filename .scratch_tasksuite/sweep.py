"""Throwaway: rewrite each tunable of each known-good kernel to every listed value (one at a time from the
default, plus corner combinations for the tiled GEMMs), build all in parallel, check correctness at SMALL
size and on every variant against float64. Usage: sweep.py cuda|cpu repo_root build_root"""
import importlib.util, itertools, multiprocessing as mp, os, re, sys
import torch
from torch.utils.cpp_extension import load
backend, root, build_root = sys.argv[1], sys.argv[2], sys.argv[3]
dev = "cuda" if backend == "cuda" else "cpu"
TUN = re.compile(r"^#define\s+(\w+)\s+(\S+)\s*//\s*tunable:\s*(.+)$", re.M)
TASKS = "level1/gelu level1/softmax level1/sum_dim level1/layernorm level1/rmsnorm level1/matmul level2/linear_bias_gelu level2/add_relu_mul".split()
ext_ = ".cu" if backend == "cuda" else ".cpp"
jobs = []
for tid in TASKS:
    src = open(f"{root}/pipeline/tasks/{tid}{ext_}").read()
    tun = {m.group(1): (m.group(2), m.group(3).split()) for m in TUN.finditer(src)}
    settings = []
    for name, (cur, opts) in tun.items():
        settings += [{name: v} for v in opts if v != cur]
    names = list(tun)
    if {"BM", "BN", "TM", "TN"} <= set(names) and backend == "cuda":
        for combo in itertools.product(*[tun[n][1] for n in names]):
            d = dict(zip(names, combo))
            if (d["BM"], d["BN"], d["TM"], d["TN"]) in (("64", "64", "8", "8"), ("128", "128", "4", "4"), ("128", "64", "8", "4")) and d["BK"] in ("8", "32"):
                settings.append(d)
    for i, d in enumerate(settings):
        s = src
        for n, v in d.items():
            s = re.sub(rf"^#define\s+{n}\s+\S+(\s*//\s*tunable:)", rf"#define {n} {v}\1", s, flags=re.M)
        name = f"sw_{backend}_{tid.replace('/', '_')}_{i}"
        os.makedirs(f"{build_root}/{name}", exist_ok=True)
        path = f"{build_root}/{name}/{name}{ext_}"
        open(path, "w").write(s)
        jobs.append((tid, d, name, path))
print(len(jobs), "variants", flush=True)

def build(job):
    tid, d, name, path = job
    try:
        load(name=name, sources=[path], build_directory=os.path.dirname(path), extra_cflags=["-O3", "-fopenmp"],
             extra_ldflags=["-fopenmp"], extra_cuda_cflags=["-O3"], verbose=False)
        return None
    except Exception as e:
        return f"{name} {d}: {str(e)[-800:]}"

with mp.get_context("fork").Pool(min(16, len(jobs))) as pool:
    errs = [e for e in pool.map(build, jobs) if e]
for e in errs: print("BUILD FAIL", e, flush=True)

def task(tid):
    spec = importlib.util.spec_from_file_location(tid.replace("/", "_"), f"{root}/pipeline/tasks/{tid}.py")
    m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
    for k, v in m.SMALL.items(): setattr(m, k, v)
    return m
bad = len(errs)
for tid, d, name, path in jobs:
    ext = load(name=name, sources=[path], build_directory=os.path.dirname(path), extra_cflags=["-O3", "-fopenmp"],
               extra_ldflags=["-fopenmp"], extra_cuda_cflags=["-O3"], verbose=False)
    m = task(tid); torch.manual_seed(1)
    model = m.Model(*m.get_init_inputs()).to(dev)
    worst = 0.0
    for ins in [m.get_inputs()] + (m.get_input_variants() if hasattr(m, "get_input_variants") else []):
        ins = [t.to(dev) for t in ins]
        with torch.no_grad():
            out = model(*ins, fn=ext.forward)
            m64 = m.Model(*m.get_init_inputs()); m64.load_state_dict(model.state_dict()); m64 = m64.to(dev).double()
            ref = m64(*[t.double() for t in ins])
        worst = max(worst, ((out.double() - ref).norm() / ref.norm()).item())
    ok = worst < 1e-5
    bad += not ok
    print(f"{tid:26s} {str(d):60s} worst_rel={worst:.2e} {'OK' if ok else 'FAIL'}", flush=True)
print("SWEEP OK" if bad == 0 else f"SWEEP PROBLEMS {bad}")
