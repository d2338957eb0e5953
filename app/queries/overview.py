"""Queries of the Overview page: cached wrappers of `core.store.results` and
`core.store.placements`, which own their SQL, and the computations the page draws from them
(minimum spanning trees, ROC curves, spread correlations, the per-architecture refit), cached so
that a rerun does not redo them.

Every function takes the database reference first (the cache key) and returns a small, already
aggregated frame. A table that is missing (an old database, analysis not run yet) gives an empty
frame with the same columns, so the page can explain instead of failing.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app.db import DbRef
from core.store import catalog, pies, placements, results


@st.cache_data(max_entries=16, show_spinner=False)
def severities(db: DbRef) -> list[int]:
    """Severities of the corrupted benchmarks that have evaluations, ascending."""
    return [int(s) for s in db.read(catalog.severities)["severity"]]


@st.cache_data(max_entries=16, show_spinner=False)
def accuracy_bars(db: DbRef, severity: int | None) -> pd.DataFrame:
    """Mean accuracy (fraction) per bar of the evaluation table; ``severity`` None averages
    severities 1–5 (`core.store.results.accuracy_bars`)."""
    return db.read(results.accuracy_bars, severity)


@st.cache_data(max_entries=8, show_spinner=False)
def subset_accuracy_bars(db: DbRef, severity: int | None, sample_ids: tuple[int, ...]
                         ) -> pd.DataFrame:
    """Like `accuracy_bars`, on the samples ``sample_ids`` only."""
    return db.read(results.subset_accuracy_bars, severity, sample_ids)


@st.cache_data(max_entries=8, show_spinner=False)
def class_accuracy_bars(db: DbRef, severity: int | None, class_index: int) -> pd.DataFrame:
    """Like `subset_accuracy_bars`, on the samples of true class ``class_index``."""
    return db.read(results.class_accuracy_bars, severity, class_index)


@st.cache_data(max_entries=16, show_spinner=False)
def embedding_benchmarks(db: DbRef) -> list[str]:
    """Benchmarks with a geometric placement, clean first."""
    return list(db.read(results.embedding_benchmarks)["benchmark_id"])


@st.cache_data(max_entries=32, show_spinner=False)
def embedding_points(db: DbRef, space: str, scope: str, benchmark_ids: tuple[str, ...]
                     ) -> pd.DataFrame:
    """2-D placement (``space``: 'geometry' = stress, 'geometry_umap' = UMAP, 'cka'; ``scope``:
    'shared' = one plane for every benchmark, 'benchmark' = placed per benchmark) of every
    (model, benchmark) of ``benchmark_ids``, with model facts."""
    return db.read(placements.embedding_points, space, scope, benchmark_ids)


@st.cache_data(max_entries=16, show_spinner=False)
def correlations(db: DbRef) -> pd.DataFrame:
    """Per-model correlation of robustness / PV with clean angle, l2 and margin."""
    return db.read(results.correlations)


@st.cache_data(max_entries=16, show_spinner=False)
def benchmark_similarity(db: DbRef) -> pd.DataFrame:
    """Corruption pairs with their similarity per measure, most redundant (rank 1) first."""
    return db.read(results.benchmark_similarity)


@st.cache_data(max_entries=16, show_spinner=False)
def dimension_angles(db: DbRef) -> pd.DataFrame:
    """Mean and std (degrees) of angles per feature dimension and kind."""
    return db.read(results.dimension_angles)


@st.cache_data(max_entries=16, show_spinner=False)
def vulnerability_archs(db: DbRef) -> list[str]:
    return list(db.read(results.vulnerability_archs)["arch"])


@st.cache_data(max_entries=16, show_spinner=False)
def vulnerable_samples(db: DbRef, arch: str) -> pd.DataFrame:
    """Disagreement (column ``pie``: disagrees with the other pruned models) and low-PV flags
    (nullable) and the dense model's geometric score (larger = more vulnerable) of every
    sample, for one architecture."""
    return db.read(results.vulnerable_samples, arch)


@st.cache_data(max_entries=16, show_spinner=False)
def vulnerability_auc(db: DbRef) -> pd.DataFrame:
    return db.read(results.vulnerability_auc)


@st.cache_data(max_entries=16, show_spinner=False)
def pie_archs(db: DbRef) -> list[str]:
    """Architectures with a seed population's PIEs (Hooker et al.)."""
    return db.read(pies.pie_archs)


