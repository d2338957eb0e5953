"""Placing (model, benchmark) results in the plane: the pairwise distances per benchmark of their
standardised geometry vectors (``core.analysis.vectors``), coincident models, faithful
placements (classical MDS = PCA, stress majorisation, UMAP), and minimum spanning trees (see
docs/analysis.md, Similarity placement)."""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components
from scipy.sparse.csgraph import minimum_spanning_tree as _csgraph_mst
from scipy.spatial.distance import cdist, pdist

from ._columns import require_columns

__all__ = ["PLACEMENT_METHODS", "DEFAULT_PLACEMENT", "COINCIDENT_TOLERANCE",
           "geometry_distances", "distance_matrix", "coincident_groups",
           "place_geometry", "embed_umap", "classical_mds", "minimum_spanning_tree",
           "geometry_mst"]

# How ``place_geometry`` draws the models of one benchmark: "pca" is classical MDS of the true
# distances (the 2-D PCA of the standardised vectors), "stress" refines it by stress
# majorisation on the true distances, "umap" is UMAP on the true distances started from "pca".
PLACEMENT_METHODS = ("pca", "stress", "umap")
# The default keeps distances and neighbourhoods best on the demo (bench/similarity.py).
DEFAULT_PLACEMENT = "stress"
# Two models whose standardised geometry vectors on a benchmark lie at most this Euclidean
# distance apart are *coincident*: drawn as one point. On the demo (500 samples, 1,500 unit-variance
# coordinates; median distance between models 26) it joins dense with SNIP/Taylor 10–20 % and
# magnitude 10 % on clean (0.008–0.17 apart): an RMS difference of 0.5 % of a standard deviation
# per coordinate.
COINCIDENT_TOLERANCE = 0.2


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


# --------------------------------------------------------------------------- true distances

def geometry_distances(keys: pd.DataFrame, matrix: np.ndarray) -> pd.DataFrame:
    """Euclidean distances between the models' standardised geometry vectors, per benchmark.

    Args:
        keys, matrix: the output of :func:`geometry_vectors` (rows (model_id, benchmark_id)).

    Returns:
        (benchmark_id, model_a, model_b, distance), one row per unordered pair of models with
        model_a < model_b, sorted; distance in standardised units (0 = identical geometry).
    """
    require_columns(keys, "keys", ("model_id", "benchmark_id"))
    if len(keys) != len(matrix):
        raise ValueError(f"`keys` and `matrix` must have as many rows. Got {len(keys)} and "
                         f"{len(matrix)} instead.")
    frames = []
    for benchmark_id, rows in keys.groupby("benchmark_id", sort=True).indices.items():
        rows = rows[np.argsort(keys["model_id"].to_numpy()[rows], kind="stable")]
        ids = keys["model_id"].to_numpy()[rows]
        i, j = np.triu_indices(len(rows), k=1)
        frames.append(pd.DataFrame({"benchmark_id": benchmark_id, "model_a": ids[i],
                                    "model_b": ids[j], "distance": pdist(matrix[rows])}))
    if not frames:
        return pd.DataFrame({"benchmark_id": pd.Series(dtype=object),
                             "model_a": pd.Series(dtype=object),
                             "model_b": pd.Series(dtype=object),
                             "distance": pd.Series(dtype=np.float64)})
    return pd.concat(frames, ignore_index=True)


