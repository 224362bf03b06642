"""Throwaway: every task at default size on the GPU: eager time (TF32 off), input bytes, output sanity,
eager error vs float64 (float64 run on the GPU too)."""
import importlib.util, sys, os, time
import torch
sys.path.insert(0, sys.argv[1] if len(sys.argv) > 1 else "/work/main")
from harness.task import builtin_tasks, BUILTIN_ROOT
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
for tid in builtin_tasks():
    spec = importlib.util.spec_from_file_location(tid.replace("/", "_"), BUILTIN_ROOT / f"{tid}.py")
    m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
    torch.manual_seed(0)
    model = m.Model(*m.get_init_inputs()).cuda()
    ins = [t.cuda() for t in m.get_inputs()]
    nbytes = sum(t.numel() * t.element_size() for t in ins)
    with torch.no_grad():
        out = model(*ins)
        for _ in range(2): model(*ins)
        torch.cuda.synchronize()
        s = torch.cuda.Event(enable_timing=True); e = torch.cuda.Event(enable_timing=True)
        s.record()
        for _ in range(5): model(*ins)
        e.record(); torch.cuda.synchronize()
        ms = s.elapsed_time(e) / 5
        m64 = m.Model(*m.get_init_inputs()); m64.load_state_dict(model.state_dict()); m64 = m64.cuda().double()
        ref = m64(*[t.double() for t in ins])
        rel = ((out.double() - ref).norm() / ref.norm()).item()
        spread = (out.float().std() / out.float().abs().mean()).item() if out.numel() > 1 else float("nan")
    print(f"{tid:34s} in={nbytes/1e9:5.2f}GB out={out.numel()*4/1e9:5.2f}GB eager_ms={ms:7.3f} eager_rel_vs_f64={rel:.1e} out_spread={spread:.2e} finite={bool(torch.isfinite(out).all())}", flush=True)
    del model, ins, out, ref, m64
    torch.cuda.empty_cache()
