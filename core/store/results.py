"""Reads of the evaluation results and the analysis tables that the Overview shows, as
``(con, …) → DataFrame`` functions (the app's cached wrappers are in ``app/queries``).

Each returns a small, already aggregated frame: the heavy lifting (20M ``sample_metrics`` rows)
happens in DuckDB. A table that is missing (an old database, analysis not run yet) gives an empty
frame with the same columns (``frames.read_frame``).
"""

from __future__ import annotations

import duckdb
import pandas as pd

from .frames import CLEAN, dense_first, read_frame

__all__ = ["accuracy_bars", "subset_accuracy_bars", "class_accuracy_bars",
           "embedding_benchmarks", "correlations",
           "benchmark_similarity", "dimension_angles", "vulnerability_archs",
           "vulnerable_samples", "vulnerability_auc", "geometry_distances",
           "effective_robustness", "geometry_spread"]

# Clean always; corrupted benchmarks of the chosen severity, or of every severity when it is NULL.
# Binds (CLEAN, severity, severity).
_SEVERITY_FILTER = "(b.corruption = ? OR ?::INTEGER IS NULL OR b.severity = ?::INTEGER)"
_RESULTS = ("evaluations", "models", "benchmarks")


def accuracy_bars(con: duckdb.DuckDBPyConnection, severity: int | None) -> pd.DataFrame:
    """Mean accuracy (fraction) per bar of the evaluation table — a (arch, method, retrained,
    ratio) group of models on one corruption, averaged over the group's models (seeds) and the
    chosen severities; ``severity`` None averages severities 1–5. ``model_ids`` /
    ``benchmark_ids`` are the sorted ids each bar stands for."""
    return read_frame(con, f"""
        SELECT m.arch, m.method, m.retrained, m.ratio, b.corruption,
               avg(e.accuracy) AS accuracy,
               list(DISTINCT e.model_id ORDER BY e.model_id) AS model_ids,
               list(DISTINCT e.benchmark_id ORDER BY e.benchmark_id) AS benchmark_ids
        FROM evaluations e JOIN models m USING (model_id) JOIN benchmarks b USING (benchmark_id)
        WHERE {_SEVERITY_FILTER}
        GROUP BY ALL""", [CLEAN, severity, severity], tables=_RESULTS)


_SUBSET_BARS = f"""
    WITH chosen AS (
        SELECT b.benchmark_id, b.corruption FROM benchmarks b WHERE {_SEVERITY_FILTER}),
    per_result AS (
        SELECT s.model_id, s.benchmark_id, avg(s.correct::DOUBLE) AS accuracy, count(*) AS n
        FROM sample_metrics s
        WHERE {{samples}} AND s.benchmark_id IN (SELECT benchmark_id FROM chosen)
        GROUP BY ALL)
    SELECT m.arch, m.method, m.retrained, m.ratio, c.corruption,
           avg(r.accuracy) AS subset_accuracy, min(r.n) AS n_samples
    FROM per_result r JOIN models m USING (model_id) JOIN chosen c USING (benchmark_id)
    GROUP BY ALL"""


def subset_accuracy_bars(con: duckdb.DuckDBPyConnection, severity: int | None,
                         sample_ids: tuple[int, ...]) -> pd.DataFrame:
    """Like `accuracy_bars`, on the samples ``sample_ids`` only (``subset_accuracy``, fraction),
    computed from ``sample_metrics``; ``n_samples`` = the fewest of them any result holds."""
    query = _SUBSET_BARS.format(samples="s.sample_id IN (SELECT unnest(?::INTEGER[]))")
    return read_frame(con, query, [CLEAN, severity, severity, list(sample_ids)],
                      tables=("sample_metrics", "models", "benchmarks"))


def class_accuracy_bars(con: duckdb.DuckDBPyConnection, severity: int | None,
                        class_index: int) -> pd.DataFrame:
    """Like `subset_accuracy_bars`, on the samples of true class ``class_index``."""
    return read_frame(con, _SUBSET_BARS.format(samples="s.label = ?"),
                      [CLEAN, severity, severity, int(class_index)],
                      tables=("sample_metrics", "models", "benchmarks"))


