"""Fill the analysis tables of the store from its models, benchmarks, evaluations, sample metrics
and features (SPEC §2, §7), incrementally.

Each table is written in one transaction (``core.store.replace_rows``). The fingerprint of the
inputs it was computed from is kept in ``analysis_state``; a table whose inputs did not change is
skipped. The heavy aggregation (robustness over every corrupted sample) runs in DuckDB.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cached_property
from typing import Callable, Iterator

import duckdb
import numpy as np
import pandas as pd

from core import analysis
from core.store import replace_rows

__all__ = ["ANALYSIS_VERSION", "update_analysis", "fingerprints"]

# Part of every fingerprint: bump it when a computation changes so every table is recomputed.
ANALYSIS_VERSION = "1"

_STATE_DDL = """CREATE TABLE IF NOT EXISTS analysis_state(name VARCHAR PRIMARY KEY,
    fingerprint VARCHAR, seconds DOUBLE, updated_at TIMESTAMP)"""

# What each input contributes to a fingerprint: the rows that identify its content. A
# (model, benchmark) result is rewritten atomically with its evaluations row
# (core.store.write_result), so that row — counts, accuracy, mean geometry — stands for its
# sample metrics.
_INPUT_ROWS = {
    "models": "SELECT concat_ws('|', model_id, arch, dataset, method, ratio, retrained, seed, "
              "feature_dim) AS r FROM models",
    "benchmarks": "SELECT concat_ws('|', benchmark_id, dataset, corruption, severity) AS r "
                  "FROM benchmarks",
    "evaluations": "SELECT concat_ws('|', model_id, benchmark_id, n, accuracy, mean_angle, "
                   "mean_l2, mean_margin, mean_prob) AS r FROM evaluations",
    "features": "SELECT concat_ws('|', model_id, benchmark_id, count(*), sum(sample_id)) AS r "
                "FROM features GROUP BY model_id, benchmark_id",
}

# Clean-data geometry of every model: its dataset's clean benchmark.
_CLEAN_METRICS_SQL = """
SELECT s.model_id, s.sample_id, s.pred, s.correct, s.angle, s.l2, s.margin, s.prob
FROM sample_metrics AS s
JOIN benchmarks AS b ON b.benchmark_id = s.benchmark_id AND b.corruption = 'clean'
JOIN models AS m ON m.model_id = s.model_id AND m.dataset = b.dataset
"""

_RANDOM_DIMS = (2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)


def fingerprints(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """md5 of each input table's identifying rows (order-independent)."""
    return {name: con.execute(
        f"SELECT md5(coalesce(string_agg(r, ';' ORDER BY r), '')) FROM ({sql})").fetchone()[0]
        for name, sql in _INPUT_ROWS.items()}


@dataclass
class _Inputs:
    """Frames read once per update and shared by the steps that need them."""
    con: duckdb.DuckDBPyConnection

    @cached_property
    def models(self) -> pd.DataFrame:
        frame = self.con.execute("SELECT model_id, arch, dataset, method, ratio, retrained, seed, "
                                 "feature_dim FROM models ORDER BY model_id").df()
        return frame.astype({"retrained": bool})

    @cached_property
    def clean_metrics(self) -> pd.DataFrame:
        return self.con.execute(_CLEAN_METRICS_SQL + " ORDER BY s.model_id, s.sample_id").df()


# --------------------------------------------------------------------------- steps
# Each step yields (table, frame) pairs; the time until a yield is that table's compute time.

def _robustness(inputs: _Inputs) -> Iterator[tuple[str, pd.DataFrame]]:
    sql = analysis.ROBUSTNESS_SQL.format(
        correct="sample_metrics",
        corrupted="(SELECT benchmark_id FROM benchmarks WHERE corruption <> 'clean')")
    yield "robustness", inputs.con.execute(sql).df()


def _pruning_vulnerability(inputs: _Inputs) -> Iterator[tuple[str, pd.DataFrame]]:
    yield "pruning_vulnerability", analysis.pruning_vulnerability(inputs.clean_metrics,
                                                                  inputs.models)


