"""The build: data → dense and pruned models → benchmarks → (model × benchmark) geometry →
analysis.

Resumable and crash-safe. A build holds the database's writer lock from start to end (a second
writer fails at once); all writes go to the work file (``core.pipeline.publish``); each unit of
work (a model row, one model's results on all its benchmarks, one analysis table) is one
transaction, and checkpoints and corrupted sets are written to temporary files and renamed.
After each stage — and every ``publish_every`` seconds during long stages — the work file is
published atomically, so the app (read-only) always sees a complete database while the build
runs. A rerun continues from the work file (or the published DB) and skips finished work: a
model counts as built when its stored fingerprint equals the plan's (``core.pipeline.plan``); a
changed setting rebuilds exactly the models it affects, and their results. Whatever can be
checked before the work starts (the evaluation subset, a pre-made benchmark directory, ids
taken by ``add-model``) is checked first.

:class:`Builder` only sequences the stages and writes their results: what to build comes from
``core.pipeline.plan``, in which order from ``core.pipeline.schedule``, checkpoints from
``core.pipeline.checkpoints``; the work itself runs as tasks (``core.pipeline.tasks``) on an
executor (``core.pipeline.executors``): in this process by default, worker processes, or a Ray
cluster. Results come back to this process, the single database writer, as tasks finish.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from .. import store
from ..store import builds as store_builds
from .build_inputs import BuildData, benchmark_images, check_database_fits, load_build_data
from .checkpoints import Checkpoints
from .executors import Executor, LocalExecutor, Task
from .experiment import Experiment
from .plan import (PARENTLESS_METHODS, BenchmarkRow, BuildPlan, ModelJob, dense_parent,
                   describe_change, evaluation_pairs, plan_build, subset_fingerprint)
from .publish import WorkFile
from .schedule import ModelOrder, ModelTasks, costliest_first, order_models
from .seed_population import update_seed_population
from .study import update_dimension_study
from .tasks import (ModelEvaluation, ModelWeights, TrainedModel, evaluate_model_task,
                    model_summary, train_model_task)

__all__ = ["Builder", "build", "BuildFailed", "BuildReport", "BuildData"]

logger = logging.getLogger(__name__)


class BuildFailed(RuntimeError):
    """Some tasks failed for good (after their retries); everything else is in the database."""

    def __init__(self, failures: list[str]):
        self.failures = list(failures)
        shown = "\n".join(f"  {f}" for f in failures[:20])
        more = f"\n  ... and {len(failures) - 20} more" if len(failures) > 20 else ""
        super().__init__(
            f"{len(failures)} task(s) failed; finished work is kept, rerun the same command to "
            f"retry them:\n{shown}{more}")


@dataclass(frozen=True)
class BuildReport:
    """What a build did: seconds per stage, and whether the database was already up to date
    (nothing to do: the published file is untouched)."""

    timings: dict[str, float]
    up_to_date: bool


class _Tally:
    """Finished tasks of one stage, for its ``build_progress`` row."""

    def __init__(self, stage: str, total: int):
        self.stage, self.total, self.done = stage, total, 0


def _label(job: ModelJob) -> str:
    return f"{'build' if job.registered else 'build parent'} {job.model_id}"


class Builder:
    """Runs one experiment into one database file."""

    def __init__(self, experiment: Experiment, db_path: str | Path, *,
                 cache_dir: str | Path = "cache", progress: bool = True,
                 publish_every: float = 30.0, executor: Executor | None = None):
        self.e = experiment
        self.executor = executor or LocalExecutor()
        self.db = WorkFile(db_path, publish_every=publish_every)
        self.cache = Path(cache_dir)
        self.checkpoints = Checkpoints(experiment, cache_dir)
        self.progress = progress
        self.failures: list[str] = []
        self.bar: tqdm | None = None      # created by the first stage that has tasks

    @property
    def db_path(self) -> Path:
        return self.db.db_path

    @property
    def con(self):
        return self.db.con

    # --- bookkeeping ---------------------------------------------------------------------
    def _finished(self, label: str, error: str | None = None) -> bool:
        """Count a finished task; record it when it failed. True when it succeeded."""
        self.bar.update(1)
        self.bar.set_postfix_str(label, refresh=False)
        if error is None:
            return True
        self.failures.append(f"{label}: {error}")
        logger.warning("failed: %s", self.failures[-1])
        return False

    def _add_to_bar(self, n_tasks: int) -> None:
        """One progress bar for the whole grid (models, then pairs); stages add their tasks."""
        if self.bar is None:
            self.bar = tqdm(total=0, desc="grid", disable=not self.progress, unit="task")
        self.bar.total += n_tasks
        self.bar.refresh()

    # --- stages --------------------------------------------------------------------------
    def run(self) -> BuildReport:
        """Run every stage; raises :class:`BuildFailed` (after publishing) when tasks failed,
        :class:`core.pipeline.publish.DatabaseBusy` when another process writes the database, and
        ValueError when the database does not fit the experiment (nothing written then)."""
        with self.db:       # the writer lock, held for the whole build
            return self._run_locked()

    def _run_locked(self) -> BuildReport:
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        data = self._load_data()
        plan = plan_build(self.e, data.shape)
        self._check_database(data, plan)
        timings["data"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        benchmark_images = self._benchmark_images(data)   # a bad pre-made set fails here, early
        benchmark_seconds = time.perf_counter() - t0
        self.db.open()
        try:
            store.create_schema(self.con, num_classes=data.shape.num_classes)
            self._write_dataset(data)
            store_builds.check_build_setting(self.con, "bias_in_margin", self.e.bias_in_margin,
                                             db_path=self.db_path)
            changed = False
            t0 = time.perf_counter()
            changed |= self._stage_done(self._build_models(data, plan.models))
            timings["models"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            changed |= self._stage_done(self._build_benchmarks(data, plan.benchmarks,
                                                               benchmark_images))
            timings["benchmarks"] = benchmark_seconds + time.perf_counter() - t0
            t0 = time.perf_counter()
            changed |= self._stage_done(self._evaluate(data, plan.benchmark_ids,
                                                       benchmark_images))
            timings["evaluate"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            changed |= self._stage_done(update_dimension_study(
                self.con, self.e, data.train, data.images, data.labels,
                executor=self.executor))
            timings["dimension_study"] = time.perf_counter() - t0
            if self.e.seed_population:
                t0 = time.perf_counter()
                changed |= self._stage_done(update_seed_population(
                    self.con, self.e, data.shape, data.train.images, data.train.labels,
                    data.images, data.labels, data.sample_ids, executor=self.executor))
                timings["seed_population"] = time.perf_counter() - t0
            if self.failures:
                # Tables over an incomplete grid would be marked current; the rerun makes them.
                logger.warning("analysis skipped: %d task(s) failed", len(self.failures))
            else:
                t0 = time.perf_counter()
                changed |= self._stage_done(self._analysis())
                timings["analysis"] = time.perf_counter() - t0
            if self.bar is not None:
                self.bar.close()
            # Also publishes committed work that an earlier, interrupted run left unpublished.
            up_to_date = not self.db.finish(changed=changed)
        finally:
            self.db.close()
        if self.failures:
            raise BuildFailed(self.failures)
        return BuildReport(timings, up_to_date)

    def _stage_done(self, changed: bool) -> bool:
        """Publish after a stage that changed the database."""
        if changed:
            self.db.publish()
        return changed

    def _load_data(self) -> BuildData:
        return load_build_data(self.e)

    def _check_database(self, data: BuildData, plan: BuildPlan) -> None:
        check_database_fits(self.e, data, plan, source=self.db.source(), db_path=self.db_path)

    def _write_dataset(self, data: BuildData) -> None:
        if store_builds.dataset_row(self.con) is None:
            store.replace_rows(self.con, "dataset_info", pd.DataFrame([dict(
                dataset=self.e.dataset, num_classes=len(data.test.class_names),
                class_names=list(data.test.class_names), height=data.height, width=data.width,
                channels=data.channels, split="test", n_eval=len(data.sample_ids))]))
        wanted = subset_fingerprint(self.e, len(data.sample_ids))
        if store_builds.build_fingerprint(self.con, "evaluation_subset") != wanted:
            store_builds.record_build_fingerprint(self.con, "evaluation_subset", wanted)

    # models -------------------------------------------------------------------------------
    def _register(self, job: ModelJob, summary: dict, ckpt: Path, seconds: float) -> None:
        # The row and the deletion of any results of an earlier version: one transaction.
        store_builds.replace_model(self.con, dict(
            model_id=job.model_id, arch=job.spec.label, dataset=self.e.dataset, method=job.method,
            ratio=job.ratio, retrained=job.retrained, seed=job.seed, width=job.width,
            arch_config=job.config, checkpoint=str(ckpt.resolve()), source="built",
            fit_seconds=seconds, fingerprint=job.fingerprint, **summary))

    def _models_to_build(self, jobs: tuple[ModelJob, ...]) -> tuple[list[ModelJob], int]:
        """The planned models that are missing, or stored with another fingerprint (logged with
        what changed), or whose checkpoint is gone; and how many stored models without a
        fingerprint were recognised and given theirs."""
        stored = store_builds.registered_models(self.con)
        todo, adopted = [], 0
        for job in jobs:
            row = stored.get(job.model_id)
            if row is None:
                todo.append(job)
                continue
            has_checkpoint = bool(row.checkpoint) and Path(row.checkpoint).is_file()
            if row.fingerprint is None and has_checkpoint and \
                    Path(row.checkpoint).name == self.checkpoints.path_of(job).name:
                # Built before fingerprints were recorded, from a checkpoint whose name hashes
                # every setting of the fingerprint: the same model; record its fingerprint.
                store_builds.set_model_fingerprint(self.con, job.model_id, job.fingerprint)
                adopted += 1
            elif row.fingerprint != job.fingerprint:
                verb = "retraining" if job.method in PARENTLESS_METHODS else "re-pruning"
                logger.info("%s %s: %s", verb, job.model_id,
                            describe_change(row.fingerprint, job.fingerprint))
                todo.append(job)
            elif not has_checkpoint:
                logger.info("rebuilding %s: its checkpoint %s is missing", job.model_id,
                            row.checkpoint)
                todo.append(job)
        return todo, adopted

    def _build_models(self, data: BuildData, jobs: tuple[ModelJob, ...]) -> bool:
        todo, adopted = self._models_to_build(jobs)
        logger.info("models: %d of %d already built", len(jobs) - len(todo), len(jobs))
        if adopted:
            logger.info("models: recorded the fingerprints of %d model(s) built before "
                        "fingerprints existed", adopted)
        if not todo:
            return bool(adopted)
        order = order_models(todo, lambda job: dense_parent(self.e, data.shape, job),
                             self.checkpoints)
        tally = _Tally("models", order.n_tasks)
        self._add_to_bar(tally.total)
        for job in order.cached:
            t0 = time.perf_counter()
            model = self.checkpoints.load(job)
            self._register(job, model_summary(model), self.checkpoints.path_of(job),
                           time.perf_counter() - t0)
            self._model_done(job, tally)
        if order.independent or order.pruned:
            self._run_model_tasks(data, order, tally)
        store_builds.record_progress(self.con, "models", tally.done, tally.total, "done")
        return True

    def _run_model_tasks(self, data: BuildData, order: ModelOrder, tally: _Tally) -> None:
        """Run the model tasks in ``order``'s stream, writing and registering each result as it
        arrives."""
        ex = self.executor
        progress = self.progress and not ex.remote
        images, labels = ex.put(data.train.images), ex.put(data.train.labels)

        def task(job: ModelJob, parent_state) -> Task:
            return Task(job, _label(job), train_model_task, (job, images, labels, parent_state),
                        dict(device=ex.device, progress=progress), on_device=True)

        def cached_state(parent: ModelJob):
            return ex.put(ModelWeights.from_checkpoint(
                parent.model_id, parent.config, self.checkpoints.path_of(parent)).state)

        stream = ModelTasks(order, self.checkpoints, task, cached_state,
                            skip=lambda job, reason: self._model_done(job, tally, reason))
        while stream.pending:
            before = stream.pending
            for outcome in ex.run(stream.tasks()):
                job: ModelJob = outcome.task.key
                if outcome.error is None:
                    result: TrainedModel = outcome.value
                    ckpt = self.checkpoints.write(job, result.state)
                    if job.method == "dense":
                        stream.parent_built(ckpt, ex.put(result.state))
                    if job.registered:
                        self._register(job, result.summary, ckpt, result.seconds)
                elif job.method == "dense":
                    stream.parent_failed(self.checkpoints.path_of(job))
                self._model_done(job, tally, outcome.error)
            if stream.pending == before:   # cannot happen: every parent was queued
                raise RuntimeError(f"{stream.pending} pruned model(s) wait for dense parents "
                                   "that are neither built nor planned.")

    def _model_done(self, job: ModelJob, tally: _Tally, error: str | None = None) -> None:
        self._finished(_label(job), error)
        tally.done += 1
        store_builds.record_progress(self.con, "models", tally.done, tally.total, job.model_id)
        self.db.maybe_publish()

    # benchmarks ---------------------------------------------------------------------------
    def _benchmark_images(self, data: BuildData) -> dict[str, np.ndarray]:
        return benchmark_images(self.e, data, cache=self.cache, progress=self.progress)

    def _build_benchmarks(self, data: BuildData, benchmarks: tuple[BenchmarkRow, ...],
                          images: dict[str, np.ndarray]) -> bool:
        """Write the benchmarks missing from the database (``images``: every benchmark's images
        by id). Returns whether any was written."""
        have = store_builds.benchmarks_with_images(self.con)
        missing = [b for b in benchmarks if b.benchmark_id not in have]
        for b in missing:
            # Benchmark row and its images in one transaction: both or neither after a crash.
            with store.transaction(self.con):
                store.insert_rows(self.con, "benchmarks", pd.DataFrame([dict(
                    benchmark_id=b.benchmark_id, dataset=self.e.dataset,
                    corruption=b.corruption, severity=b.severity, category=b.category)]))
                store.insert_rows(self.con, "images", pd.DataFrame({
                    "benchmark_id": b.benchmark_id,
                    "sample_id": data.sample_ids.astype(np.int32),
                    "label": data.labels.astype(np.int16), "height": data.height,
                    "width": data.width, "channels": data.channels,
                    "pixels": [img.tobytes() for img in images[b.benchmark_id]]}))
        return bool(missing)

    # evaluation ---------------------------------------------------------------------------
    def _evaluate(self, data: BuildData, benchmark_ids: list[str],
                  benchmark_images: dict[str, np.ndarray]) -> bool:
        """One task per model on all its unfinished benchmarks; each model's results are written
        in one transaction, so a rerun after a crash redoes only the unfinished models."""
        models = store_builds.models_to_evaluate(self.con)
        done = store.done_pairs(self.con)
        todo = [pair for pair in evaluation_pairs([m for m, _, _ in models], benchmark_ids)
                if pair not in done]
        logger.info("evaluate: %d (model, benchmark) pairs done, %d to do", len(done), len(todo))
        if not todo:
            return False
        by_model = {model_id: tuple(bench for _, bench in pairs)
                    for model_id, pairs in itertools.groupby(todo, key=lambda pair: pair[0])}
        configs = {m: (cfg, ck) for m, cfg, ck in models}
        by_model = costliest_first(by_model, {m: cfg for m, (cfg, _) in configs.items()},
                                   (data.channels, data.height, data.width))
        self._add_to_bar(len(by_model))
        ex = self.executor
        # Large inputs go to the executor once; each model's weights when its task is submitted
        # (tasks are consumed lazily, so only a few models are held at a time).
        images = {b: ex.put(benchmark_images[b]) for b in {b for _, b in todo}}
        labels, sample_ids = ex.put(data.labels), ex.put(data.sample_ids)

        def tasks() -> Iterator[Task]:
            for model_id, benches in by_model.items():
                weights = ex.put(ModelWeights.from_checkpoint(model_id, *configs[model_id]))
                yield Task(model_id, f"evaluate {model_id} on {len(benches)} benchmarks",
                           evaluate_model_task,
                           (weights, benches, labels, sample_ids, *(images[b] for b in benches)),
                           dict(keep_features_for=tuple(b for b in benches
                                                        if b in self.e.features_for),
                                device=ex.device, bias_in_margin=self.e.bias_in_margin),
                           on_device=True)

        pairs_done = 0
        for outcome in ex.run(tasks()):
            model_id = outcome.task.key
            if self._finished(outcome.task.label, outcome.error):
                result: ModelEvaluation = outcome.value
                store.write_model_results(self.con, model_id, result.metrics, result.evaluations,
                                          result.features, sample_ids=data.sample_ids)
            pairs_done += len(by_model[model_id])
            store_builds.record_progress(self.con, "evaluate", pairs_done, len(todo), model_id)
            self.db.maybe_publish()
        store_builds.record_progress(self.con, "evaluate", len(todo), len(todo), "done")
        return True

    def _analysis(self) -> bool:
        if not self.e.analysis:
            return False
        from .analysis_tables import update_analysis

        timings = update_analysis(self.con, progress=self.progress, executor=self.executor)
        if timings:
            logger.info("analysis: %s", ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()))
        return bool(timings)


def build(experiment: Experiment, db_path: str | Path, *, executor: Executor | None = None,
          **kwargs) -> BuildReport:
    """Run (or resume) an experiment into ``db_path``. Returns seconds per stage and whether
    there was nothing to do.

    ``executor`` runs the tasks (default: this process, see ``core.pipeline.executors``); the caller
    closes it. Raises :class:`BuildFailed` when tasks failed for good (the rest is published).
    """
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    return Builder(experiment, db_path, executor=executor, **kwargs).run()
