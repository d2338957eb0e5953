"""Fill the analysis tables of the store from its models, benchmarks, evaluations, sample metrics
and features (see docs/analysis.md), incrementally.

Each table is written in one transaction (``core.store.replace_rows``). The fingerprint of the
inputs it was computed from is kept in ``analysis_state``; a table whose inputs did not change is
skipped. The store's queries (``core.store.analysis``) read the inputs — the heavy aggregation,
robustness over every corrupted sample, runs in DuckDB — and ``core.analysis`` does the math.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from functools import cached_property
from typing import Callable, Iterator

import duckdb
import numpy as np
import pandas as pd
from scipy.spatial.distance import pdist, squareform
from threadpoolctl import threadpool_limits

from core import analysis
from core.pipeline.executors import Executor, LocalExecutor, Task, collect
from core.store import analysis as queries
from core.store import replace_rows

__all__ = ["ANALYSIS_VERSION", "update_analysis", "fingerprints"]

logger = logging.getLogger(__name__)

# Part of every fingerprint: bump it when a computation changes so every table is recomputed.
ANALYSIS_VERSION = "3"

# The per-benchmark placements stored in ``embeddings`` (scope 'benchmark'): space →
# ``place_geometry`` method. Stress keeps the true distances best on the demo; UMAP, the method
# the paper places its shared space with, is kept as an option.
_GEOMETRY_SPACES = {"geometry": analysis.DEFAULT_PLACEMENT, "geometry_umap": "umap"}
_RANDOM_DIMS = (2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)
# The pruning-vulnerability family that vulnerable samples are flagged by (see
# docs/analysis.md, Vulnerable samples): magnitude pruning without retraining.
_REFERENCE_FAMILY = {"method": "magnitude", "retrained": False}


def fingerprints(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """md5 of each input table's identifying rows (order-independent)."""
    return queries.input_fingerprints(con)


@dataclass
class _Inputs:
    """Frames read once per update and shared by the steps that need them."""
    con: duckdb.DuckDBPyConnection
    executor: Executor       # runs the steps' independent tasks (per-benchmark placements)

    @cached_property
    def models(self) -> pd.DataFrame:
        return queries.analysis_models(self.con)

    @cached_property
    def clean_metrics(self) -> pd.DataFrame:
        return queries.clean_sample_metrics(self.con)

    @cached_property
    def geometry(self) -> tuple[pd.DataFrame, np.ndarray]:
        """``geometry_vectors`` of every stored (model, benchmark) result, read model by model
        (the full preset's 107M rows never form one frame)."""
        keys, sample_ids, parts = queries.sample_geometry_parts(self.con)
        return analysis.geometry_vectors(parts, keys=keys, sample_ids=sample_ids)


# --------------------------------------------------------------------------- steps
# Each step yields (table, frame) pairs; the time until a yield is that table's compute time.

def _robustness(inputs: _Inputs) -> Iterator[tuple[str, pd.DataFrame]]:
    yield "robustness", queries.store_robustness(inputs.con)


def _pruning_vulnerability(inputs: _Inputs) -> Iterator[tuple[str, pd.DataFrame]]:
    yield "pruning_vulnerability", analysis.pruning_vulnerability(inputs.clean_metrics,
                                                                  inputs.models)


def _correlations(inputs: _Inputs) -> Iterator[tuple[str, pd.DataFrame]]:
    # Reads the robustness and PV tables, which the earlier steps brought up to date.
    robustness = queries.robustness_rows(inputs.con)
    pv = queries.pruning_vulnerability_rows(inputs.con)
    targets = robustness.merge(analysis.model_pv(pv, inputs.models),
                               on=["model_id", "sample_id"], how="outer")
    yield "correlations", analysis.correlations(inputs.clean_metrics, targets)


