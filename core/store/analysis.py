"""The queries behind the analysis tables: their inputs, the robustness aggregation, and the
fingerprints that let ``core.pipeline.analysis_tables`` skip a table whose inputs did not change.

Every statement is fixed text with bound parameters. The definitions the queries implement are
in docs/analysis.md, Robustness and Pruning vulnerability (PV).
"""

from __future__ import annotations

from typing import Iterable, Iterator, Sequence

import duckdb
import numpy as np
import pandas as pd

from .files import open_duckdb
from .frames import CLEAN

from .schema import create_analysis_state

__all__ = [
    "ANALYSIS_INPUTS",
    "input_fingerprints",
    "stored_fingerprints",
    "record_fingerprint",
    "analysis_models",
    "clean_sample_metrics",
    "store_robustness",
    "frame_robustness",
    "robustness_rows",
    "pruning_vulnerability_rows",
    "family_pruning_vulnerability",
    "feature_benchmarks",
    "feature_models",
    "common_sample_features",
    "sample_geometry",
    "sample_geometry_parts",
    "defined_cka",
    "accuracy_by_corruption",
    "benchmark_corruptions",
    "clean_and_corrupted_accuracy",
    "dimension_study_rows",
    "seed_prediction_rows",
    "clean_predictions",
    "clean_label_geometry",
]

# What each input contributes to a fingerprint: md5 of the rows that identify its content (in
# sorted order, so the fingerprint does not depend on row order). A (model, benchmark) result is
# rewritten atomically with its evaluations row (``write_model_results``), so that row — counts,
# accuracy, mean geometry — stands for its sample metrics.
_FINGERPRINT_QUERIES = {
    "models": """
        SELECT md5(coalesce(string_agg(r, ';' ORDER BY r), '')) FROM (
            SELECT concat_ws('|', model_id, arch, dataset, method, ratio, retrained, seed,
                             feature_dim) AS r FROM models)""",
    "benchmarks": """
        SELECT md5(coalesce(string_agg(r, ';' ORDER BY r), '')) FROM (
            SELECT concat_ws('|', benchmark_id, dataset, corruption, severity) AS r
            FROM benchmarks)""",
    "evaluations": """
        SELECT md5(coalesce(string_agg(r, ';' ORDER BY r), '')) FROM (
            SELECT concat_ws('|', model_id, benchmark_id, n, accuracy, mean_angle, mean_l2,
                             mean_margin, mean_prob) AS r FROM evaluations)""",
    "features": """
        SELECT md5(coalesce(string_agg(r, ';' ORDER BY r), '')) FROM (
            SELECT concat_ws('|', model_id, benchmark_id, count(*), sum(sample_id)) AS r
            FROM features GROUP BY model_id, benchmark_id)""",
    "seed_predictions": """
        SELECT md5(coalesce(string_agg(r, ';' ORDER BY r), '')) FROM (
            SELECT concat_ws('|', arch, seed, method, ratio, retrained,
                             string_agg(concat(sample_id, ':', pred), ',' ORDER BY sample_id))
                   AS r
            FROM seed_predictions GROUP BY arch, seed, method, ratio, retrained)""",
    "dimension_study": """
        SELECT md5(coalesce(string_agg(r, ';' ORDER BY r), '')) FROM (
            SELECT concat_ws('|', kind, dim, mean, std, model_id, accuracy) AS r
            FROM dimension_study)""",
}
# The input tables a fingerprint can cover.
ANALYSIS_INPUTS = tuple(_FINGERPRINT_QUERIES)

# Robustness of each (model, sample): on how many corrupted benchmarks it is correct (see
# docs/analysis.md, Robustness). One definition over two relations, ``robustness_input``
# (model_id, benchmark_id, sample_id, correct) and ``corrupted_benchmarks`` (benchmark_id); the
# store and in-memory frames bind them differently (``store_robustness``, ``frame_robustness``).
_ROBUSTNESS_QUERY = """
SELECT c.model_id, c.sample_id, sum(c.correct::INTEGER)::INTEGER AS robustness,
       count(*)::INTEGER AS n_benchmarks
FROM robustness_input AS c
WHERE c.benchmark_id IN (SELECT benchmark_id FROM corrupted_benchmarks)
GROUP BY c.model_id, c.sample_id
ORDER BY c.model_id, c.sample_id
"""
_STORE_ROBUSTNESS_QUERY = """
WITH robustness_input AS (SELECT model_id, benchmark_id, sample_id, correct
                          FROM sample_metrics),
     corrupted_benchmarks AS (SELECT benchmark_id FROM benchmarks WHERE corruption <> ?)
""" + _ROBUSTNESS_QUERY

# Clean-data geometry of every model: its dataset's clean benchmark.
_CLEAN_METRICS_QUERY = """
SELECT s.model_id, s.sample_id, s.pred, s.correct, s.angle, s.l2, s.margin, s.prob
FROM sample_metrics AS s
JOIN benchmarks AS b ON b.benchmark_id = s.benchmark_id AND b.corruption = ?
JOIN models AS m ON m.model_id = s.model_id AND m.dataset = b.dataset
ORDER BY s.model_id, s.sample_id
"""

