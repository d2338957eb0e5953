"""Standardised per-sample geometry vectors of (model, benchmark) results: what the similarity
placements, their distances and the geometric redundancy of corruptions are computed from (see
docs/analysis.md, Similarity placement)."""

from __future__ import annotations

import warnings
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from ._columns import require_columns

__all__ = ["GEOMETRY_METRICS", "geometry_vectors"]

GEOMETRY_METRICS = ("angle", "margin", "l2")


def geometry_vectors(sample_metrics: pd.DataFrame | Iterable[pd.DataFrame], *,
                     metrics: Sequence[str] = GEOMETRY_METRICS,
                     keys: pd.DataFrame | None = None, sample_ids: np.ndarray | None = None
                     ) -> tuple[pd.DataFrame, np.ndarray]:
    """Describe each (model, benchmark) by its standardised per-sample geometry.

    Args:
        sample_metrics: long frame (model_id, benchmark_id, sample_id, *metrics), or an
            iterable of such frames (e.g. one per benchmark, read one at a time) when ``keys``
            and ``sample_ids`` are given.
        keys: every (model_id, benchmark_id) of the parts, needed with an iterable of parts (a
            frame supplies its own); pairs no row mentions get an all-zero vector.
        sample_ids: every sample id of the parts, likewise.

    Returns:
        keys: (model_id, benchmark_id), one row per matrix row, sorted.
        matrix: (n_keys, len(metrics) · n_samples) float64, metric-major columns
        ``[angle(s_0..s_N), margin(s_0..s_N), l2(s_0..s_N)]`` over the sorted sample ids.
        Standardisation: each column (one metric of one sample) is z-scored across all
        (model, benchmark) rows, so every sample position weighs alike and the metrics' units do
        not matter. Missing values (NULL angle for a zero feature, a sample absent from a
        benchmark) become the column mean, i.e. 0; a constant column is all 0.

    Memory: the matrix and, at a time, one part and a block of columns (the full preset's 10,752
    rows × 30,000 columns are 2.6 GB; read per benchmark, no long frame of 107M rows is held).
    """
    if isinstance(sample_metrics, pd.DataFrame):
        parts = [sample_metrics]
        require_columns(sample_metrics, "sample_metrics",
                        ("model_id", "benchmark_id", "sample_id", *metrics))
        if keys is None:
            # Combining two integer codes is far faster than deduplicating string pairs.
            model_codes, models = pd.factorize(sample_metrics["model_id"])
            bench_codes, benches = pd.factorize(sample_metrics["benchmark_id"])
            pairs = np.unique(model_codes.astype(np.int64) * len(benches) + bench_codes)
            keys = pd.DataFrame({"model_id": np.asarray(models)[pairs // len(benches)],
                                 "benchmark_id": np.asarray(benches)[pairs % len(benches)]})
            del model_codes, bench_codes
        if sample_ids is None:
            sample_ids = sample_metrics["sample_id"].unique()
    elif keys is None or sample_ids is None:
        raise ValueError("`keys` and `sample_ids` must be given with an iterable of parts.")
    else:
        parts = sample_metrics
    keys = (pd.DataFrame({"model_id": np.asarray(keys["model_id"], dtype=object),
                          "benchmark_id": np.asarray(keys["benchmark_id"], dtype=object)})
            .sort_values(["model_id", "benchmark_id"], ignore_index=True))
    sample_ids = np.sort(np.asarray(sample_ids))
    model_ids = pd.Index(keys["model_id"].unique())
    bench_ids = pd.Index(np.sort(keys["benchmark_id"].unique()))
    # Matrix row of each (model code, benchmark code); -1 where the pair is not a key.
    row_of = np.full(len(model_ids) * len(bench_ids), -1, dtype=np.int64)
    row_of[model_ids.get_indexer(keys["model_id"]) * len(bench_ids)
           + bench_ids.get_indexer(keys["benchmark_id"])] = np.arange(len(keys))
    n_samples = len(sample_ids)
    matrix = np.full((len(keys), len(metrics) * n_samples), np.nan)
    for part in parts:
        require_columns(part, "sample_metrics", ("model_id", "benchmark_id", "sample_id", *metrics))
        model_pos, bench_pos = (_positions(index, part[column]) for index, column in
                                ((model_ids, "model_id"), (bench_ids, "benchmark_id")))
        rows = np.where((model_pos >= 0) & (bench_pos >= 0),
                        row_of[model_pos * len(bench_ids) + bench_pos], -1)
        part_samples = part["sample_id"].to_numpy()
        positions = np.minimum(np.searchsorted(sample_ids, part_samples), n_samples - 1)
        if (rows < 0).any() or (sample_ids[positions] != part_samples).any():
            raise ValueError("Every row of a part must belong to one of `keys` and `sample_ids`. "
                             "Got a (model_id, benchmark_id) or sample_id outside them instead.")
        del model_pos, bench_pos, part_samples
        for k, metric in enumerate(metrics):
            matrix[rows, k * n_samples + positions] = part[metric].to_numpy(
                dtype=np.float64, na_value=np.nan)
        del rows, positions
    _standardise_columns(matrix)
    return keys, matrix


def _positions(index: pd.Index, values: pd.Series) -> np.ndarray:
    """Position of each value in ``index`` (-1 where absent): the few distinct values are looked
    up once, not every row (a part has millions of rows and a handful of ids)."""
    codes, uniques = pd.factorize(values)
    return index.get_indexer(uniques)[codes] if len(codes) else np.zeros(0, dtype=np.int64)


def _standardise_columns(matrix: np.ndarray, block: int = 1024) -> None:
    """z-score every column of ``matrix`` in place over its non-NaN rows (population std);
    constant or empty columns and NaN entries become 0. Column blocks bound the temporaries."""
    for start in range(0, matrix.shape[1], block):
        part = matrix[:, start:start + block]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: handled below
            mean = np.nanmean(part, axis=0)
            std = np.nanstd(part, axis=0)
        part -= mean
        np.divide(part, std, out=part, where=std > 0)
        part[:, ~(std > 0)] = 0.0
        part[np.isnan(part)] = 0.0