def _cka(inputs: _Inputs) -> Iterator[tuple[str, pd.DataFrame]]:
    con = inputs.con
    frames = []
    for benchmark_id in queries.feature_benchmarks(con):
        model_ids = queries.feature_models(con, benchmark_id)
        matrix = analysis.linear_cka_matrix(
            queries.common_sample_features(con, benchmark_id, model_ids))
        a, b = np.meshgrid(np.arange(len(model_ids)), np.arange(len(model_ids)), indexing="ij")
        ids = np.asarray(model_ids, dtype=object)
        frames.append(pd.DataFrame({"benchmark_id": benchmark_id, "model_a": ids[a.ravel()],
                                    "model_b": ids[b.ravel()], "cka": matrix.ravel()}))
    yield "cka", (pd.concat(frames, ignore_index=True) if frames else
                  pd.DataFrame(columns=["benchmark_id", "model_a", "model_b", "cka"]))


def place_benchmark(distances: np.ndarray) -> list[tuple[str, np.ndarray, float, float, int,
                                                           float]]:
    """The stored placements of one benchmark's models (a task an executor runs): per space of
    ``_GEOMETRY_SPACES``, (space, xy (n, 2), trustworthiness, Spearman ρ, neighbours k,
    seconds). ``distances``: (n, n) true distances between the models' standardised vectors."""
    placed = []
    # Many tiny eigen-decompositions and products: BLAS threads only add hand-off time to them.
    with threadpool_limits(1, user_api="blas"):
        for space, method in _GEOMETRY_SPACES.items():
            start = time.perf_counter()
            xy = analysis.place_geometry(distances, method=method, seed=0)
            seconds = time.perf_counter() - start
            trust, rho, k = analysis.placement_quality(distances, xy)
            placed.append((space, xy, trust, rho, k, seconds))
    return placed


def _embeddings(inputs: _Inputs) -> Iterator[tuple[str, pd.DataFrame]]:
    keys, matrix = inputs.geometry
    yield "geometry_distances", analysis.geometry_distances(keys, matrix)
    frames, quality = [], []
    # Per benchmark, from the true distances between its models' standardised vectors: one task
    # per benchmark on the build's executor (placements are deterministic, wherever they run).
    models_of, tasks = {}, []
    for benchmark_id, rows in keys.groupby("benchmark_id", sort=True).indices.items():
        rows = rows[np.argsort(keys["model_id"].to_numpy()[rows], kind="stable")]
        models_of[benchmark_id] = keys["model_id"].to_numpy()[rows]
        tasks.append(Task(benchmark_id, f"place the models of {benchmark_id}", place_benchmark,
                          (squareform(pdist(matrix[rows])),)))
    placed = collect(inputs.executor, tasks)
    for benchmark_id, model_ids in models_of.items():
        for space, xy, trust, rho, k, seconds in placed[benchmark_id]:
            frames.append(pd.DataFrame({"model_id": model_ids, "benchmark_id": benchmark_id,
                                        "x": xy[:, 0], "y": xy[:, 1], "space": space,
                                        "scope": "benchmark"}))
            quality.append((space, benchmark_id, len(model_ids), k, trust, rho, seconds,
                            "benchmark"))
    shared, shared_quality = _shared_placement(keys, matrix)
    frames.append(shared)
    quality.extend(shared_quality)
    # The CKA baseline: classical MDS of 1 − CKA between models, per feature benchmark.
    cka = queries.defined_cka(inputs.con)
    for benchmark_id, rows in cka.groupby("benchmark_id"):
        square = rows.pivot(index="model_a", columns="model_b", values="cka").dropna()
        square = square.loc[:, square.index]
        xy = analysis.classical_mds(np.clip(1.0 - square.to_numpy(), 0.0, None))
        frames.append(pd.DataFrame({"model_id": square.index, "benchmark_id": benchmark_id,
                                    "x": xy[:, 0], "y": xy[:, 1], "space": "cka",
                                    "scope": "benchmark"}))
    yield "embeddings", pd.concat(frames, ignore_index=True)
    yield "placement_quality", pd.DataFrame(quality, columns=[
        "space", "benchmark_id", "n_models", "n_neighbors", "trustworthiness", "spearman",
        "seconds", "scope"])


