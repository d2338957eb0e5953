"""The seed population behind Hooker et al.'s PIEs (see docs/analysis.md, PIEs): dense models
of one architecture trained from several seeds with the population's own recipe, each pruned by
magnitude at a few ratios, with and without retraining.

One task per seed trains the dense model, prunes it (the magnitude scores are computed once per
seed and shared by its pruned models) and returns every model's prediction on the clean
evaluation images. A seed whose models the main population already built (the same jobs: same
ids and fingerprints, e.g. the experiment's own seed) is not trained again: its stored clean
predictions join the population. The models are not registered in ``models``: they are a
separate population, so they never join the main population's families, charts or similarity views. The build stage
(:func:`update_seed_population`) writes the predictions to ``seed_predictions`` in one
transaction and skips when the fingerprint of the jobs and the evaluation data is unchanged; the
analysis step turns them into ``pie_flags`` and ``pie_auc``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time

import duckdb
import numpy as np
import pandas as pd
import torch

from ..models import model_from_config
from ..store import analysis as queries
from ..store import builds, replace_rows
from ..train import to_input
from .executors import Executor, LocalExecutor, Task, collect
from .experiment import Experiment
from .plan import DataShape, ModelJob, model_job
from .tasks import state_from_bytes, train_model_task

__all__ = ["SEED_PREDICTION_COLUMNS", "seed_population_jobs", "seed_task",
           "update_seed_population"]

logger = logging.getLogger(__name__)

SEED_PREDICTION_COLUMNS = ["arch", "seed", "method", "ratio", "retrained", "sample_id", "pred",
                           "correct"]
# The name under which the stage's fingerprint is kept in ``analysis_state``.
_STATE_NAME = "seed_population"
_EVAL_BATCH = 1000


def seed_population_jobs(experiment: Experiment, shape: DataShape
                         ) -> list[tuple[int, ModelJob, tuple[ModelJob, ...]]]:
    """(seed, dense job, pruned jobs) for every seed of ``[seed_population]``: the same jobs the
    main population plans for its ``arch`` (recipe, retraining settings, fingerprints), with the
    seed replaced."""
    e = experiment
    spec = next((a for a in e.archs if a.arch == e.seed_population_arch), None)
    if spec is None:
        raise ValueError(f"[seed_population] `arch` = {e.seed_population_arch!r} is not an "
                         f"[[arch]] of the experiment (it has "
                         f"{', '.join(a.arch for a in e.archs)}).")
    jobs = []
    for seed in e.seed_population_seeds:
        seeded = dataclasses.replace(e, seed=int(seed))
        dense = model_job(seeded, shape, spec, spec.width, "dense", 0.0, False,
                          registered=False)
        pruned = tuple(model_job(seeded, shape, spec, spec.width, "magnitude", float(ratio),
                                 bool(retrained), registered=False)
                       for retrained in e.seed_population_retrain
                       for ratio in e.seed_population_ratios)
        jobs.append((int(seed), dense, pruned))
    return jobs


@torch.no_grad()
def _predictions(job: ModelJob, state: bytes, x: torch.Tensor) -> np.ndarray:
    model = model_from_config(job.config, state_from_bytes(state)).eval()
    return torch.cat([model(x[i:i + _EVAL_BATCH]).argmax(1)
                      for i in range(0, len(x), _EVAL_BATCH)]).numpy()


def seed_task(dense: ModelJob, pruned: tuple[ModelJob, ...], train_images: np.ndarray,
              train_labels: np.ndarray, images: np.ndarray, labels: np.ndarray,
              sample_ids: np.ndarray) -> pd.DataFrame:
    """One seed of the population (a task an executor runs): train ``dense``, build every
    ``pruned`` job from it, predict the clean evaluation ``images`` (n, H, W[, C]) uint8.

    Returns ``SEED_PREDICTION_COLUMNS`` rows, one per (model, sample)."""
    x = to_input(np.ascontiguousarray(images))
    labels = np.asarray(labels)
    trained = train_model_task(dense, train_images, train_labels)
    frames = []
    for job, state in [(dense, trained.state), *((job, train_model_task(
            job, train_images, train_labels, dense_state=trained.state).state)
            for job in pruned)]:
        pred = _predictions(job, state, x)
        frames.append(pd.DataFrame({
            "arch": job.spec.arch, "seed": job.seed, "method": job.method,
            "ratio": float(job.ratio), "retrained": job.retrained,
            "sample_id": np.asarray(sample_ids, dtype=np.int64), "pred": pred.astype(np.int64),
            "correct": pred == labels}))
    return pd.concat(frames, ignore_index=True)[SEED_PREDICTION_COLUMNS]


def _fingerprint(jobs, images: np.ndarray, labels: np.ndarray, sample_ids: np.ndarray) -> str:
    digest = hashlib.md5()
    for _, dense, pruned in jobs:
        for job in (dense, *pruned):
            digest.update(f"{job.model_id}:{job.fingerprint};".encode())
    for array in (images, labels, sample_ids):
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _registered_seeds(con: duckdb.DuckDBPyConnection, jobs, sample_ids: np.ndarray):
    """Split ``jobs`` into the seeds the main population already built — every job registered
    with the same fingerprint and evaluated on every clean sample — whose stored predictions are
    reused, and the seeds left to train."""
    registered = builds.registered_models(con)
    reused, left = [], []
    for seed, dense, pruned in jobs:
        seed_jobs = (dense, *pruned)
        if all(job.model_id in registered
               and registered[job.model_id].fingerprint == job.fingerprint for job in seed_jobs):
            stored = queries.clean_predictions(con, [job.model_id for job in seed_jobs])
            if len(stored) == len(seed_jobs) * len(sample_ids) and set(
                    stored["sample_id"]) == set(np.asarray(sample_ids).tolist()):
                of = {job.model_id: job for job in seed_jobs}
                job = stored["model_id"].map(of)
                reused.append(pd.DataFrame({
                    "arch": job.map(lambda j: j.spec.arch), "seed": seed,
                    "method": job.map(lambda j: j.method),
                    "ratio": job.map(lambda j: float(j.ratio)),
                    "retrained": job.map(lambda j: j.retrained),
                    "sample_id": stored["sample_id"].astype(np.int64),
                    "pred": stored["pred"].astype(np.int64),
                    "correct": stored["correct"].astype(bool)})[SEED_PREDICTION_COLUMNS])
                continue
        left.append((seed, dense, pruned))
    return reused, left


def update_seed_population(con: duckdb.DuckDBPyConnection, experiment: Experiment,
                           shape: DataShape, train_images: np.ndarray, train_labels: np.ndarray,
                           images: np.ndarray, labels: np.ndarray, sample_ids: np.ndarray, *,
                           executor: Executor | None = None) -> bool:
    """The build stage: train the seed population of ``experiment`` and store its predictions on
    the clean evaluation images in ``seed_predictions``.

    Skipped (returns False) when ``[seed_population]`` is disabled or its fingerprint (every
    job's model fingerprint + the evaluation images, labels and ids) is the one recorded for the
    stored rows. Runs after the evaluate stage, so a seed the main population built is read
    from ``sample_metrics`` instead of trained. The rows replace the table's in one
    transaction, the fingerprint is recorded after it. Returns whether it wrote.
    """
    if not experiment.seed_population:
        return False
    jobs = seed_population_jobs(experiment, shape)
    fingerprint = _fingerprint(jobs, images, labels, sample_ids)
    if queries.stored_fingerprints(con).get(_STATE_NAME) == fingerprint:
        logger.info("seed population: skipped (jobs and data unchanged)")
        return False
    start = time.perf_counter()
    reused, jobs = _registered_seeds(con, jobs, sample_ids)
    executor = executor or LocalExecutor()
    shared = (executor.put(np.ascontiguousarray(train_images)),
              executor.put(np.ascontiguousarray(train_labels)),
              executor.put(np.ascontiguousarray(images)), executor.put(np.asarray(labels)),
              executor.put(np.asarray(sample_ids)))
    tasks = (Task(seed, f"seed population s{seed}", seed_task, (dense, pruned, *shared))
             for seed, dense, pruned in jobs)
    rows = pd.concat([*reused, *collect(executor, tasks).values()], ignore_index=True)
    rows = rows.sort_values(["seed", "retrained", "ratio", "method", "sample_id"],
                            ignore_index=True)
    replace_rows(con, "seed_predictions", rows)
    seconds = time.perf_counter() - start
    queries.record_fingerprint(con, _STATE_NAME, fingerprint, seconds)
    logger.info("seed population: %d seeds trained, %d shared with the population, in %.1f s",
                len(jobs), len(reused), seconds)
    return True
