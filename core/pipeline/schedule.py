"""The build's scheduling policy: in which order its tasks run, and when a task may start.

- :func:`order_models`: the models to build split into those whose checkpoint is cached (no
  task), those that start from nothing — the dense parents first (their children wait for them),
  with any parent missing from the cache, then MPT and the other dense models, longest first —
  and the pruned models, whose short tasks follow as their parents finish and fill the workers'
  last gaps.
- :class:`ModelTasks`: those tasks as one lazy stream, each pruned model once its dense parent's
  weights exist (a parent that failed fails its children).
- :func:`costliest_first`: the evaluation tasks by their architecture's forward cost, so the
  cheap ones fill the workers' last gaps instead of one large model running alone at the end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..models import forward_macs, model_from_config
from .checkpoints import Checkpoints
from .executors import Task
from .plan import PARENTLESS_METHODS, ModelJob

__all__ = ["ModelOrder", "order_models", "ModelTasks", "costliest_first"]


@dataclass(frozen=True)
class ModelOrder:
    cached: list[ModelJob]          # checkpoint in the cache: registered without a task
    independent: list[ModelJob]     # tasks that start from nothing, in this order
    pruned: list[ModelJob]          # tasks that start from their dense parent's weights
    parent_of: dict[ModelJob, ModelJob]

    @property
    def n_tasks(self) -> int:
        """Models of the stage, cached ones included (each counts as one finished task)."""
        return len(self.cached) + len(self.independent) + len(self.pruned)


def order_models(todo: list[ModelJob], parent: Callable[[ModelJob], ModelJob],
                 checkpoints: Checkpoints) -> ModelOrder:
    """The order of the models ``todo`` (see the module docstring); ``parent``: the dense
    parent job of a pruned job."""
    cached = [j for j in todo if checkpoints.has(j)]
    building = [j for j in todo if j not in cached]
    pruned = [j for j in building if j.method not in PARENTLESS_METHODS]
    parent_of = {j: parent(j) for j in pruned}
    parent_paths = {checkpoints.path_of(p) for p in parent_of.values()}
    independent = [j for j in building if j.method == "dense"
                   and checkpoints.path_of(j) in parent_paths]
    planned = {checkpoints.path_of(j) for j in independent}
    for dense in parent_of.values():
        path = checkpoints.path_of(dense)
        if path not in planned and not path.is_file():
            independent.append(dense)
            planned.add(path)
    independent += sorted((j for j in building if j.method in PARENTLESS_METHODS
                           and j not in independent),
                          key=lambda j: ("mpt", "dense").index(j.method))
    return ModelOrder(cached, independent, pruned, parent_of)


class ModelTasks:
    """The tasks of a :class:`ModelOrder` (without its cached models) as one stream.

    ``make_task(job, parent_state)`` builds a job's task (``parent_state``: the handle of its
    dense parent's state bytes, None for the independent jobs); ``cached_state(parent)`` is that
    handle for a parent whose checkpoint is in the cache; ``skip(job, reason)`` is called for a
    pruned job whose parent failed. The caller reports each finished dense model
    (:meth:`parent_built`, :meth:`parent_failed`) and pulls :meth:`tasks` again while
    :attr:`pending` is non-zero.
    """

    def __init__(self, order: ModelOrder, checkpoints: Checkpoints,
                 make_task: Callable[[ModelJob, Any], Task],
                 cached_state: Callable[[ModelJob], Any],
                 skip: Callable[[ModelJob, str], None]):
        self._make_task, self._skip = make_task, skip
        self._parent_of = order.parent_of
        self._parent_path = {j: checkpoints.path_of(p) for j, p in order.parent_of.items()}
        self._states: dict[Path, Any] = {}      # parent checkpoint → handle of its state bytes
        self._failed: set[Path] = set()
        building = {checkpoints.path_of(j) for j in order.independent}
        for job, path in self._parent_path.items():
            if path not in self._states and path not in building:   # in the cache: read it
                self._states[path] = cached_state(order.parent_of[job])
        self._queue, self._waiting = list(order.independent), list(order.pruned)

    @property
    def pending(self) -> int:
        """Jobs not handed out yet."""
        return len(self._queue) + len(self._waiting)

    def parent_built(self, checkpoint: Path, state: Any) -> None:
        self._states[checkpoint] = state

    def parent_failed(self, checkpoint: Path) -> None:
        self._failed.add(checkpoint)

    def tasks(self) -> Iterator[Task]:
        """The tasks that can start now; consumed lazily, so each pull sees the parents
        finished so far. Ends when the rest wait for parents still running."""
        while self._queue or self._waiting:
            if self._queue:
                yield self._make_task(self._queue.pop(0), None)
                continue
            ready = [j for j in self._waiting if self._parent_path[j] in self._states
                     or self._parent_path[j] in self._failed]
            if not ready:
                return
            for job in ready:
                self._waiting.remove(job)
                path = self._parent_path[job]
                if path in self._failed:
                    self._skip(job, f"not run: its dense parent {self._parent_of[job].model_id} "
                                    "failed")
                else:
                    yield self._make_task(job, self._states[path])


def costliest_first(benchmarks_of: dict[str, tuple[str, ...]], config_of: dict[str, str],
                    input_shape: tuple[int, int, int]) -> dict[str, tuple[str, ...]]:
    """``benchmarks_of`` (model id → its benchmarks to evaluate) reordered by the forward cost
    (multiply-accumulates) of each model's architecture config ``config_of[model_id]`` on one
    input of ``input_shape`` (C, H, W), costliest first."""
    macs = {cfg: forward_macs(model_from_config(cfg).eval(), input_shape)
            for cfg in {config_of[m] for m in benchmarks_of}}
    return dict(sorted(benchmarks_of.items(), key=lambda item: -macs[config_of[item[0]]]))