def _shared_placement(keys: pd.DataFrame, matrix: np.ndarray
                      ) -> tuple[pd.DataFrame, list[tuple]]:
    """The shared placement (space 'geometry', scope 'shared') of every (model, benchmark) row,
    and its quality: one row per benchmark (its points alone) and one with a NULL benchmark_id
    (all points; Spearman over sampled pairs, see ``analysis.sampled_spearman``)."""
    start = time.perf_counter()
    xy = (analysis.place_shared(matrix, keys["benchmark_id"].to_numpy(), seed=0) if len(keys)
          else np.zeros((0, 2)))
    seconds = time.perf_counter() - start
    frame = pd.DataFrame({"model_id": keys["model_id"].to_numpy(),
                          "benchmark_id": keys["benchmark_id"].to_numpy(), "x": xy[:, 0],
                          "y": xy[:, 1], "space": "geometry", "scope": "shared"})
    quality = []
    for benchmark_id, rows in keys.groupby("benchmark_id", sort=True).indices.items():
        trust, rho, k = analysis.placement_quality(squareform(pdist(matrix[rows])), xy[rows])
        quality.append(("geometry", benchmark_id, len(rows), k, trust, rho, float("nan"),
                        "shared"))
    if len(keys) >= 12:
        quality.append(("geometry", None, len(keys), 5,
                        analysis.shared_trustworthiness(matrix, xy, n_neighbors=5),
                        analysis.sampled_spearman(matrix, xy), seconds, "shared"))
    return frame, quality


def _benchmark_similarity(inputs: _Inputs) -> Iterator[tuple[str, pd.DataFrame]]:
    accuracy = queries.accuracy_by_corruption(inputs.con)
    keys, matrix = inputs.geometry
    geometry = analysis.geometry_redundancy(keys, matrix, queries.benchmark_corruptions(inputs.con))
    yield "benchmark_similarity", pd.concat([analysis.benchmark_similarity(accuracy), geometry],
                                            ignore_index=True)


def _dimension_angles(inputs: _Inputs) -> Iterator[tuple[str, pd.DataFrame]]:
    # The networks are the dimension study's (untrained and trained LeNet-5 per width, written
    # by the build's study stage), not the population's: a population model's angle mixes its
    # pruning with its width, and the population has one or two widths at most.
    study = queries.dimension_study_rows(inputs.con)
    # Random vectors also at the study's widths, so the kinds line up on the x axis.
    dims = sorted(set(_RANDOM_DIMS) | set(study["dim"].astype(int).tolist()))
    random = analysis.dimension_angles(dims, n=2000, seed=0)
    yield "dimension_angles", pd.concat([random, study], ignore_index=True)


def _geometry_spread(inputs: _Inputs) -> Iterator[tuple[str, pd.DataFrame]]:
    yield "geometry_spread", analysis.geometry_spread(
        queries.clean_label_geometry(inputs.con), queries.accuracy_by_corruption(inputs.con))


def _vulnerability(inputs: _Inputs) -> Iterator[tuple[str, pd.DataFrame]]:
    models, clean = inputs.models, inputs.clean_metrics
    dense = analysis.reference_dense_models(models).merge(clean, on="model_id")
    pie = analysis.pie_counts(clean, models)
    pv = queries.family_pruning_vulnerability(inputs.con, **_REFERENCE_FAMILY)
    samples = analysis.vulnerable_samples(dense, pie, pv)
    yield "vulnerable_samples", samples
    yield "vulnerability_auc", analysis.vulnerability_auc(samples, dense)