def distance_matrix(distances: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Square form of one benchmark's pairwise distances.

    Args:
        distances: (model_a, model_b, distance) of one benchmark, each unordered pair in either
            or both orders (the rows of ``geometry_distances`` for one benchmark_id).

    Returns:
        model_ids: (n,) sorted ids of every model named in ``distances``.
        square: (n, n) symmetric float64 with a zero diagonal.
    """
    require_columns(distances, "distances", ("model_a", "model_b", "distance"))
    if "benchmark_id" in distances and distances["benchmark_id"].nunique() > 1:
        raise ValueError("`distances` must hold one benchmark. Got "
                         f"{distances['benchmark_id'].nunique()} benchmarks instead.")
    codes, model_ids = pd.factorize(pd.concat([distances["model_a"], distances["model_b"]]),
                                    sort=True)
    a, b = codes[:len(distances)], codes[len(distances):]
    n = len(model_ids)
    square = np.full((n, n), np.nan)
    values = distances["distance"].to_numpy(dtype=np.float64)
    square[a, b] = values
    square[b, a] = values
    np.fill_diagonal(square, 0.0)
    if np.isnan(square).any():
        raise ValueError("`distances` must hold every pair of its models. Got missing pairs "
                         "instead.")
    return np.asarray(model_ids, dtype=object), square


def _coincident_labels(square: np.ndarray, tolerance: float) -> np.ndarray:
    """(n,) group index of each point; groups are the connected components of the graph
    "distance <= tolerance", numbered in the order of their first member."""
    _, labels = connected_components(csr_matrix(square <= tolerance), directed=False)
    _, first = np.unique(labels, return_index=True)
    renumber = np.empty_like(labels)
    renumber[np.argsort(first)] = np.arange(len(first))
    return renumber[labels]


def _check_tolerance(tolerance: float) -> None:
    if not tolerance >= 0:
        raise ValueError(f"`tolerance` must be >= 0. Got {tolerance} instead.")


def coincident_groups(distances: pd.DataFrame, *,
                      tolerance: float = COINCIDENT_TOLERANCE) -> pd.DataFrame:
    """Groups of models whose geometry coincides on a benchmark (drawn as one marker).

    Args:
        distances: (benchmark_id, model_a, model_b, distance), e.g. the ``geometry_distances``
            table or some of its benchmarks.
        tolerance: models at most this far apart are coincident (chained: a group is a connected
            component of the "distance <= tolerance" graph). ``place_geometry`` with the same
            tolerance gives every model of a group the same point.

    Returns:
        (benchmark_id, model_id, group, n_models) for every model of every benchmark: ``group``
        is the smallest model_id of its group, ``n_models`` the group's size (1: alone). Sorted
        by (benchmark_id, group, model_id).
    """
    require_columns(distances, "distances", ("benchmark_id", "model_a", "model_b", "distance"))
    _check_tolerance(tolerance)
    frames = []
    for benchmark_id, rows in distances.groupby("benchmark_id", sort=True):
        model_ids, square = distance_matrix(rows)
        labels = _coincident_labels(square, tolerance)
        # Model ids are sorted, so a group's first member is its smallest id.
        _, first = np.unique(labels, return_index=True)
        frames.append(pd.DataFrame({"benchmark_id": benchmark_id, "model_id": model_ids,
                                    "group": model_ids[first][labels],
                                    "n_models": np.bincount(labels)[labels]}))
    if not frames:
        return pd.DataFrame(columns=["benchmark_id", "model_id", "group", "n_models"])
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["benchmark_id", "group", "model_id"], ignore_index=True)


# --------------------------------------------------------------------------- placement

def _stress_majorisation(distances: np.ndarray, init: np.ndarray, *, max_iter: int = 300,
                         rtol: float = 1e-6) -> np.ndarray:
    """SMACOF: minimise the raw stress Σ_{i<j} (‖x_i − x_j‖ − d_ij)² from ``init`` (n, 2).

    Unit weights, so the Guttman transform is X ← B(X) X / n (de Leeuw 1977); every step lowers
    the stress, and the loop stops when it falls by less than ``rtol`` of itself.
    """
    n = len(distances)
    x = init.copy()
    stress = np.inf
    for _ in range(max_iter):
        placed = cdist(x, x)
        ratio = np.divide(distances, placed, out=np.zeros_like(placed), where=placed > 0)
        b = -ratio
        b[np.diag_indices(n)] = ratio.sum(axis=1)
        x = b @ x / n
        new_stress = float(((cdist(x, x) - distances) ** 2).sum()) / 2
        if stress - new_stress <= rtol * new_stress:
            break
        stress = new_stress
    return x


def _umap_precomputed(distances: np.ndarray, init: np.ndarray, *, seed: int, n_neighbors: int,
                      min_dist: float, n_epochs: int) -> np.ndarray:
    import umap  # imported here: its numba start-up costs seconds

    # The exact neighbours, read off the matrix as UMAP would: handing them over skips the
    # compilation of UMAP's own k-NN search (8 of a process's first 14 s), same placement.
    knn = np.argsort(distances, axis=1, kind="stable")[:, :n_neighbors]
    reducer = umap.UMAP(n_components=2, metric="precomputed", n_neighbors=n_neighbors,
                        min_dist=min_dist, n_epochs=n_epochs, init=init, random_state=seed,
                        n_jobs=1, precomputed_knn=(knn, np.take_along_axis(distances, knn, 1),
                                                   None))
    with warnings.catch_warnings():
        # UMAP warns that a precomputed metric cannot transform new points; we never do.
        warnings.simplefilter("ignore", UserWarning)
        return np.asarray(reducer.fit_transform(distances), dtype=np.float64)


def place_geometry(distances: np.ndarray, *, method: str = DEFAULT_PLACEMENT, seed: int = 0,
                   tolerance: float = COINCIDENT_TOLERANCE, umap_neighbors: int = 10,
                   umap_min_dist: float = 0.5, umap_epochs: int = 200) -> np.ndarray:
    """Place the models of one benchmark in the plane from their true pairwise distances.

    Coincident models (``coincident_groups`` with the same ``tolerance``) are placed once and
    share that point exactly; the others are placed by ``method`` (see ``PLACEMENT_METHODS``):

    - ``"pca"``: classical MDS of ``distances`` — for Euclidean distances, the first two
      principal components of the vectors. Deterministic.
    - ``"stress"``: "pca" refined by stress majorisation (SMACOF) so that the drawn distances
      match the true ones as a whole. Deterministic.
    - ``"umap"``: UMAP on the precomputed distances, started from "pca", ``umap_neighbors``
      neighbours (capped at n − 1), ``umap_min_dist`` and ``umap_epochs``. With 3 or fewer
      distinct points it is "pca". Deterministic for a fixed ``seed``.

    Args:
        distances: (n, n) symmetric Euclidean distances (e.g. ``distance_matrix``).

    Returns:
        (n, 2) float64 in the units of ``distances`` ("pca", "stress"; UMAP's are arbitrary).
    """
    if method not in PLACEMENT_METHODS:
        raise ValueError(f"`method` must be one of {PLACEMENT_METHODS}. Got {method!r} instead.")
    _check_tolerance(tolerance)
    d = np.asarray(distances, dtype=np.float64)
    if d.ndim != 2 or d.shape[0] != d.shape[1]:
        raise ValueError(f"`distances` must be a square (n, n) matrix. Got shape {d.shape} "
                         "instead.")
    if not np.isfinite(d).all():
        raise ValueError("`distances` must be finite. Got NaN or infinite values instead.")
    if len(d) == 0:
        return np.zeros((0, 2))
    labels = _coincident_labels(d, tolerance)
    _, first = np.unique(labels, return_index=True)
    distinct = d[np.ix_(first, first)]
    xy = classical_mds(distinct)
    if method == "stress" and len(first) > 2:
        xy = _stress_majorisation(distinct, xy)
    elif method == "umap" and len(first) > 3:
        xy = _umap_precomputed(distinct, xy, seed=seed,
                               n_neighbors=min(umap_neighbors, len(first) - 1),
                               min_dist=umap_min_dist, n_epochs=umap_epochs)
    return xy[labels]


# --------------------------------------------------------------------------- MST

def geometry_mst(distances: pd.DataFrame, *, among: Sequence[str] | None = None) -> pd.DataFrame:
    """Minimum spanning tree of models in the real geometry space of one benchmark.

    Args:
        distances: (model_a, model_b, distance) of one benchmark (the ``geometry_distances``
            rows of one benchmark_id), each pair in either or both orders.
        among: when given, the tree spans only these models (e.g. the selected ones); ids absent
            from ``distances`` are ignored. ``None``: every model.

    Returns:
        (model_a, model_b, distance): the tree's m − 1 edges for m spanned models, model_a <
        model_b, sorted; distances in standardised units. Coincident models are joined by
        zero-length edges.
    """
    model_ids, square = distance_matrix(distances)
    if among is not None:
        keep = np.isin(model_ids, np.asarray(list(among), dtype=object))
        model_ids, square = model_ids[keep], square[np.ix_(keep, keep)]
    edges = minimum_spanning_tree(square, metric="precomputed")
    i, j = (np.array([e[k] for e in edges], dtype=np.int64) for k in (0, 1))
    return pd.DataFrame({"model_a": model_ids[i], "model_b": model_ids[j],
                         "distance": np.array([e[2] for e in edges], dtype=np.float64)})
