"""Throwaway: build each known-good kernel (CPU .cpp here; .cu when run on a GPU machine) and compare
model(*inputs, fn=ext.forward) with a float64 run of model(*inputs) at SMALL size (and default size on GPU),
plus every input variant. Usage: check_kernels.py cpu|cuda [repo_root] [build_root] [default]"""
import importlib.util, sys, time, os
import torch
from torch.utils.cpp_extension import load

backend = sys.argv[1]
root = sys.argv[2] if len(sys.argv) > 2 else "/work/main"
build_root = sys.argv[3] if len(sys.argv) > 3 else "/tmp/tasksuite/build"
sizes = ["small"] + (["default"] if len(sys.argv) > 4 and sys.argv[4] == "default" else [])
TASKS = os.environ.get("TASKS", "level1/gelu level1/softmax level1/sum_dim level1/layernorm level1/rmsnorm level1/matmul level2/linear_bias_gelu level2/add_relu_mul").split()
dev = "cuda" if backend == "cuda" else "cpu"
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False

def load_task(tid, small):
    spec = importlib.util.spec_from_file_location(tid.replace("/", "_") + ("_s" if small else "_d"), f"{root}/pipeline/tasks/{tid}.py")
    m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
    if small:
        for k, v in m.SMALL.items(): setattr(m, k, v)
    return m

def relerr(out, ref):
    return ((out.double() - ref).norm() / ref.norm()).item(), (out.double() - ref).abs().max().item()

def build(tid):
    src = f"{root}/pipeline/tasks/{tid}" + (".cu" if backend == "cuda" else ".cpp")
    bdir = f"{build_root}/{backend}_{tid.replace('/', '_')}"
    os.makedirs(bdir, exist_ok=True)
    return load(name=f"ke_{backend}_{tid.replace('/', '_')}", sources=[src], build_directory=bdir,
               extra_cflags=["-O3", "-fopenmp"], extra_ldflags=["-fopenmp"],
               extra_cuda_cflags=["-O3"], verbose=False)

def build_only(tid):
    build(tid)

if os.environ.get("PREBUILD"):
    import multiprocessing as mp
    with mp.get_context("fork").Pool(len(TASKS)) as pool:
        pool.map(build_only, TASKS)
    print("prebuilt", flush=True)

ok = True
for tid in TASKS:
    t0 = time.time()
    ext = build(tid)
    print(f"built {tid} ({backend}) in {time.time()-t0:.0f}s", flush=True)
    for size in sizes:
        m = load_task(tid, size == "small")
        torch.manual_seed(0)
        model = m.Model(*m.get_init_inputs()).to(dev)
        lists = [m.get_inputs()] + (m.get_input_variants() if hasattr(m, "get_input_variants") else [])
        for ins in lists:
            ins = [t.to(dev) for t in ins]
            with torch.no_grad():
                out = model(*ins, fn=ext.forward)
                eager = model(*ins)
                m64 = m.Model(*m.get_init_inputs()); m64.load_state_dict(model.state_dict()); m64 = m64.to(dev).double()
                ref = m64(*[t.double() for t in ins])
                out2 = model(*ins, fn=ext.forward)
            e_k, d_k = relerr(out, ref); e_e, _ = relerr(eager, ref)
            det = torch.equal(out, out2)
            good = out.shape == ref.shape and out.dtype == torch.float32 and e_k < 1e-5 and det
            ok &= good
            line = f"{tid:26s} {size:7s} {str(tuple(ins[0].shape)):22s} kernel_rel={e_k:.2e} eager_rel={e_e:.2e} maxdiff={d_k:.2e} deterministic={det} {'OK' if good else 'FAIL'}"
            if backend == "cuda" and size == "default":
                def t(f):
                    for _ in range(3): f()
                    torch.cuda.synchronize(); s = torch.cuda.Event(enable_timing=True); e = torch.cuda.Event(enable_timing=True)
                    s.record(); [f() for _ in range(10)]; e.record(); torch.cuda.synchronize(); return s.elapsed_time(e) / 10
                with torch.no_grad():
                    tk = t(lambda: model(*ins, fn=ext.forward)); te = t(lambda: model(*ins))
                line += f" kernel_ms={tk:.3f} eager_ms={te:.3f}"
            print(line, flush=True)
            del out, eager, ref, out2, m64
        del model
        if dev == "cuda": torch.cuda.empty_cache()
print("ALL OK" if ok else "PROBLEMS")
