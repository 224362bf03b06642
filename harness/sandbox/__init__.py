"""The sandbox: running one job in an isolated, supervised process, cold or pre-started, on a shared device.

- `runner.run_job(job, ...)`: one job in a fresh sandbox (or a pre-started one) -> `process.RunResult`.
- `warm.WarmPool`: sandboxes pre-started per backend and device, each used for one job.
- `process`: the pieces both use (limits, the supervisor's configuration, collecting messages).
- `choice`: which isolation this host allows (namespaces, Landlock; probed once for CUDA).
- `supervisor` (run as a script) and `landlock`: the isolation itself; `uids`: a uid per run.
- `devlock.DeviceLock`: correctness shares a device, timing has it alone; `devices`: which GPUs exist.
- `private_dir`: folders only the harness's uid may touch (locks, uid leases).
This package imports only torch, the standard library and `harness.worker` (the code it runs).
"""
