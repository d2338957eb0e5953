"""Placing (model, benchmark) results in the plane: standardised geometry vectors, PCA, UMAP,
classical MDS, and the minimum spanning tree of a placement (see docs/definitions.md,
Embeddings)."""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
import pandas as pd
from scipy.sparse.csgraph import minimum_spanning_tree as _csgraph_mst

from ._columns import require_columns

__all__ = ["GEOMETRY_METRICS", "geometry_vectors", "embed_umap", "classical_mds",
           "minimum_spanning_tree"]

GEOMETRY_METRICS = ("angle", "margin", "l2")


def geometry_vectors(sample_metrics: pd.DataFrame, *,
                     metrics: Sequence[str] = GEOMETRY_METRICS) -> tuple[pd.DataFrame, np.ndarray]:
    """Describe each (model, benchmark) by its standardised per-sample geometry.

    Args:
        sample_metrics: long frame (model_id, benchmark_id, sample_id, *metrics).

    Returns:
        keys: (model_id, benchmark_id), one row per matrix row, sorted.
        matrix: (n_keys, len(metrics) · n_samples) float64, metric-major columns
        ``[angle(s_0..s_N), margin(s_0..s_N), l2(s_0..s_N)]`` over the sorted sample ids.
        Standardisation: each column (one metric of one sample) is z-scored across all
        (model, benchmark) rows, so every sample position weighs alike and the metrics' units do
        not matter. Missing values (NULL angle for a zero feature, a sample absent from a
        benchmark) become the column mean, i.e. 0; a constant column is all 0.
    """
    require_columns(sample_metrics, "sample_metrics",
                     ("model_id", "benchmark_id", "sample_id", *metrics))
    model_codes, model_ids = pd.factorize(sample_metrics["model_id"], sort=True)
    bench_codes, bench_ids = pd.factorize(sample_metrics["benchmark_id"], sort=True)
    # Combining two integer codes is far faster than factorising (model, benchmark) string pairs.
    key_codes, key_values = pd.factorize(model_codes.astype(np.int64) * len(bench_ids)
                                         + bench_codes, sort=True)
    sample_pos, sample_ids = pd.factorize(sample_metrics["sample_id"], sort=True)
    n_keys, n_samples = len(key_values), len(sample_ids)
    keys = pd.DataFrame({"model_id": np.asarray(model_ids)[key_values // len(bench_ids)],
                         "benchmark_id": np.asarray(bench_ids)[key_values % len(bench_ids)]})
    matrix = np.full((n_keys, len(metrics) * n_samples), np.nan)
    for k, metric in enumerate(metrics):
        matrix[key_codes, k * n_samples + sample_pos] = sample_metrics[metric].to_numpy(
            dtype=np.float64, na_value=np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns are handled below
        mean = np.nanmean(matrix, axis=0)
        std = np.nanstd(matrix, axis=0)
    matrix -= mean
    np.divide(matrix, std, out=matrix, where=std > 0)
    matrix[:, ~(std > 0)] = 0.0
    matrix[np.isnan(matrix)] = 0.0
    return keys, matrix


def _pca(matrix: np.ndarray, n_components: int, seed: int) -> np.ndarray:
    from sklearn.decomposition import PCA

    n_components = min(n_components, *matrix.shape)
    solver = "randomized" if min(matrix.shape) > 4 * n_components else "full"
    reduced = PCA(n_components=n_components, svd_solver=solver,
                  random_state=seed).fit_transform(matrix)
    if reduced.shape[1] < 2:  # rank-deficient input: pad so callers always get (n, 2)
        reduced = np.pad(reduced, ((0, 0), (0, 2 - reduced.shape[1])))
    return reduced


def embed_umap(matrix: np.ndarray, *, seed: int = 0, n_neighbors: int = 15,
               min_dist: float = 0.1, pca_dims: int | None = 50,
               n_epochs: int | None = None) -> np.ndarray:
    """2-D UMAP placement of the rows of ``matrix`` (n, d); deterministic for a fixed seed.

    Rows are first reduced to ``pca_dims`` principal components (``None`` skips it) — UMAP's
    neighbour graph on 50 dims instead of thousands keeps the demo build fast and hardly changes
    the neighbourhoods. The k nearest neighbours are exact (scikit-learn), handed to UMAP as
    ``precomputed_knn``: that skips pynndescent's numba compilation. ``n_neighbors`` is capped at
    n − 1; ``n_epochs=None`` is UMAP's default (500 below 10,000 points). With n <= 3 rows UMAP is
    undefined: the first two principal components are returned instead, with a warning.

    Returns (n, 2) float64.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(f"`matrix` must be 2-D (n, d). Got shape {matrix.shape} instead.")
    if not np.isfinite(matrix).all():
        raise ValueError("`matrix` must be finite. Got NaN or infinite values instead.")
    if n_neighbors < 2:
        raise ValueError(f"`n_neighbors` must be >= 2. Got {n_neighbors} instead.")
    n = matrix.shape[0]
    if n == 0:
        return np.zeros((0, 2))
    if n <= 3:
        warnings.warn(f"UMAP needs more than 3 points (got {n}); using the first two principal "
                      "components instead.", RuntimeWarning, stacklevel=2)
        return _pca(matrix, 2, seed)[:, :2] if n > 1 else np.zeros((n, 2))
    if pca_dims is not None and matrix.shape[1] > pca_dims and n > pca_dims:
        matrix = _pca(matrix, pca_dims, seed)
    from sklearn.neighbors import NearestNeighbors
    import umap  # imported here: its numba start-up costs seconds

    k = min(n_neighbors, n - 1)
    # Querying the fitted points themselves returns each point as its own first neighbour, the
    # convention of UMAP's own k-NN graph.
    knn_dists, knn_indices = NearestNeighbors(n_neighbors=k).fit(matrix).kneighbors(matrix)
    reducer = umap.UMAP(n_components=2, n_neighbors=k, min_dist=min_dist, n_epochs=n_epochs,
                        random_state=seed, n_jobs=1,
                        precomputed_knn=(knn_indices, knn_dists, None))
    with warnings.catch_warnings():
        # Without an NNDescent index UMAP cannot transform new points; we never do.
        warnings.filterwarnings("ignore", message=r"precomputed_knn\[2\]")
        return np.asarray(reducer.fit_transform(matrix), dtype=np.float64)


def classical_mds(distances: np.ndarray, *, n_components: int = 2) -> np.ndarray:
    """Classical (Torgerson) MDS of a symmetric (n, n) distance matrix → (n, n_components).

    Deterministic: each axis is signed so that its largest-magnitude coordinate is positive.
    Axes beyond the number of positive eigenvalues are 0.
    """
    d = np.asarray(distances, dtype=np.float64)
    if d.ndim != 2 or d.shape[0] != d.shape[1]:
        raise ValueError(f"`distances` must be a square (n, n) matrix. Got shape {d.shape} "
                         "instead.")
    if not np.isfinite(d).all():
        raise ValueError("`distances` must be finite. Got NaN or infinite values instead.")
    n = d.shape[0]
    centring = np.eye(n) - 1.0 / n
    b = -0.5 * centring @ (d ** 2) @ centring
    eigvals, eigvecs = np.linalg.eigh((b + b.T) / 2)
    order = np.argsort(eigvals)[::-1][:n_components]
    coords = eigvecs[:, order] * np.sqrt(np.clip(eigvals[order], 0.0, None))
    coords = np.pad(coords, ((0, 0), (0, n_components - coords.shape[1])))
    if n:
        pivot = np.abs(coords).argmax(axis=0)
        coords *= np.where(coords[pivot, np.arange(n_components)] < 0, -1.0, 1.0)
    return coords


def minimum_spanning_tree(points: np.ndarray, *, metric: str = "euclidean"
                          ) -> list[tuple[int, int, float]]:
    """Minimum spanning tree of a point set.

    Args:
        points: (n, d) coordinates (e.g. an embedding), or with ``metric='precomputed'`` an
            (n, n) symmetric distance matrix.

    Returns:
        n − 1 edges (i, j, length) with i < j, sorted by (i, j). Coincident points are joined by a
        zero-length edge (scipy's csgraph reads 0 as "no edge", so a constant is added to every
        distance before the search: that changes no spanning tree's rank).
    """
    if metric not in ("euclidean", "precomputed"):
        raise ValueError(f"`metric` must be 'euclidean' or 'precomputed'. Got {metric!r} instead.")
    x = np.asarray(points, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"`points` must be 2-D. Got shape {x.shape} instead.")
    if metric == "precomputed":
        if x.shape[0] != x.shape[1]:
            raise ValueError(f"A precomputed distance matrix must be square. Got {x.shape} "
                             "instead.")
        distances = x
    else:
        distances = np.linalg.norm(x[:, None, :] - x[None, :, :], axis=-1)
    if not np.isfinite(distances).all():
        raise ValueError("Distances must be finite. Got NaN or infinite values instead.")
    n = distances.shape[0]
    if n < 2:
        return []
    shift = distances.max() if distances.max() > 0 else 1.0
    shifted = np.triu(distances + shift, k=1)
    tree = _csgraph_mst(shifted).tocoo()
    edges = sorted((min(i, j), max(i, j)) for i, j in zip(tree.row.tolist(), tree.col.tolist()))
    return [(i, j, float(distances[i, j])) for i, j in edges]
