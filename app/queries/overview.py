"""Queries of the Overview page.

Every function takes the database reference first (the cache key) and returns a small, already
aggregated frame: the heavy lifting (20M ``sample_metrics`` rows) happens in DuckDB. A table that
is missing (an old database, analysis not run yet) gives an empty frame with the same columns, so
the page can explain instead of failing.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app.db import DbRef, _connection
from core.store import placements

# One bar of the evaluation table: a (arch, method, retrained, ratio) group of models on one
# corruption, averaged over the group's models (seeds) and the chosen severities.
BAR_KEYS = ["arch", "method", "retrained", "ratio", "corruption"]
BAR_COLUMNS = [*BAR_KEYS, "accuracy", "model_ids", "benchmark_ids"]
SUBSET_COLUMNS = [*BAR_KEYS, "subset_accuracy", "n_samples"]
CORRELATION_COLUMNS = ["model_id", "target", "metric", "pearson", "spearman", "n"]
SIMILARITY_COLUMNS = ["corruption_a", "corruption_b", "similarity", "measure", "rank"]
DIMENSION_COLUMNS = ["kind", "dim", "mean", "std", "model_id"]
SPREAD_COLUMNS = ["model_id", "arch", "method", "ratio", "retrained", "angle_spread", "l2_spread",
                  "mean_angle", "clean_accuracy", "corrupted_accuracy", "drop"]
VULNERABLE_COLUMNS = ["sample_id", "pie", "low_pv", "geometric_score"]
AUC_COLUMNS = ["arch", "target", "score", "auc", "n_positive", "n"]

# Clean always; corrupted benchmarks of the chosen severity, or of every severity when it is NULL.
_SEVERITY_FILTER = "(b.corruption = 'clean' OR ?::INTEGER IS NULL OR b.severity = ?::INTEGER)"


def _read(db: DbRef, query, *args) -> pd.DataFrame:
    """``query(con, *args)``, a read of ``core.store``, on the app's connection to ``db``."""
    cursor = _connection(db).cursor()
    try:
        return query(cursor, *args)
    finally:
        cursor.close()


def _table_or_empty(db: DbRef, table: str, query: str, params: list, columns: list[str]
                    ) -> pd.DataFrame:
    if not db.has_table(table):
        return pd.DataFrame(columns=columns)
    return db.sql(query, params)


@st.cache_data(max_entries=16, show_spinner=False)
def severities(db: DbRef) -> list[int]:
    """Severities of the corrupted benchmarks that have evaluations, ascending."""
    frame = db.sql("SELECT DISTINCT b.severity FROM evaluations e JOIN benchmarks b "
                   "USING (benchmark_id) WHERE b.corruption <> 'clean' ORDER BY 1")
    return [int(s) for s in frame["severity"]]


@st.cache_data(max_entries=16, show_spinner=False)
def accuracy_bars(db: DbRef, severity: int | None) -> pd.DataFrame:
    """Mean accuracy (fraction) per bar; ``severity`` None averages severities 1–5.

    ``model_ids`` / ``benchmark_ids`` are the sorted ids each bar stands for (what a click on the
    bar selects).
    """
    return db.sql(f"""
        SELECT m.arch, m.method, m.retrained, m.ratio, b.corruption,
               avg(e.accuracy) AS accuracy,
               list(DISTINCT e.model_id ORDER BY e.model_id) AS model_ids,
               list(DISTINCT e.benchmark_id ORDER BY e.benchmark_id) AS benchmark_ids
        FROM evaluations e JOIN models m USING (model_id) JOIN benchmarks b USING (benchmark_id)
        WHERE {_SEVERITY_FILTER}
        GROUP BY ALL""", [severity, severity])


@st.cache_data(max_entries=8, show_spinner=False)
def subset_accuracy_bars(db: DbRef, severity: int | None, sample_ids: tuple[int, ...]
                         ) -> pd.DataFrame:
    """Like `accuracy_bars`, on the samples ``sample_ids`` only (``subset_accuracy``, fraction),
    computed from ``sample_metrics``; ``n_samples`` = the fewest of them any result holds."""
    return db.sql(f"""
        WITH chosen AS (
            SELECT b.benchmark_id, b.corruption FROM benchmarks b WHERE {_SEVERITY_FILTER}),
        per_result AS (
            SELECT s.model_id, s.benchmark_id, avg(s.correct::DOUBLE) AS accuracy, count(*) AS n
            FROM sample_metrics s
            WHERE s.sample_id IN (SELECT unnest(?::INTEGER[]))
              AND s.benchmark_id IN (SELECT benchmark_id FROM chosen)
            GROUP BY ALL)
        SELECT m.arch, m.method, m.retrained, m.ratio, c.corruption,
               avg(r.accuracy) AS subset_accuracy, min(r.n) AS n_samples
        FROM per_result r JOIN models m USING (model_id) JOIN chosen c USING (benchmark_id)
        GROUP BY ALL""", [severity, severity, list(sample_ids)])


