"""Executors: where the build's tasks run.

A task is a pure function call — ``fn(*args, **kwargs)`` with arrays, configs and checkpoint bytes
in, results out (see ``core.pipeline.tasks``). The builder hands an executor an iterable of tasks
and receives their outcomes as they finish; it stays the single writer of the database.

Every executor runs a task with :data:`TASK_THREADS` torch threads. Float reductions split their
work by thread count, so trained weights depend on it in their low bits; one count everywhere
makes a build give the same tables on any executor, any number of workers, any machine size.
Every executor also makes the process that runs a task keep freed memory for reuse
(:func:`retain_freed_memory`), which changes speed, not results.

- :class:`LocalExecutor` (the default of :func:`core.pipeline.build.build`) runs each task in this
  process, in order; an exception in a task propagates, as a plain function call would.
- :class:`PoolExecutor` (the default of ``python -m core build``) runs tasks in worker processes of
  this machine, one torch thread each: small networks use a core far better alone than split over
  several threads, so two workers on two cores finish nearly twice the work of one process. Large
  inputs go to memory-mapped files once (:meth:`PoolExecutor.put`); a task that raises comes back
  as an :class:`Outcome` with ``error`` set.
- :class:`core.pipeline.ray_executor.RayExecutor` runs tasks on a Ray cluster (see that module).

Every executor has a ``device`` (``core.device``) that the builder hands to the network-bound
tasks (those it marks ``on_device``). The local executor runs them on it in this process; the
pool executor, on a device with the device branch (a GPU), runs them in one device worker of
their own and the other tasks in its CPU workers (``core.device`` says why).
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from collections.abc import Callable, Hashable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..device import Device

__all__ = ["Task", "Outcome", "Executor", "LocalExecutor", "PoolExecutor", "make_executor",
           "collect", "retain_freed_memory", "EXECUTORS", "TASK_THREADS"]

EXECUTORS = ("local", "pool", "ray")

# Torch intra-op threads of every task (see the module docstring). One: the build's networks are
# small, and a core serves one task better than a share of several.
TASK_THREADS = 1

# glibc's malloc hands every block above its mmap threshold back to the kernel when freed, so a
# network's activations (megabytes per batch) are mapped, zero-filled page by page and unmapped
# again in every forward pass: a quarter of the build's CPU time went to the kernel. Task
# processes keep freed memory for reuse instead (see `retain_freed_memory`).
_MMAP_THRESHOLD = 1 << 30        # bytes: blocks below 1 GiB come from the heap
_TRIM_THRESHOLD = (1 << 31) - 1  # bytes of free heap top kept before giving any back
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3   # mallopt's parameter numbers (malloc.h)


@functools.cache
def retain_freed_memory() -> bool:
    """Make this process's malloc (glibc) keep freed blocks for reuse instead of returning them
    to the kernel. Tasks then run 1.2–1.6× faster on the CPU (``bench/malloc.py``); the cost is
    a resident size that stays at the process's peak. Called by every executor before a task
    (it acts once per process). Returns whether the setting is in force: False where the C
    library is not glibc."""
    import ctypes
    import ctypes.util

    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
                and mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))


@dataclass(frozen=True)
class Task:
    """One call ``fn(*args, **kwargs)``; ``key`` identifies it to the caller, ``label`` names it in
    messages (e.g. ``"evaluate lenet5-dense-r0.0-s0 on clean"``)."""

    key: Hashable
    label: str
    fn: Callable[..., Any]
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    on_device: bool = False     # runs a network on the executor's device (see core.device)


@dataclass(frozen=True)
class Outcome:
    """A finished task: ``value`` is its return value, or ``error`` says why it failed for good."""

    task: Task
    value: Any = None
    error: str | None = None


class Executor(Protocol):
    name: str
    device: Device | str  # where the on_device tasks run: a Device, or "cuda"/"cpu" (Ray)
    remote: bool         # tasks run in other processes (no progress bars inside tasks)

    def put(self, value: Any) -> Any:
        """A handle for a large input shared by many tasks; pass it as a top-level argument."""

    def run(self, tasks: Iterable[Task]) -> Iterator[Outcome]:
        """Run ``tasks`` (consumed lazily) and yield their outcomes as they finish."""

    def close(self) -> None:
        """Release the executor's resources."""