@st.cache_data(max_entries=16, show_spinner=False)
def pie_counts(db: DbRef, arch: str) -> pd.DataFrame:
    """PIEs per pruned seed population of ``arch`` (see ``core.store.pies.pie_counts``)."""
    return db.read(pies.pie_counts, arch)


@st.cache_data(max_entries=16, show_spinner=False)
def pie_auc(db: DbRef, arch: str) -> pd.DataFrame:
    """The finder's AUCs against the seed-population PIEs (``core.store.pies.pie_auc_rows``)."""
    return db.read(pies.pie_auc_rows, arch)


@st.cache_data(max_entries=16, show_spinner=False)
def embedding_spaces(db: DbRef) -> list[tuple[str, str]]:
    """The placements (space, scope) this database holds, sorted."""
    frame = db.read(placements.embedding_spaces)
    return list(zip(frame["space"], frame["scope"]))


@st.cache_data(max_entries=32, show_spinner=False)
def geometry_distances(db: DbRef, benchmark_id: str) -> pd.DataFrame:
    """True distances between the models' geometry on one benchmark, one row per pair."""
    return db.read(results.geometry_distances, benchmark_id)


@st.cache_data(max_entries=32, show_spinner=False)
def placement_quality(db: DbRef, space: str, scope: str, benchmark_ids: tuple[str, ...]
                      ) -> pd.DataFrame:
    """How faithful the placement (``space``, ``scope``) is on each of ``benchmark_ids`` (its
    points of that benchmark): trustworthiness (fraction) of its ``n_neighbors``-nearest
    neighbours and Spearman ρ of drawn vs true distances."""
    return db.read(placements.placement_quality, space, scope, benchmark_ids)


@st.cache_data(max_entries=16, show_spinner=False)
def shared_quality(db: DbRef, space: str) -> pd.DataFrame:
    """The quality of the shared placement ``space`` over all its points (one row, or none)."""
    return db.read(placements.shared_quality, space)


@st.cache_data(max_entries=16, show_spinner=False)
def effective_robustness(db: DbRef) -> pd.DataFrame:
    """Each model's effective robustness (fractions) with its arch, method, ratio, retrained."""
    return db.read(results.effective_robustness)


@st.cache_data(max_entries=16, show_spinner=False)
def geometry_spread(db: DbRef) -> pd.DataFrame:
    """Per model: spread and scale of its clean geometry and its robustness."""
    return db.read(results.geometry_spread)


# --- computed from the tables above ---------------------------------------------------------

@st.cache_data(max_entries=32, show_spinner=False)
def mst_edges(db: DbRef, benchmark_ids: tuple[str, ...], among: tuple[str, ...]) -> pd.DataFrame:
    """Minimum spanning tree of the true geometry distances on each of ``benchmark_ids``
    (``core.analysis.geometry_mst``), over the models ``among`` when given (else over all):
    columns model_a, model_b, distance, benchmark_id."""
    from core.analysis import geometry_mst

    frames = []
    for benchmark in benchmark_ids:
        distances = geometry_distances(db, benchmark)
        if len(distances):
            frames.append(geometry_mst(distances, among=list(among) or None).assign(
                benchmark_id=benchmark))
    if frames:
        return pd.concat(frames, ignore_index=True)
    return pd.DataFrame(columns=["model_a", "model_b", "distance", "benchmark_id"])


@st.cache_data(max_entries=16, show_spinner=False)
def roc_curves(db: DbRef, arch: str) -> pd.DataFrame:
    """ROC curves of the geometric score at finding PIE and low-PV samples of ``arch``
    (``core.analysis.roc.roc_curves``)."""
    from core.analysis.roc import roc_curves as curves

    return curves(vulnerable_samples(db, arch))


@st.cache_data(max_entries=16, show_spinner=False)
def spread_correlations(db: DbRef) -> pd.DataFrame:
    """Correlation of each clean-geometry statistic with each robustness target
    (``core.analysis.spread_correlations`` of `geometry_spread`)."""
    from core.analysis import spread_correlations as correlate

    return correlate(geometry_spread(db))


@st.cache_data(max_entries=16, show_spinner=False)
def effective_robustness_per_arch(db: DbRef) -> pd.DataFrame:
    """`effective_robustness` refitted within each architecture
    (``core.analysis.effective.effective_robustness_per_arch``)."""
    from core.analysis.effective import effective_robustness_per_arch as refit

    return refit(effective_robustness(db))
