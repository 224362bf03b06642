"""Judging candidates on an existing Ray cluster: the `ray` implementation of the `Executor` seam.

Each `submit` becomes one Ray task that runs `harness.judge.verify.verify` (build and
verify) inside a Ray worker, with `num_gpus` GPU resources reserved for it, so
Ray alone decides where and when it runs: there is no scheduler here. Ray sets
`CUDA_VISIBLE_DEVICES` of the worker to the GPU it reserved, and the harness's
runner passes that on to the sandboxed candidate process.

Build cache: builds happen inside the Ray task, on the node that runs it, in the
content-addressed cache at `KERNEL_EVOLVE_CACHE`. Pass `cache_dir=` a path on
storage every node mounts (NFS, Lustre, ...) to share builds across the
cluster (entries are published by atomic rename, so concurrent nodes never see a
half-written build); without it each node keeps its own cache. Nothing is
shipped with the task except the candidate and the verify options.

Code: the `harness` package must be importable on every node (install
kernel-evolve there, same version), or pass `ship_code=True` to upload this
checkout's `harness/` through Ray's `runtime_env` `py_modules`.

The verdict comes back as JSON (the harness's wire format for verdicts) and is
turned back into a `Verdict` here; `submit` returns a
`concurrent.futures.Future`, like `LocalExecutor`. `ray` is an optional
dependency (`pip install "kernel-evolve[ray]"`), imported only when used.
"""
from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path
from typing import Any

from harness.types import Candidate, Verdict

RAY_MISSING = ("the `ray` executor needs Ray, which is not installed: pip install 'kernel-evolve[ray]' "
               "(or pip install 'ray[default]'), or use the local executor")


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise RuntimeError(RAY_MISSING) from None
    return ray


def _verify_in_worker(candidate: Candidate, verify_kw: dict[str, Any]) -> str:
    """Runs inside a Ray worker: build + verify one candidate, return the verdict as JSON."""
    from harness.judge.verify import verify

    return verify(candidate, **verify_kw).to_json()


class RayExecutor:
    """Submits build+verify tasks to a Ray cluster; one task per candidate.

    address: None joins the Ray instance already initialised in this process, or starts a local one;
             "auto" joins the cluster this machine belongs to; "ray://host:10001" joins a remote one.
    num_gpus_per_task: GPUs reserved per timed task; None means 1 when the task runs on CUDA
             (backend "cuda", or "auto" on a cluster that has GPUs), else 0.
    num_gpus_untimed: GPUs reserved by a CUDA task with timing=False (correctness runs may share a GPU).
    """

    def __init__(self, address: str | None = None, *, num_gpus_per_task: float | None = None,
                 num_gpus_untimed: float = 0.25, num_cpus_per_task: float = 1.0, cache_dir: str | None = None,
                 ship_code: bool = False, runtime_env: dict[str, Any] | None = None,
                 init_kwargs: dict[str, Any] | None = None):
        ray = import_ray()
        self._ray = ray
        if not ray.is_initialized():
            try:
                ray.init(address=address, **(init_kwargs or {}))
            except ConnectionError as e:
                raise RuntimeError(f"cannot reach the Ray cluster at {address!r}: {e}") from None
        env = dict(runtime_env or {})
        if cache_dir:
            env["env_vars"] = dict(env.get("env_vars", {}), KERNEL_EVOLVE_CACHE=str(cache_dir))
        if ship_code:
            env["py_modules"] = list(env.get("py_modules", [])) + [str(Path(__file__).resolve().parents[1])]
        self._runtime_env = env or None
        self._num_gpus = num_gpus_per_task
        self._num_gpus_untimed = num_gpus_untimed
        self._num_cpus = num_cpus_per_task
        self._remote = ray.remote(max_retries=0)(_verify_in_worker)

    def cluster_gpus(self) -> float:
        return float(self._ray.cluster_resources().get("GPU", 0.0))

    def _gpus_for(self, verify_kw: dict[str, Any]) -> float:
        backend = verify_kw.get("backend", "auto")
        on_cuda = backend == "cuda" or (backend == "auto" and self.cluster_gpus() > 0)
        if not on_cuda:
            return 0.0
        if not verify_kw.get("timing", True):
            return self._num_gpus_untimed
        return 1.0 if self._num_gpus is None else float(self._num_gpus)

    def submit(self, candidate: Candidate, **verify_kw: Any) -> "Future[Verdict]":
        gpus = self._gpus_for(verify_kw)
        if gpus > 0 and self.cluster_gpus() == 0:
            # Ray would keep such a task pending forever (infeasible); say so instead.
            failed: "Future[Verdict]" = Future()
            failed.set_exception(ValueError(
                f"backend {verify_kw.get('backend', 'auto')!r} needs {gpus:g} GPU per task but the Ray cluster "
                "has no GPU resources: add GPU nodes or use backend 'cpu'"))
            return failed
        opts: dict[str, Any] = {"num_gpus": gpus, "num_cpus": self._num_cpus}
        if self._runtime_env:
            opts["runtime_env"] = self._runtime_env
        ref = self._remote.options(**opts).remote(candidate, dict(verify_kw))
        return _chain(ref.future())

    def shutdown(self) -> None:
        """Leaves the cluster (and the Ray instance) running: it is not this executor's to stop."""

    def __enter__(self) -> "RayExecutor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


def _chain(raw: "Future[str]") -> "Future[Verdict]":
    """A future of the Verdict parsed from the Ray task's JSON; a task error is re-raised from it."""
    out: "Future[Verdict]" = Future()
    out.set_running_or_notify_cancel()

    def done(f: "Future[str]") -> None:
        try:
            out.set_result(Verdict.from_json(f.result()))
        except BaseException as e:  # noqa: BLE001 - hand every failure to the caller through the future
            out.set_exception(e)

    raw.add_done_callback(done)
    return out


__all__ = ["RayExecutor", "import_ray", "RAY_MISSING"]
