"""Executors: many candidates judged at once, behind one seam.

- `local.Executor` (the Protocol: `submit(candidate, **verify_kw) -> Future[Verdict]`) and
  `local.LocalExecutor` (a thread pool on this machine).
- `gpu_pool.GpuPoolExecutor`: builds on CPU threads, verifications spread over the visible GPUs.
- `ray_executor.RayExecutor`: a Ray cluster (optional dependency).
- `factory.make_executor(kind, ...)`: choose one by name.
- `bench`: the harness throughput benchmark over the repository's corpora.
"""