def _pies(inputs: _Inputs) -> Iterator[tuple[str, pd.DataFrame]]:
    # The PIEs come from the seed population (not registered as models); the finder's scores
    # from the main population's dense model, which is no member of it.
    flags = analysis.hooker_pies(queries.seed_prediction_rows(inputs.con))
    dense = analysis.reference_dense_models(inputs.models).merge(inputs.clean_metrics,
                                                                on="model_id")
    yield "pie_flags", flags
    yield "pie_auc", analysis.pie_auc(flags, dense)


# step, the tables it writes, the inputs its fingerprint covers
_STEPS: list[tuple[Callable[[_Inputs], Iterator], tuple[str, ...], tuple[str, ...]]] = [
    (_robustness, ("robustness",), ("evaluations", "benchmarks")),
    (_pruning_vulnerability, ("pruning_vulnerability",), ("evaluations", "benchmarks", "models")),
    (_correlations, ("correlations",), ("evaluations", "benchmarks", "models")),
    (_cka, ("cka",), ("features",)),
    (_embeddings, ("geometry_distances", "embeddings", "placement_quality"),
     ("evaluations", "benchmarks", "features")),
    (_benchmark_similarity, ("benchmark_similarity",), ("evaluations", "benchmarks")),
    (_dimension_angles, ("dimension_angles",), ("dimension_study",)),
    (_geometry_spread, ("geometry_spread",), ("evaluations", "benchmarks", "models")),
    (_vulnerability, ("vulnerable_samples", "vulnerability_auc"),
     ("evaluations", "benchmarks", "models")),
    (_pies, ("pie_flags", "pie_auc"), ("seed_predictions", "evaluations", "benchmarks", "models")),
]


def _effective_robustness(inputs: _Inputs) -> Iterator[tuple[str, pd.DataFrame]]:
    # The fit is made on every model of the population (see docs/analysis.md, Effective robustness).
    from core.analysis.effective import EFFECTIVE_COLUMNS, effective_robustness

    accuracy = queries.clean_and_corrupted_accuracy(inputs.con)
    yield "effective_robustness", (effective_robustness(accuracy) if len(accuracy) else
                                   pd.DataFrame(columns=EFFECTIVE_COLUMNS))


_STEPS.append((_effective_robustness, ("effective_robustness",), ("evaluations", "benchmarks")))


def update_analysis(con: duckdb.DuckDBPyConnection, *, progress: bool = True,
                    executor: Executor | None = None) -> dict[str, float]:
    """Recompute the analysis tables whose inputs changed since the last call.

    Args:
        con: writable connection to a store created by ``core.store.create_schema``.
        progress: log one INFO line per table (computed with its time, or skipped) on this
            module's logger; ``False`` logs them at DEBUG.
        executor: runs the independent tasks of a step (default: this process, in order).

    Returns:
        {table: seconds} for the tables recomputed in this call (compute + write); skipped tables
        are absent, so an unchanged database gives ``{}``.
    """
    level = logging.INFO if progress else logging.DEBUG
    current = fingerprints(con)
    stored = queries.stored_fingerprints(con)
    inputs = _Inputs(con, executor or LocalExecutor())
    seconds: dict[str, float] = {}
    for step, tables, sources in _STEPS:
        fingerprint = "|".join([ANALYSIS_VERSION, *(current[s] for s in sources)])
        if all(stored.get(t) == fingerprint for t in tables):
            logger.log(level, "analysis: %s skipped (inputs unchanged)", ", ".join(tables))
            continue
        start = time.perf_counter()
        for table, frame in step(inputs):
            replace_rows(con, table, frame)
            seconds[table] = time.perf_counter() - start
            # Recorded after the table's own transaction: a crash in between only costs a
            # recomputation next time, never a stale table marked current.
            queries.record_fingerprint(con, table, fingerprint, seconds[table])
            logger.log(level, "analysis: %s %d rows in %.1f s", table, len(frame), seconds[table])
            start = time.perf_counter()
    return seconds