class LocalExecutor:
    """Run tasks one after another in this process (no retries: an exception propagates),
    the ``on_device`` ones on ``device``."""

    name = "local"
    remote = False

    def __init__(self, *, device: Device | None = None):
        self.device = device or Device()

    def put(self, value: Any) -> Any:
        return value

    def run(self, tasks: Iterable[Task]) -> Iterator[Outcome]:
        for task in tasks:
            yield Outcome(task, _call_with_threads(task.fn, TASK_THREADS, *task.args,
                                                   **task.kwargs))

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class _SharedArray:
    """A handle of :meth:`PoolExecutor.put`: a ``.npy`` file that workers memory-map."""

    path: str


_MAPPED: dict[str, Any] = {}    # a worker's memory maps, by file: tasks share the page cache


def _resolve(value: Any) -> Any:
    if not isinstance(value, _SharedArray):
        return value
    if value.path not in _MAPPED:
        import numpy as np

        _MAPPED[value.path] = np.load(value.path, mmap_mode="r")
    return _MAPPED[value.path]


@contextmanager
def _plain_main():
    """Start workers without re-running this process's ``__main__`` in them: spawn re-imports a
    main script by path, and when that script is a Streamlit app (the app, or a test of it)
    running it in a worker fails. The tasks never need it."""
    import sys
    import types

    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


def _exit_with_parent(parent: int) -> None:
    """Stop this worker once the build process that started it is gone (killed, even by
    SIGKILL): its task's result would have nobody to receive it. The main thread may be
    blocked (importing torch, reading a queue whose other end is shared with its siblings and
    never closes), so a daemon thread polls and ends the whole process."""
    import time

    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def _init_worker(parent: int, threads: int) -> None:
    """A pool worker's start: watch the build process ``parent`` first (it passes its own pid, as
    ``os.getppid()`` read here would already name init if the build died while this process
    started), then import torch, which takes seconds."""
    import threading

    if os.getppid() != parent:
        os._exit(1)
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True,
                     name="exit-with-parent").start()
    import torch

    torch.set_num_threads(threads)
    retain_freed_memory()


def _call_resolved(fn: Callable[..., Any], *args, **kwargs) -> Any:
    """The worker's task body: replace shared-array handles by their memory maps, then call."""
    return fn(*map(_resolve, args), **kwargs)


