"""Redundancy of corruptions measured on the models' geometry (see docs/analysis.md,
Benchmark similarity)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._columns import require_columns

__all__ = ["geometry_redundancy"]


def geometry_redundancy(keys: pd.DataFrame, matrix: np.ndarray,
                        benchmarks: pd.DataFrame) -> pd.DataFrame:
    """How far the models' geometry moves between two corruptions, in the shape of
    ``benchmark_similarity``.

    For corruptions a and b, a *cell* is (model, severity) where the model has a result on both
    (a, severity) and (b, severity); 'clean' takes part as a pseudo-corruption present at every
    severity (as in ``benchmark_similarity``). The measure is the mean over the cells of the
    Euclidean distance between the model's standardised geometry vectors on the two benchmarks,
    divided by the root-mean-square distance between two distinct rows of ``matrix`` (so 0 =
    the models' geometry does not move at all, 1 = it moves as far as between two unrelated
    (model, benchmark) results).

    Args:
        keys, matrix: the output of ``geometry_vectors`` over the whole population.
        benchmarks: (benchmark_id, corruption, severity); the clean benchmark has corruption
            'clean'.

    Returns:
        (corruption_a, corruption_b, similarity, measure, rank), one row per unordered pair with
        corruption_a < corruption_b, ``measure = 'geometry_distance'`` and ``similarity`` the
        normalised distance above (lower = more redundant); rank 1 = the smallest distance. A
        pair without a cell has NaN and no rank.
    """
    require_columns(keys, "keys", ("model_id", "benchmark_id"))
    require_columns(benchmarks, "benchmarks", ("benchmark_id", "corruption", "severity"))
    if len(keys) != len(matrix):
        raise ValueError(f"`keys` and `matrix` must have as many rows. Got {len(keys)} and "
                         f"{len(matrix)} instead.")
    rows = keys.reset_index(drop=True).rename_axis("row").reset_index().merge(
        benchmarks[["benchmark_id", "corruption", "severity"]], on="benchmark_id")
    is_clean = rows["corruption"] == "clean"
    severities = np.sort(rows.loc[~is_clean, "severity"].unique())
    clean = rows[is_clean].drop(columns="severity").merge(
        pd.DataFrame({"severity": severities}), how="cross")
    # One (model, severity) × corruption table of row indices into `matrix` (-1: no result).
    cells = pd.concat([rows[~is_clean], clean], ignore_index=True).pivot_table(
        index=["model_id", "severity"], columns="corruption", values="row", aggfunc="first")
    names = cells.columns.to_numpy()  # sorted by pivot_table, so names[a] < names[b] below
    index = cells.fillna(-1).to_numpy(dtype=np.int64)
    n = len(matrix)
    # Mean squared distance between distinct rows = 2 n / (n − 1) · Σ column variances.
    # Column blocks: ``var`` holds a centred copy of what it reduces (the full preset's matrix
    # is 2.6 GB).
    variance = float(sum(matrix[:, start:start + 1024].var(axis=0).sum()
                         for start in range(0, matrix.shape[1], 1024))) if n > 1 else 0.0
    scale = np.sqrt(2 * n / (n - 1) * variance) if n > 1 and variance > 0 else np.nan
    a, b = np.triu_indices(len(names), k=1)
    similarity = np.full(len(a), np.nan)
    for p, (i, j) in enumerate(zip(a, b)):  # one vectorised step per pair of corruptions
        both = (index[:, i] >= 0) & (index[:, j] >= 0)
        if both.any():
            moved = np.linalg.norm(matrix[index[both, i]] - matrix[index[both, j]], axis=1)
            similarity[p] = moved.mean() / scale
    pairs = pd.DataFrame({"corruption_a": names[a], "corruption_b": names[b],
                          "similarity": similarity, "measure": "geometry_distance"})
    pairs["rank"] = pairs["similarity"].rank(ascending=True, method="min").astype("Int64")
    return pairs.sort_values(["rank", "corruption_a", "corruption_b"], ignore_index=True)
