"""Queries of the Overview page.

Every function takes the database reference first (the cache key) and returns a small, already
aggregated frame: the heavy lifting (20M ``sample_metrics`` rows) happens in DuckDB. A table that
is missing (an old database, analysis not run yet) gives an empty frame with the same columns, so
the page can explain instead of failing.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app.db import DbRef
from core.store import pies as store_pies

# One bar of the evaluation table: a (arch, method, retrained, ratio) group of models on one
# corruption, averaged over the group's models (seeds) and the chosen severities.
BAR_KEYS = ["arch", "method", "retrained", "ratio", "corruption"]
BAR_COLUMNS = [*BAR_KEYS, "accuracy", "model_ids", "benchmark_ids"]
SUBSET_COLUMNS = [*BAR_KEYS, "subset_accuracy", "n_samples"]
EMBEDDING_COLUMNS = ["model_id", "benchmark_id", "x", "y", "arch", "method", "ratio", "retrained"]
CORRELATION_COLUMNS = ["model_id", "target", "metric", "pearson", "spearman", "n"]
SIMILARITY_COLUMNS = ["corruption_a", "corruption_b", "similarity", "measure", "rank"]
DIMENSION_COLUMNS = ["kind", "dim", "mean", "std", "model_id"]
SPREAD_COLUMNS = ["model_id", "arch", "method", "ratio", "retrained", "angle_spread", "l2_spread",
                  "mean_angle", "clean_accuracy", "corrupted_accuracy", "drop"]
VULNERABLE_COLUMNS = ["sample_id", "pie", "low_pv", "geometric_score"]
AUC_COLUMNS = ["arch", "target", "score", "auc", "n_positive", "n"]

# Clean always; corrupted benchmarks of the chosen severity, or of every severity when it is NULL.
_SEVERITY_FILTER = "(b.corruption = 'clean' OR ?::INTEGER IS NULL OR b.severity = ?::INTEGER)"


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
def embedding_points(db: DbRef, space: str, benchmark_ids: tuple[str, ...]) -> pd.DataFrame:
    """2-D placement of every (model, benchmark) of ``benchmark_ids`` in ``space``
    ('geometry' = stress placement, 'geometry_umap' = UMAP of the true geometry distances,
    'cka' = placement from CKA), with model facts."""
    return _table_or_empty(db, "embeddings", """
        SELECT e.model_id, e.benchmark_id, e.x, e.y, m.arch, m.method, m.ratio, m.retrained
        FROM embeddings e JOIN models m USING (model_id)
        WHERE e.space = ? AND e.benchmark_id IN (SELECT unnest(?::VARCHAR[]))
        ORDER BY e.benchmark_id, e.model_id""", [space, list(benchmark_ids)], EMBEDDING_COLUMNS)


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
    """Disagreement (column ``pie``: disagrees with the other pruned models) and low-PV flags
    (nullable) and the dense model's geometric score (larger = more vulnerable) of every
    sample, for one architecture."""
    return _table_or_empty(db, "vulnerable_samples", """
        SELECT sample_id, pie, low_pv, geometric_score FROM vulnerable_samples
        WHERE arch = ? ORDER BY sample_id""", [arch], VULNERABLE_COLUMNS)


@st.cache_data(max_entries=16, show_spinner=False)
def vulnerability_auc(db: DbRef) -> pd.DataFrame:
    return _table_or_empty(db, "vulnerability_auc", """
        SELECT arch, target, score, auc, n_positive, n FROM vulnerability_auc
        ORDER BY arch, target, score""", [], AUC_COLUMNS)


@st.cache_data(max_entries=16, show_spinner=False)
def pie_archs(db: DbRef) -> list[str]:
    """Architectures with a seed population's PIEs (Hooker et al.)."""
    return db.call(store_pies.pie_archs) if db.has_table("pie_flags") else []


@st.cache_data(max_entries=16, show_spinner=False)
def pie_counts(db: DbRef, arch: str) -> pd.DataFrame:
    """PIEs per pruned seed population of ``arch`` (see ``core.store.pies.pie_counts``)."""
    if not db.has_table("pie_flags"):
        return pd.DataFrame(columns=store_pies.PIE_COUNT_COLUMNS)
    return db.call(store_pies.pie_counts, arch)


@st.cache_data(max_entries=16, show_spinner=False)
def pie_auc(db: DbRef, arch: str) -> pd.DataFrame:
    """The finder's AUCs against the seed-population PIEs (``core.store.pies.pie_auc_rows``)."""
    if not db.has_table("pie_auc"):
        return pd.DataFrame(columns=store_pies.PIE_AUC_ROW_COLUMNS)
    return db.call(store_pies.pie_auc_rows, arch)


DISTANCE_COLUMNS = ["benchmark_id", "model_a", "model_b", "distance"]
QUALITY_COLUMNS = ["benchmark_id", "n_models", "n_neighbors", "trustworthiness", "spearman"]


@st.cache_data(max_entries=16, show_spinner=False)
def embedding_spaces(db: DbRef) -> list[str]:
    """The placements (`embeddings.space`) this database holds, sorted."""
    frame = _table_or_empty(db, "embeddings", "SELECT DISTINCT space FROM embeddings ORDER BY 1",
                            [], ["space"])
    return list(frame["space"])


@st.cache_data(max_entries=32, show_spinner=False)
def geometry_distances(db: DbRef, benchmark_id: str) -> pd.DataFrame:
    """True distances (standardised units) between the models' geometry on one benchmark, one
    row per unordered pair (model_a < model_b)."""
    return _table_or_empty(db, "geometry_distances", """
        SELECT benchmark_id, model_a, model_b, distance FROM geometry_distances
        WHERE benchmark_id = ? ORDER BY model_a, model_b""", [benchmark_id], DISTANCE_COLUMNS)


@st.cache_data(max_entries=32, show_spinner=False)
def placement_quality(db: DbRef, space: str, benchmark_ids: tuple[str, ...]) -> pd.DataFrame:
    """How faithful the placement ``space`` is on each of ``benchmark_ids``: trustworthiness
    (fraction) of its ``n_neighbors``-nearest neighbours and Spearman ρ of drawn vs true
    distances."""
    return _table_or_empty(db, "placement_quality", """
        SELECT benchmark_id, n_models, n_neighbors, trustworthiness, spearman
        FROM placement_quality
        WHERE space = ? AND benchmark_id IN (SELECT unnest(?::VARCHAR[]))
        ORDER BY benchmark_id""", [space, list(benchmark_ids)], QUALITY_COLUMNS)


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