def _correlations(inputs: _Inputs) -> Iterator[tuple[str, pd.DataFrame]]:
    # Reads the robustness and PV tables, which the earlier steps brought up to date.
    robustness = inputs.con.execute("SELECT model_id, sample_id, robustness FROM robustness").df()
    pv = inputs.con.execute("SELECT * FROM pruning_vulnerability").df().astype({"retrained": bool})
    targets = robustness.merge(analysis.model_pv(pv, inputs.models),
                               on=["model_id", "sample_id"], how="outer")
    yield "correlations", analysis.correlations(inputs.clean_metrics, targets)


def _model_features(con: duckdb.DuckDBPyConnection, benchmark_id: str,
                    model_ids: list[str]) -> list[np.ndarray]:
    """Features (n, m_i) of each model on the samples all of them have, in sample order."""
    sql = """SELECT sample_id, feature FROM features WHERE benchmark_id = ? AND model_id = ?
             AND sample_id IN (SELECT sample_id FROM features WHERE benchmark_id = ?
                               GROUP BY sample_id HAVING count(*) = ?)
             ORDER BY sample_id"""
    out = []
    for model_id in model_ids:
        column = con.sql(sql, params=[benchmark_id, model_id, benchmark_id, len(model_ids)]
                         ).to_arrow_table().column("feature").combine_chunks()
        values = column.flatten().to_numpy(zero_copy_only=False)
        out.append(values.reshape(len(column), -1).astype(np.float64))
    return out


def _cka(inputs: _Inputs) -> Iterator[tuple[str, pd.DataFrame]]:
    con = inputs.con
    frames = []
    for (benchmark_id,) in con.execute(
            "SELECT DISTINCT benchmark_id FROM features ORDER BY 1").fetchall():
        model_ids = [r[0] for r in con.execute(
            "SELECT DISTINCT model_id FROM features WHERE benchmark_id = ? ORDER BY 1",
            [benchmark_id]).fetchall()]
        matrix = analysis.linear_cka_matrix(_model_features(con, benchmark_id, model_ids))
        a, b = np.meshgrid(np.arange(len(model_ids)), np.arange(len(model_ids)), indexing="ij")
        ids = np.asarray(model_ids, dtype=object)
        frames.append(pd.DataFrame({"benchmark_id": benchmark_id, "model_a": ids[a.ravel()],
                                    "model_b": ids[b.ravel()], "cka": matrix.ravel()}))
    yield "cka", (pd.concat(frames, ignore_index=True) if frames else
                  pd.DataFrame(columns=["benchmark_id", "model_a", "model_b", "cka"]))


def _embeddings(inputs: _Inputs) -> Iterator[tuple[str, pd.DataFrame]]:
    con = inputs.con
    metrics = con.execute("SELECT model_id, benchmark_id, sample_id, angle, margin, l2 "
                          "FROM sample_metrics").df()
    keys, matrix = analysis.geometry_vectors(metrics)
    del metrics
    xy = analysis.embed_umap(matrix, seed=0, n_epochs=200)
    frames = [keys.assign(x=xy[:, 0], y=xy[:, 1], space="geometry")]
    # The CKA baseline: classical MDS of 1 − CKA between models, per feature benchmark.
    cka = con.execute("SELECT * FROM cka WHERE NOT isnan(cka)").df()
    for benchmark_id, rows in cka.groupby("benchmark_id"):
        square = rows.pivot(index="model_a", columns="model_b", values="cka").dropna()
        square = square.loc[:, square.index]
        xy = analysis.classical_mds(np.clip(1.0 - square.to_numpy(), 0.0, None))
        frames.append(pd.DataFrame({"model_id": square.index, "benchmark_id": benchmark_id,
                                    "x": xy[:, 0], "y": xy[:, 1], "space": "cka"}))
    yield "embeddings", pd.concat(frames, ignore_index=True)