def embedding_benchmarks(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Benchmarks (column benchmark_id) with a geometric placement, clean first."""
    return read_frame(con, """
        SELECT DISTINCT e.benchmark_id, b.corruption = ? AS is_clean, b.severity
        FROM embeddings e LEFT JOIN benchmarks b USING (benchmark_id)
        WHERE e.space = 'geometry'
        ORDER BY is_clean DESC NULLS LAST, e.benchmark_id""", [CLEAN],
        tables=("embeddings", "benchmarks"))


def correlations(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Per-model correlation of robustness / PV with clean angle, l2 and margin, in the models'
    display order."""
    return read_frame(con, f"""
        SELECT c.model_id, c.target, c.metric, c.pearson, c.spearman, c.n
        FROM correlations c JOIN models m USING (model_id)
        ORDER BY {dense_first("m")}, c.model_id, c.target, c.metric""",
        tables=("correlations", "models"))


def benchmark_similarity(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Corruption pairs with their similarity per measure, most redundant (rank 1) first."""
    return read_frame(con, """
        SELECT corruption_a, corruption_b, similarity, measure, rank FROM benchmark_similarity
        WHERE corruption_a <> corruption_b AND similarity IS NOT NULL
        ORDER BY measure, rank, similarity DESC""", tables=("benchmark_similarity",))


def dimension_angles(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Mean and std (degrees) of angles per feature dimension, kind 'random', 'untrained' or
    'trained'."""
    return read_frame(con, """
        SELECT kind, dim, mean, std, model_id FROM dimension_angles
        WHERE mean IS NOT NULL ORDER BY kind, dim, model_id""", tables=("dimension_angles",))


def vulnerability_archs(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The architectures (column arch) of the vulnerable-sample table, sorted."""
    return read_frame(con, "SELECT DISTINCT arch FROM vulnerable_samples ORDER BY arch",
                      tables=("vulnerable_samples",))


def vulnerable_samples(con: duckdb.DuckDBPyConnection, arch: str) -> pd.DataFrame:
    """Disagreement (column ``pie``: disagrees with the other pruned models) and low-PV flags
    (nullable) and the dense model's geometric score (larger = more vulnerable) of every
    sample, for one architecture."""
    return read_frame(con, """
        SELECT sample_id, pie, low_pv, geometric_score FROM vulnerable_samples
        WHERE arch = ? ORDER BY sample_id""", [arch], tables=("vulnerable_samples",))


def vulnerability_auc(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """AUC of each score at finding each kind of vulnerable sample, per architecture."""
    return read_frame(con, """
        SELECT arch, target, score, auc, n_positive, n FROM vulnerability_auc
        ORDER BY arch, target, score""", tables=("vulnerability_auc",))


def geometry_distances(con: duckdb.DuckDBPyConnection, benchmark_id: str) -> pd.DataFrame:
    """True distances (standardised units) between the models' geometry on one benchmark, one
    row per unordered pair (model_a < model_b)."""
    return read_frame(con, """
        SELECT benchmark_id, model_a, model_b, distance FROM geometry_distances
        WHERE benchmark_id = ? ORDER BY model_a, model_b""", [benchmark_id],
        tables=("geometry_distances",))


def effective_robustness(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Each model's effective robustness (fractions) with its arch, method, ratio, retrained."""
    return read_frame(con, """
        SELECT r.model_id, m.arch, m.method, m.ratio, m.retrained, r.clean_accuracy,
               r.corrupted_accuracy, r.predicted_accuracy, r.effective_robustness, r.slope,
               r.intercept, r.n_fit
        FROM effective_robustness AS r JOIN models AS m USING (model_id)
        ORDER BY r.model_id""", tables=("effective_robustness", "models"))


def geometry_spread(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Per model: spread and scale of its clean geometry and its robustness (the
    ``geometry_spread`` table), with its arch, method, ratio and retrained flag."""
    return read_frame(con, f"""
        SELECT g.model_id, m.arch, m.method, m.ratio, m.retrained, g.angle_spread, g.l2_spread,
               g.mean_angle, g.clean_accuracy, g.corrupted_accuracy, g."drop"
        FROM geometry_spread g JOIN models m USING (model_id)
        ORDER BY {dense_first("m")}, g.model_id""", tables=("geometry_spread", "models"))