@st.cache_data(max_entries=8, show_spinner=False)
def class_accuracy_bars(db: DbRef, severity: int | None, class_index: int) -> pd.DataFrame:
    """Like `subset_accuracy_bars`, on the samples of true class ``class_index``
    (``subset_accuracy``, fraction; ``n_samples`` = the fewest of them any result holds)."""
    return db.sql(f"""
        WITH chosen AS (
            SELECT b.benchmark_id, b.corruption FROM benchmarks b WHERE {_SEVERITY_FILTER}),
        per_result AS (
            SELECT s.model_id, s.benchmark_id, avg(s.correct::DOUBLE) AS accuracy, count(*) AS n
            FROM sample_metrics s
            WHERE s.label = ? AND s.benchmark_id IN (SELECT benchmark_id FROM chosen)
            GROUP BY ALL)
        SELECT m.arch, m.method, m.retrained, m.ratio, c.corruption,
               avg(r.accuracy) AS subset_accuracy, min(r.n) AS n_samples
        FROM per_result r JOIN models m USING (model_id) JOIN chosen c USING (benchmark_id)
        GROUP BY ALL""", [severity, severity, int(class_index)])


@st.cache_data(max_entries=16, show_spinner=False)
def embedding_benchmarks(db: DbRef) -> list[str]:
    """Benchmarks with a geometric placement, clean first."""
    frame = _table_or_empty(db, "embeddings", """
        SELECT DISTINCT e.benchmark_id, b.corruption = 'clean' AS is_clean, b.severity
        FROM embeddings e LEFT JOIN benchmarks b USING (benchmark_id)
        WHERE e.space = 'geometry'
        ORDER BY is_clean DESC NULLS LAST, e.benchmark_id""", [], ["benchmark_id"])
    return list(frame["benchmark_id"])


@st.cache_data(max_entries=32, show_spinner=False)
def embedding_points(db: DbRef, space: str, scope: str, benchmark_ids: tuple[str, ...]
                     ) -> pd.DataFrame:
    """2-D placement (``space``: 'geometry' = stress, 'geometry_umap' = UMAP, 'cka'; ``scope``:
    'shared' = one plane for every benchmark, 'benchmark' = placed per benchmark) of every
    (model, benchmark) of ``benchmark_ids``, with model facts."""
    return _read(db, placements.placement_points, space, scope, list(benchmark_ids))


@st.cache_data(max_entries=16, show_spinner=False)
def correlations(db: DbRef) -> pd.DataFrame:
    """Per-model correlation of robustness / PV with clean angle, l2 and margin, in the models'
    display order (dense first)."""
    return _table_or_empty(db, "correlations", """
        SELECT c.model_id, c.target, c.metric, c.pearson, c.spearman, c.n
        FROM correlations c JOIN models m USING (model_id)
        ORDER BY m.arch, m.method <> 'dense', m.method, m.retrained, m.ratio, c.model_id,
                 c.target, c.metric""", [], CORRELATION_COLUMNS)


@st.cache_data(max_entries=16, show_spinner=False)
def benchmark_similarity(db: DbRef) -> pd.DataFrame:
    """Corruption pairs with their similarity per measure, most redundant (rank 1) first."""
    return _table_or_empty(db, "benchmark_similarity", """
        SELECT corruption_a, corruption_b, similarity, measure, rank FROM benchmark_similarity
        WHERE corruption_a <> corruption_b AND similarity IS NOT NULL
        ORDER BY measure, rank, similarity DESC""", [], SIMILARITY_COLUMNS)


@st.cache_data(max_entries=16, show_spinner=False)
def dimension_angles(db: DbRef) -> pd.DataFrame:
    """Mean and std (degrees) of angles per feature dimension, kind 'random', 'untrained' or
    'trained'."""
    return _table_or_empty(db, "dimension_angles", """
        SELECT kind, dim, mean, std, model_id FROM dimension_angles
        WHERE mean IS NOT NULL ORDER BY kind, dim, model_id""", [], DIMENSION_COLUMNS)