class PoolExecutor:
    """Run tasks in ``workers`` processes of this machine (``None``: one per CPU core).

    Each worker runs torch with :data:`TASK_THREADS` intra-op threads, so results equal those
    of :class:`LocalExecutor`. Workers start with the executor and serve every :meth:`run`
    until :meth:`close`. A task that raises, or
    whose worker dies, comes back as an :class:`Outcome` with ``error`` set; a dead worker's pool is
    replaced for the tasks that follow.

    With a ``device`` that uses the device branch (``Device.dedicated``, a GPU), one of the
    ``workers`` is the device worker: every ``on_device`` task runs there, the others in the
    remaining ``workers − 1`` CPU workers (at least one).
    """

    name = "pool"
    remote = True

    def __init__(self, workers: int | None = None, *, max_in_flight: int | None = None,
                 device: Device | None = None):
        workers = (os.cpu_count() or 1) if workers is None else workers
        if not isinstance(workers, int) or workers < 1:
            raise ValueError(f"`workers` must be an integer >= 1. Got {workers!r} instead.")
        self.workers = workers
        self.device = device or Device()
        # Two tasks per worker: one running, one queued, so no worker waits for the driver.
        self._max_in_flight = max_in_flight or 2 * workers
        # Pool 0: the CPU workers; pool 1: the device worker (device branch only).
        self._sizes = ((max(1, workers - 1), 1) if self.device.dedicated else (workers,))
        self._pools: list = [None] * len(self._sizes)
        self._shared_dir: str | None = None
        # Start the workers now: importing torch in them overlaps the caller's own start-up
        # (loading data, generating benchmarks) instead of delaying the first tasks.
        for which, size in enumerate(self._sizes):
            for _ in range(size):
                self._submit(which, os.getpid)

    def put(self, value: Any) -> Any:
        import numpy as np

        if not isinstance(value, np.ndarray) or value.nbytes < 2**16:
            return value          # small values travel with each task
        if self._shared_dir is None:
            self._shared_dir = tempfile.mkdtemp(prefix="robustness-pool-")
        fd, path = tempfile.mkstemp(dir=self._shared_dir, suffix=".npy")
        with os.fdopen(fd, "wb") as handle:
            np.save(handle, value, allow_pickle=False)
        return _SharedArray(path)

    def _pool_of(self, task: Task) -> int:
        return 1 if task.on_device and self.device.dedicated else 0

    def _submit(self, which: int, fn: Callable[..., Any], *args, **kwargs):
        with _plain_main():      # a submit may start workers
            return self._executor(which).submit(fn, *args, **kwargs)

    def _executor(self, which: int):
        if self._pools[which] is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            # spawn, not fork: a forked copy of a process that already ran torch threads can hang
            # (and CUDA cannot be used in a forked child).
            self._pools[which] = ProcessPoolExecutor(
                self._sizes[which], mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker, initargs=(os.getpid(), TASK_THREADS))
        return self._pools[which]

    def run(self, tasks: Iterable[Task]) -> Iterator[Outcome]:
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures.process import BrokenProcessPool

        pending: dict[Any, Task] = {}
        queue = iter(tasks)

        def fill() -> None:
            for task in queue:
                future = self._submit(self._pool_of(task), _call_resolved, task.fn, *task.args,
                                      **task.kwargs)
                pending[future] = task
                if len(pending) >= self._max_in_flight:
                    return

        fill()
        while pending:
            done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            for future in done:
                task = pending.pop(future)
                try:
                    outcome = Outcome(task, future.result())
                except BrokenProcessPool:
                    outcome = Outcome(task, error="a worker process died (killed, or out of "
                                                  "memory) while this task ran")
                    self._discard_pool(self._pool_of(task))
                except Exception as exc:  # the task's own error, re-raised from the worker
                    text = str(exc).strip().splitlines()
                    outcome = Outcome(task, error=f"{type(exc).__name__}: "
                                                  f"{text[0] if text else ''}".rstrip(": "))
                yield outcome
            fill()

    def _discard_pool(self, which: int) -> None:
        if self._pools[which] is not None:
            self._pools[which].shutdown(wait=False, cancel_futures=True)
            self._pools[which] = None

    def close(self) -> None:
        for which, pool in enumerate(self._pools):
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
                self._pools[which] = None
        if self._shared_dir is not None:
            shutil.rmtree(self._shared_dir, ignore_errors=True)
            self._shared_dir = None


def _call_with_threads(fn: Callable[..., Any], threads: int, *args, **kwargs) -> Any:
    """Run ``fn`` with ``threads`` torch intra-op threads (:data:`TASK_THREADS`), then restore the
    process's own count: the task body of the local and the Ray executors."""
    import torch

    retain_freed_memory()
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return fn(*args, **kwargs)
    finally:
        torch.set_num_threads(before)


def collect(executor: Executor, tasks: Iterable[Task]) -> dict[Hashable, Any]:
    """Run ``tasks`` that must all succeed: {task key: value}. The first failed task raises
    ``RuntimeError`` naming it (for steps whose results mean nothing incomplete)."""
    values = {}
    for outcome in executor.run(tasks):
        if outcome.error is not None:
            raise RuntimeError(f"{outcome.task.label} failed: {outcome.error}")
        values[outcome.task.key] = outcome.value
    return values


def make_executor(name: str = "local", *, address: str | None = None,
                  max_retries: int = 3, workers: int | None = None,
                  device: str = "auto") -> Executor:
    """The executor called ``name`` (one of :data:`EXECUTORS`); ``workers``: processes of the
    pool executor (default one per CPU core); ``device``: ``auto``, ``cpu`` or ``cuda``
    (:func:`core.device.resolve_device`; for Ray, the cluster's GPUs)."""
    from ..device import resolve_device

    if name not in EXECUTORS:
        raise ValueError(f"`executor` must be one of {', '.join(EXECUTORS)}. Got {name!r} instead.")
    if address is not None and name != "ray":
        raise ValueError("`address` (--ray-address) needs the Ray executor (--executor ray).")
    if workers is not None and name != "pool":
        raise ValueError("`workers` (--workers) needs the pool executor (--executor pool).")
    if name == "local":
        return LocalExecutor(device=resolve_device(device))
    if name == "pool":
        return PoolExecutor(workers, device=resolve_device(device))
    from .ray_executor import RayExecutor

    resolve_device("cpu" if device == "cuda" else device)   # only checks the choice
    return RayExecutor(address, max_retries=max_retries, device=device)
