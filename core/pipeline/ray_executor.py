"""The Ray executor: the build's tasks on a Ray cluster (see ``core.pipeline.executors``).

Large inputs go to the object store once (:meth:`RayExecutor.put`); a task that raises is retried
``max_retries`` times, a task on a killed worker or node is rescheduled, and a task that still
fails comes back as an :class:`~core.pipeline.executors.Outcome` with ``error`` set instead of
stopping the build. ``import ray`` happens only here, so Ray stays an optional dependency
(``pip install .[ray]``).
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..errors import UserError
from .executors import TASK_THREADS, Outcome, Task, _call_with_threads

__all__ = ["RayExecutor"]


def _describe(exc: BaseException) -> str:
    """One line naming a failed task's error: the task's own exception when there is one."""
    import ray.exceptions

    cause = exc.cause if isinstance(exc, ray.exceptions.RayTaskError) and exc.cause else exc
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[0] if text else ''}".rstrip(": ")


def _check_reachable(address: str, timeout: float = 10.0) -> None:
    """Fail fast when nothing listens at HOST:PORT (``ray.init`` would retry for minutes)."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"`address` must be HOST:PORT, 'auto' or a ray:// URL. Got {address!r} "
                         "instead.")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise UserError(f"No Ray cluster answers at {address} ({exc}). Start its head with "
                           "`ray start --head --port=PORT` or check the address.") from exc


class RayExecutor:
    """Run tasks on a Ray cluster.

    Parameters
    ----------
    address : ``None`` starts a local Ray instance on this machine; ``"auto"`` joins the cluster
        this machine belongs to; ``"HOST:PORT"`` joins the cluster whose head listens there.
    max_retries : extra attempts for a task that raises or whose worker dies (>= 0).
    max_in_flight : tasks submitted and not yet collected; ``None`` = 4 per CPU of the cluster
        (enough to keep every worker busy while bounding the driver's bookkeeping).
    check_every : seconds without any finished task after which the cluster is checked for a node
        able to run the tasks; with none left the build stops with a clear message.
    num_cpus : CPUs of the local instance started when ``address`` is None (default: all).
    device : ``auto`` gives each ``on_device`` task a GPU when the cluster has GPUs; ``cpu``
        never does; ``cuda`` requires them (``ValueError`` when the cluster has none).

    Each task reserves one CPU and runs torch with :data:`TASK_THREADS` threads; each
    ``on_device`` task also one GPU, when the device is CUDA.
    The ``core`` package travels to the workers with the job (``runtime_env.py_modules``), so they
    run the driver's code; they need the same third-party packages (torch, …) installed.
    """

    name = "ray"
    remote = True

    def __init__(self, address: str | None = None, *, max_retries: int = 3,
                 max_in_flight: int | None = None, check_every: float = 30.0,
                 num_cpus: int | None = None, device: str = "auto"):
        if not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(f"`max_retries` must be an integer >= 0. Got {max_retries!r} instead.")
        if max_in_flight is not None and max_in_flight < 1:
            raise ValueError(f"`max_in_flight` must be >= 1. Got {max_in_flight!r} instead.")
        if num_cpus is not None and (address or num_cpus < 1):
            raise ValueError(f"`num_cpus` must be >= 1 and needs address=None (a local instance). "
                             f"Got num_cpus={num_cpus!r}, address={address!r} instead.")
        try:
            import ray
        except ImportError as exc:
            raise UserError("The Ray executor needs Ray: pip install 'ray>=2.9' "
                               "(or pip install .[ray]).") from exc
        self._ray = ray
        if address and "://" not in address and address != "auto":
            _check_reachable(address)
        core_package = Path(__file__).resolve().parents[1]
        runtime_env = {"py_modules": [str(core_package)]}
        options = {} if address else {"include_dashboard": False, "num_cpus": num_cpus}
        try:
            ray.init(address=address, runtime_env=runtime_env, **options)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise UserError(f"Cannot connect to a Ray cluster at {address!r}: {exc}") from exc
        self.address = address
        self.max_retries = max_retries
        self.check_every = check_every
        gpus = ray.cluster_resources().get("GPU", 0) >= 1
        if device == "cuda" and not gpus:
            ray.shutdown()
            raise ValueError(f"--device cuda needs a GPU, and the Ray cluster at "
                             f"{address or 'local'} reports none. Use --device cpu or auto.")
        self.device = "cuda" if gpus and device != "cpu" else "cpu"
        self._max_in_flight = max_in_flight or max(
            8, 4 * int(ray.cluster_resources().get("CPU", 1)))
        self._remote = ray.remote(_call_with_threads)

    def put(self, value: Any) -> Any:
        return self._ray.put(value)

    def _largest_node_cpus(self) -> float:
        return max((n["Resources"].get("CPU", 0.0) for n in self._ray.nodes() if n["Alive"]),
                   default=0.0)

    def run(self, tasks: Iterable[Task]) -> Iterator[Outcome]:
        ray = self._ray
        cpus = float(TASK_THREADS)
        remotes = [self._remote.options(
            num_cpus=cpus, num_gpus=1 if on_device and self.device == "cuda" else 0,
            max_retries=self.max_retries, retry_exceptions=True) for on_device in (False, True)]
        pending: dict[Any, Task] = {}
        queue = iter(tasks)

        def fill() -> None:
            for task in queue:
                remote = remotes[task.on_device]
                pending[remote.remote(task.fn, TASK_THREADS, *task.args, **task.kwargs)] = task
                if len(pending) >= self._max_in_flight:
                    return

        fill()
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=self.check_every)
            if not ready:
                self._check_capacity(cpus)
                continue
            task = pending.pop(ready[0])
            try:
                outcome = Outcome(task, ray.get(ready[0]))
            except ray.exceptions.RuntimeEnvSetupError:
                raise   # the job's environment is broken: every task would fail the same way
            except ray.exceptions.RayError as exc:
                outcome = Outcome(task, error=_describe(exc))
            fill()
            yield outcome

    def _check_capacity(self, cpus: float) -> None:
        if self._largest_node_cpus() < cpus:
            raise UserError(
                f"No live node of the Ray cluster at {self.address or 'local'} has the {cpus:g} "
                "CPU(s) a build task needs (nodes died or left). Finished work is kept: add "
                "capacity and rerun the same command to continue.")

    def close(self) -> None:
        self._ray.shutdown()