def _benchmark_similarity(inputs: _Inputs) -> Iterator[tuple[str, pd.DataFrame]]:
    accuracy = inputs.con.execute(
        "SELECT e.model_id, b.corruption, b.severity, e.accuracy FROM evaluations AS e "
        "JOIN benchmarks AS b USING (benchmark_id)").df()
    yield "benchmark_similarity", analysis.benchmark_similarity(accuracy)


def _dimension_angles(inputs: _Inputs) -> Iterator[tuple[str, pd.DataFrame]]:
    trained = analysis.trained_dimension_angles(inputs.clean_metrics, inputs.models)
    # Random vectors also at the models' own widths, so the two kinds line up on the x axis.
    dims = sorted(set(_RANDOM_DIMS) | set(trained["dim"].tolist()))
    random = analysis.dimension_angles(dims, n=2000, seed=0)
    yield "dimension_angles", pd.concat([random, trained], ignore_index=True)


def _vulnerability(inputs: _Inputs) -> Iterator[tuple[str, pd.DataFrame]]:
    models, clean = inputs.models, inputs.clean_metrics
    dense = analysis.reference_dense_models(models).merge(clean, on="model_id")
    pie = analysis.pie_counts(clean, models)
    pv = inputs.con.execute(
        "SELECT arch, sample_id, pv, n_models FROM pruning_vulnerability "
        "WHERE method = 'magnitude' AND NOT retrained").df()
    samples = analysis.vulnerable_samples(dense, pie, pv)
    yield "vulnerable_samples", samples
    yield "vulnerability_auc", analysis.vulnerability_auc(samples, dense)


# step, the tables it writes, the inputs its fingerprint covers
_STEPS: list[tuple[Callable[[_Inputs], Iterator], tuple[str, ...], tuple[str, ...]]] = [
    (_robustness, ("robustness",), ("evaluations", "benchmarks")),
    (_pruning_vulnerability, ("pruning_vulnerability",), ("evaluations", "benchmarks", "models")),
    (_correlations, ("correlations",), ("evaluations", "benchmarks", "models")),
    (_cka, ("cka",), ("features",)),
    (_embeddings, ("embeddings",), ("evaluations", "benchmarks", "features")),
    (_benchmark_similarity, ("benchmark_similarity",), ("evaluations", "benchmarks")),
    (_dimension_angles, ("dimension_angles",), ("evaluations", "benchmarks", "models")),
    (_vulnerability, ("vulnerable_samples", "vulnerability_auc"),
     ("evaluations", "benchmarks", "models")),
]


def update_analysis(con: duckdb.DuckDBPyConnection, *, progress: bool = True) -> dict[str, float]:
    """Recompute the analysis tables whose inputs changed since the last call.

    Args:
        con: writable connection to a store created by ``core.store.create_schema``.
        progress: print one line per table (computed with its time, or skipped).

    Returns:
        {table: seconds} for the tables recomputed in this call (compute + write); skipped tables
        are absent, so an unchanged database gives ``{}``.
    """
    con.execute(_STATE_DDL)
    current = fingerprints(con)
    stored = dict(con.execute("SELECT name, fingerprint FROM analysis_state").fetchall())
    inputs = _Inputs(con)
    seconds: dict[str, float] = {}
    for step, tables, sources in _STEPS:
        fingerprint = "|".join([ANALYSIS_VERSION, *(current[s] for s in sources)])
        if all(stored.get(t) == fingerprint for t in tables):
            if progress:
                print(f"analysis: {', '.join(tables)} skipped (inputs unchanged)", flush=True)
            continue
        start = time.perf_counter()
        for table, frame in step(inputs):
            replace_rows(con, table, frame)
            seconds[table] = time.perf_counter() - start
            # Recorded after the table's own transaction: a crash in between only costs a
            # recomputation next time, never a stale table marked current.
            con.execute("INSERT OR REPLACE INTO analysis_state VALUES (?, ?, ?, now())",
                        [table, fingerprint, seconds[table]])
            if progress:
                print(f"analysis: {table} {len(frame)} rows in {seconds[table]:.1f} s", flush=True)
            start = time.perf_counter()
    return seconds