@st.cache_data(max_entries=16, show_spinner=False)
def vulnerability_archs(db: DbRef) -> list[str]:
    frame = _table_or_empty(db, "vulnerable_samples",
                            "SELECT DISTINCT arch FROM vulnerable_samples ORDER BY arch", [],
                            ["arch"])
    return list(frame["arch"])


@st.cache_data(max_entries=16, show_spinner=False)
def vulnerable_samples(db: DbRef, arch: str) -> pd.DataFrame:
    """PIE / low-PV flags (nullable) and the dense model's geometric score (larger = more
    vulnerable) of every sample, for one architecture."""
    return _table_or_empty(db, "vulnerable_samples", """
        SELECT sample_id, pie, low_pv, geometric_score FROM vulnerable_samples
        WHERE arch = ? ORDER BY sample_id""", [arch], VULNERABLE_COLUMNS)


@st.cache_data(max_entries=16, show_spinner=False)
def vulnerability_auc(db: DbRef) -> pd.DataFrame:
    return _table_or_empty(db, "vulnerability_auc", """
        SELECT arch, target, score, auc, n_positive, n FROM vulnerability_auc
        ORDER BY arch, target, score""", [], AUC_COLUMNS)


DISTANCE_COLUMNS = ["benchmark_id", "model_a", "model_b", "distance"]


@st.cache_data(max_entries=16, show_spinner=False)
def embedding_spaces(db: DbRef) -> list[tuple[str, str]]:
    """The placements (space, scope) this database holds, sorted."""
    frame = _read(db, placements.placement_scopes)
    return list(zip(frame["space"], frame["scope"]))


@st.cache_data(max_entries=32, show_spinner=False)
def geometry_distances(db: DbRef, benchmark_id: str) -> pd.DataFrame:
    """True distances (standardised units) between the models' geometry on one benchmark, one
    row per unordered pair (model_a < model_b)."""
    return _table_or_empty(db, "geometry_distances", """
        SELECT benchmark_id, model_a, model_b, distance FROM geometry_distances
        WHERE benchmark_id = ? ORDER BY model_a, model_b""", [benchmark_id], DISTANCE_COLUMNS)


@st.cache_data(max_entries=32, show_spinner=False)
def placement_quality(db: DbRef, space: str, scope: str, benchmark_ids: tuple[str, ...]
                      ) -> pd.DataFrame:
    """How faithful the placement (``space``, ``scope``) is on each of ``benchmark_ids`` (its
    points of that benchmark): trustworthiness (fraction) of its ``n_neighbors``-nearest
    neighbours and Spearman ρ of drawn vs true distances."""
    return _read(db, placements.placement_quality_rows, space, scope, list(benchmark_ids))


@st.cache_data(max_entries=16, show_spinner=False)
def shared_quality(db: DbRef, space: str) -> pd.DataFrame:
    """The quality of the shared placement ``space`` over all its points (one row, or none)."""
    return _read(db, placements.shared_overall_quality, space)


EFFECTIVE_COLUMNS = ["model_id", "arch", "method", "ratio", "retrained", "clean_accuracy",
                     "corrupted_accuracy", "predicted_accuracy", "effective_robustness", "slope",
                     "intercept", "n_fit"]


@st.cache_data(max_entries=16, show_spinner=False)
def effective_robustness(db: DbRef) -> pd.DataFrame:
    """Each model's effective robustness (fractions) with its arch, method, ratio, retrained."""
    return _table_or_empty(db, "effective_robustness", """
        SELECT r.model_id, m.arch, m.method, m.ratio, m.retrained, r.clean_accuracy,
               r.corrupted_accuracy, r.predicted_accuracy, r.effective_robustness, r.slope,
               r.intercept, r.n_fit
        FROM effective_robustness AS r JOIN models AS m USING (model_id)
        ORDER BY r.model_id""", [], EFFECTIVE_COLUMNS)


@st.cache_data(max_entries=16, show_spinner=False)
def geometry_spread(db: DbRef) -> pd.DataFrame:
    """Per model: spread and scale of its clean geometry and its robustness (the
    ``geometry_spread`` table), with its arch, method, ratio and retrained flag."""
    return _table_or_empty(db, "geometry_spread", """
        SELECT g.model_id, m.arch, m.method, m.ratio, m.retrained, g.angle_spread, g.l2_spread,
               g.mean_angle, g.clean_accuracy, g.corrupted_accuracy, g."drop"
        FROM geometry_spread g JOIN models m USING (model_id)
        ORDER BY m.arch, m.method, m.retrained, m.ratio, g.model_id""", [], SPREAD_COLUMNS)