# Features of one model on one benchmark, restricted to the samples that all `?` models have.
_COMMON_FEATURES_QUERY = """
SELECT sample_id, feature FROM features WHERE benchmark_id = ? AND model_id = ?
AND sample_id IN (SELECT sample_id FROM features WHERE benchmark_id = ?
                  GROUP BY sample_id HAVING count(*) = ?)
ORDER BY sample_id
"""


# --------------------------------------------------------------------------- fingerprints

def input_fingerprints(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """{input table: md5 of its identifying rows} for every name in ``ANALYSIS_INPUTS``."""
    return {name: con.execute(query).fetchone()[0]
            for name, query in _FINGERPRINT_QUERIES.items()}


def stored_fingerprints(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """{analysis table: fingerprint of the inputs it was last computed from}; creates the
    ``analysis_state`` table when it is missing."""
    create_analysis_state(con)
    return dict(con.execute("SELECT name, fingerprint FROM analysis_state").fetchall())


def record_fingerprint(con: duckdb.DuckDBPyConnection, table: str, fingerprint: str,
                       seconds: float) -> None:
    """Record that ``table`` is up to date with ``fingerprint`` (computed in ``seconds``)."""
    con.execute("INSERT OR REPLACE INTO analysis_state VALUES (?, ?, ?, now())",
                [table, fingerprint, seconds])


# --------------------------------------------------------------------------- inputs

def analysis_models(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """(model_id, arch, dataset, method, ratio, retrained: bool, seed, feature_dim), by model_id."""
    frame = con.execute("SELECT model_id, arch, dataset, method, ratio, retrained, seed, "
                        "feature_dim FROM models ORDER BY model_id").df()
    return frame.astype({"retrained": bool})


def clean_sample_metrics(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """(model_id, sample_id, pred, correct, angle, l2, margin, prob) of every model on its
    dataset's clean benchmark, by (model_id, sample_id). Angles in degrees."""
    return con.execute(_CLEAN_METRICS_QUERY, [CLEAN]).df()


def sample_geometry(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """(model_id, benchmark_id, sample_id, angle, margin, l2) of every stored result."""
    return con.execute("SELECT model_id, benchmark_id, sample_id, angle, margin, l2 "
                       "FROM sample_metrics").df()


def sample_geometry_parts(con: duckdb.DuckDBPyConnection
                          ) -> tuple[pd.DataFrame, np.ndarray, Iterator[pd.DataFrame]]:
    """:func:`sample_geometry` in parts, for databases too large to hold it as one frame (the
    full preset's 107M rows): every (model_id, benchmark_id) and every sample_id, then the rows
    model by model (a model's results are stored together, so each part reads little)."""
    keys = con.execute("SELECT DISTINCT model_id, benchmark_id FROM sample_metrics").df()
    sample_ids = con.execute("SELECT DISTINCT sample_id FROM sample_metrics ORDER BY 1"
                             ).fetchnumpy()["sample_id"]

    def parts() -> Iterator[pd.DataFrame]:
        for model_id in sorted(keys["model_id"].unique()):
            yield con.execute("SELECT model_id, benchmark_id, sample_id, angle, margin, l2 "
                              "FROM sample_metrics WHERE model_id = ?", [model_id]).df()

    return keys, np.asarray(sample_ids), parts()


def accuracy_by_corruption(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """(model_id, corruption, severity, accuracy) of every evaluation."""
    return con.execute(
        "SELECT e.model_id, b.corruption, b.severity, e.accuracy FROM evaluations AS e "
        "JOIN benchmarks AS b USING (benchmark_id)").df()


def benchmark_corruptions(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """(benchmark_id, corruption, severity) of every benchmark."""
    return con.execute("SELECT benchmark_id, corruption, severity FROM benchmarks").df()


# --------------------------------------------------------------------------- robustness, PV

def store_robustness(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """(model_id, sample_id, robustness, n_benchmarks) over the store's corrupted benchmarks
    (every benchmark whose corruption is not 'clean'), by (model_id, sample_id)."""
    return con.execute(_STORE_ROBUSTNESS_QUERY, [CLEAN]).df()


def frame_robustness(correct: pd.DataFrame, corrupted_benchmarks: Iterable[str]) -> pd.DataFrame:
    """The same aggregation as ``store_robustness`` over a frame (model_id, benchmark_id,
    sample_id, correct) and the ids of the corrupted benchmarks, in a private in-memory DuckDB."""
    corrupted = pd.DataFrame({"benchmark_id": pd.Series(list(corrupted_benchmarks), dtype=object)})
    con = open_duckdb()
    try:
        con.register("robustness_input",
                     correct[["model_id", "benchmark_id", "sample_id", "correct"]])
        con.register("corrupted_benchmarks", corrupted)
        return con.execute(_ROBUSTNESS_QUERY).df()
    finally:
        con.close()


def robustness_rows(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """(model_id, sample_id, robustness) of the ``robustness`` table."""
    return con.execute("SELECT model_id, sample_id, robustness FROM robustness").df()


def pruning_vulnerability_rows(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The ``pruning_vulnerability`` table (arch, method, retrained: bool, sample_id, pv,
    n_models)."""
    return con.execute("SELECT * FROM pruning_vulnerability").df().astype({"retrained": bool})


def family_pruning_vulnerability(con: duckdb.DuckDBPyConnection, *, method: str,
                                 retrained: bool) -> pd.DataFrame:
    """(arch, sample_id, pv, n_models) of the (method, retrained) family of every arch."""
    return con.execute(
        "SELECT arch, sample_id, pv, n_models FROM pruning_vulnerability "
        "WHERE method = ? AND retrained = ?", [method, retrained]).df()


# --------------------------------------------------------------------------- features, CKA

def feature_benchmarks(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Sorted ids of the benchmarks that have stored features."""
    return [row[0] for row in con.execute(
        "SELECT DISTINCT benchmark_id FROM features ORDER BY 1").fetchall()]


def feature_models(con: duckdb.DuckDBPyConnection, benchmark_id: str) -> list[str]:
    """Sorted ids of the models with stored features on ``benchmark_id``."""
    return [row[0] for row in con.execute(
        "SELECT DISTINCT model_id FROM features WHERE benchmark_id = ? ORDER BY 1",
        [benchmark_id]).fetchall()]


def common_sample_features(con: duckdb.DuckDBPyConnection, benchmark_id: str,
                           model_ids: Sequence[str]) -> list[np.ndarray]:
    """Features (n, m_i) float64 of each model on the n samples all of them have, in sample
    order, so row r of every array is the same sample."""
    out = []
    for model_id in model_ids:
        column = con.sql(_COMMON_FEATURES_QUERY,
                         params=[benchmark_id, model_id, benchmark_id, len(model_ids)]
                         ).to_arrow_table().column("feature").combine_chunks()
        values = column.flatten().to_numpy(zero_copy_only=False)
        out.append(values.reshape(len(column), -1).astype(np.float64))
    return out


def defined_cka(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The rows of the ``cka`` table whose CKA is defined (not NaN)."""
    return con.execute("SELECT * FROM cka WHERE NOT isnan(cka)").df()


# --------------------------------------------------------------------------- effective robustness

def clean_and_corrupted_accuracy(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """(model_id, clean_accuracy, corrupted_accuracy) of every model evaluated on the clean
    benchmark: corrupted = the mean accuracy over its corrupted benchmarks (NaN without any),
    by model_id. Fractions in [0, 1]."""
    return con.execute("""
        SELECT e.model_id,
               max(e.accuracy) FILTER (WHERE b.corruption = ?) AS clean_accuracy,
               avg(e.accuracy) FILTER (WHERE b.corruption <> ?) AS corrupted_accuracy
        FROM evaluations AS e JOIN benchmarks AS b USING (benchmark_id)
        GROUP BY e.model_id
        HAVING count(*) FILTER (WHERE b.corruption = ?) > 0
        ORDER BY e.model_id""", [CLEAN, CLEAN, CLEAN]).df()

# --------------------------------------------------------------------------- dimension, spread

def seed_prediction_rows(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """(arch, seed, method, ratio, retrained: bool, sample_id, pred) of ``seed_predictions``
    (written by the build's seed-population stage)."""
    frame = con.execute("SELECT arch, seed, method, ratio, retrained, sample_id, pred "
                        "FROM seed_predictions ORDER BY arch, seed, method, ratio, retrained, "
                        "sample_id").df()
    return frame.astype({"retrained": bool})


def clean_predictions(con: duckdb.DuckDBPyConnection, model_ids: list[str]) -> pd.DataFrame:
    """(model_id, sample_id, pred, correct) of the given models on their dataset's clean
    benchmark, by (model_id, sample_id)."""
    return con.execute("""
        SELECT s.model_id, s.sample_id, s.pred, s.correct FROM sample_metrics AS s
        JOIN benchmarks AS b ON b.benchmark_id = s.benchmark_id AND b.corruption = 'clean'
        JOIN models AS m ON m.model_id = s.model_id AND m.dataset = b.dataset
        WHERE list_contains(?, s.model_id)
        ORDER BY s.model_id, s.sample_id""", [list(model_ids)]).df()


def dimension_study_rows(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """(kind, dim, mean, std, model_id) of the ``dimension_study`` table (written by the build's
    dimension-study stage, ``core.pipeline.study``), by (kind, dim)."""
    return con.execute("SELECT kind, dim, mean, std, model_id FROM dimension_study "
                       "ORDER BY kind, dim, model_id").df()


def clean_label_geometry(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """(model_id, label, angle, l2) of every model on its dataset's clean benchmark, by
    (model_id, sample_id). Angles in degrees, l2 in feature units."""
    return con.execute("""
        SELECT s.model_id, s.label, s.angle, s.l2
        FROM sample_metrics AS s
        JOIN benchmarks AS b ON b.benchmark_id = s.benchmark_id AND b.corruption = ?
        JOIN models AS m ON m.model_id = s.model_id AND m.dataset = b.dataset
        ORDER BY s.model_id, s.sample_id""", [CLEAN]).df()
