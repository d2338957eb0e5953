"""One shared placement of every (model, benchmark) result: all rows of the standardised geometry
vectors placed in one plane, so that points of different benchmarks can be compared (see
docs/analysis.md, Similarity placement: step 5a, the shared placement).

The per-benchmark placements (``placement.place_geometry``) see a full distance matrix of about a
hundred models; the shared one places n = models × benchmarks rows (10,752 on the demo, ~20,000 at
the paper's size), too many for a full n × n stress. It minimises a *sparse* stress instead: over
every pair of rows of one benchmark (what the per-benchmark view reads) and a fixed number of
random partners per row (the global layout), started from the 2-D PCA of the rows, by a few
steps of stress majorisation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from .placement import COINCIDENT_TOLERANCE, _pca

__all__ = ["SHARED_PARTNERS", "SHARED_ITERATIONS", "nearest_neighbours", "shared_coincident",
           "place_shared", "shared_trustworthiness", "sampled_spearman"]

# Defaults of `place_shared`, chosen on the demo database by bench/similarity.py.
SHARED_PARTNERS = 20
SHARED_ITERATIONS = 10
_WITHIN_WEIGHT = 5.0
_BLOCK = 1024


def _check_matrix(matrix: np.ndarray) -> np.ndarray:
    x = np.asarray(matrix, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"`matrix` must be 2-D (n, d). Got shape {x.shape} instead.")
    if not np.isfinite(x).all():
        raise ValueError("`matrix` must be finite. Got NaN or infinite values instead.")
    return x


def _pair_distances(x: np.ndarray, i: np.ndarray, j: np.ndarray, chunk: int = 8192
                    ) -> np.ndarray:
    """Exact ‖x_i − x_j‖ for the pairs (i, j), in chunks (memory O(chunk · d))."""
    out = np.empty(len(i))
    for start in range(0, len(i), chunk):
        stop = start + chunk
        diff = x[i[start:stop]] - x[j[start:stop]]
        out[start:stop] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    return out


def _squared_distance_blocks(x: np.ndarray, block: int = _BLOCK, dtype=np.float32):
    """Yield (start, stop, squared distances (stop − start, n)) of the rows of ``x``, by blocks
    of rows (products in ``dtype``: memory O(block · n), time O(n² d))."""
    x32 = np.ascontiguousarray(x, dtype=dtype)
    norms = np.einsum("ij,ij->i", x32, x32)
    for start in range(0, len(x), block):
        stop = min(len(x), start + block)
        d2 = norms[start:stop, None] + norms[None, :] - 2.0 * (x32[start:stop] @ x32.T)
        np.maximum(d2, 0.0, out=d2)
        d2[np.arange(stop - start), np.arange(start, stop)] = np.inf  # never one's own neighbour
        yield start, stop, d2


def nearest_neighbours(matrix: np.ndarray, k: int, *, within: float | None = None
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``k`` nearest other rows of every row of ``matrix`` (n, d), Euclidean, exact.

    Args:
        within: also return every pair at most this far apart (``None``: none).

    Returns:
        indices (n, k) int64 and distances (n, k) float64, nearest first (the distances
        recomputed in float64 from the rows); ``close`` (m, 2) int64 pairs i < j within
        ``within``.
    """
    x = _check_matrix(matrix)
    n = len(x)
    if not 1 <= k < n:
        raise ValueError(f"`k` must be in [1, n − 1] = [1, {n - 1}]. Got {k} instead.")
    indices = np.empty((n, k), dtype=np.int64)
    close = []
    for start, stop, d2 in _squared_distance_blocks(x):
        part = np.argpartition(d2, k - 1, axis=1)[:, :k]
        order = np.argsort(np.take_along_axis(d2, part, axis=1), axis=1, kind="stable")
        indices[start:stop] = np.take_along_axis(part, order, axis=1)
        if within is not None:
            # float32 products: a little slack, then the exact distance decides.
            rows, cols = np.nonzero(d2 <= (within + 1e-3) ** 2 + 1e-3)
            rows += start
            keep = rows < cols
            close.append(np.stack([rows[keep], cols[keep]], axis=1))
    distances = _pair_distances(x, np.repeat(np.arange(n), k), indices.ravel()).reshape(n, k)
    pairs = np.concatenate(close) if close else np.zeros((0, 2), dtype=np.int64)
    if len(pairs):
        pairs = pairs[_pair_distances(x, pairs[:, 0], pairs[:, 1]) <= within]
    order = np.argsort(distances, axis=1, kind="stable")
    return (np.take_along_axis(indices, order, axis=1),
            np.take_along_axis(distances, order, axis=1), pairs)


def shared_coincident(n: int, close: np.ndarray) -> np.ndarray:
    """(n,) group label per row: the connected components of the pairs ``close`` (m, 2), numbered
    in the order of their first row."""
    graph = coo_matrix((np.ones(len(close)), (close[:, 0], close[:, 1])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    _, first = np.unique(labels, return_index=True)
    renumber = np.empty_like(labels)
    renumber[np.argsort(first)] = np.arange(len(first))
    return renumber[labels]


def _stress_pairs(x: np.ndarray, labels: np.ndarray, benchmark: np.ndarray, partners: int,
                  seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The pairs of distinct points (group labels) the sparse stress is summed over, with their
    true distances (between the groups' first rows) and whether they are two rows of one
    benchmark (every such pair) rather than a uniformly drawn partner (``partners`` per
    point)."""
    m = int(labels.max()) + 1
    _, first = np.unique(labels, return_index=True)
    rng = np.random.default_rng(seed)
    far_i = np.repeat(np.arange(m), partners)
    far_j = rng.integers(0, m - 1, size=m * partners)
    far_j += far_j >= far_i                            # any other point, uniformly
    within_i, within_j = [], []
    for rows in pd.Series(np.arange(len(benchmark))).groupby(benchmark).indices.values():
        a, b = np.triu_indices(len(rows), k=1)
        within_i.append(labels[rows[a]])
        within_j.append(labels[rows[b]])
    within_i, within_j = np.concatenate(within_i), np.concatenate(within_j)
    apart = within_i != within_j                       # coincident rows are one point
    i = np.concatenate([far_i, within_i[apart]])
    j = np.concatenate([far_j, within_j[apart]])
    within = np.concatenate([np.zeros(len(far_i), bool), np.ones(int(apart.sum()), bool)])
    return i, j, _pair_distances(x, first[i], first[j]), within


def _majorise(init: np.ndarray, i: np.ndarray, j: np.ndarray, d: np.ndarray, w: np.ndarray,
              iterations: int) -> np.ndarray:
    """Sparse weighted stress Σ w_ij (‖x_i − x_j‖ − d_ij)² lowered by localised stress
    majorisation (Gansner, Koren & North 2004), every point updated at once and averaged with its
    previous position (a damped Jacobi step):
    x_i ← ½ x_i + ½ Σ_j w_ij (x_j + d_ij (x_i − x_j)/‖x_i − x_j‖) / Σ_j w_ij."""
    n = len(init)
    a, b = np.concatenate([i, j]), np.concatenate([j, i])
    dd, ww = np.concatenate([d, d]), np.concatenate([w, w])
    total = np.bincount(a, ww, n)
    total[total == 0] = 1.0
    x = init.copy()
    for _ in range(iterations):
        diff = x[a] - x[b]
        length = np.sqrt(np.einsum("ij,ij->i", diff, diff))
        scale = np.divide(dd, length, out=np.zeros_like(length), where=length > 0)
        target = x[b] + scale[:, None] * diff
        moved = np.stack([np.bincount(a, ww * target[:, c], n) for c in (0, 1)], axis=1)
        x = 0.5 * x + 0.5 * moved / total[:, None]
    return x


def place_shared(matrix: np.ndarray, benchmark: np.ndarray, *,
                 n_partners: int = SHARED_PARTNERS, iterations: int = SHARED_ITERATIONS,
                 tolerance: float = COINCIDENT_TOLERANCE, seed: int = 0) -> np.ndarray:
    """Place every row of ``matrix`` in one plane, keeping each benchmark's distances and the
    layout of all of them together.

    Rows at most ``tolerance`` apart (chained, across benchmarks too) are coincident and share
    one point exactly. The distinct rows start at their 2-D PCA (in the units of the distances)
    and are moved, for ``iterations`` steps, to lower the sparse stress
    Σ w_ij (‖x_i − x_j‖ − d_ij)² over two kinds of pairs: every two rows of one benchmark
    (w = `_WITHIN_WEIGHT`: the per-benchmark picture) and ``n_partners`` uniformly drawn rows
    per row (w = 1: the layout of all benchmarks together). Few steps: the PCA start keeps the
    neighbourhoods across benchmarks best, and the within-benchmark pairs mend each benchmark's
    own neighbourhoods within the first steps (bench/similarity.py).

    Args:
        matrix: (n, d) standardised geometry vectors of every (model, benchmark)
            (``geometry_vectors``).
        benchmark: (n,) the benchmark of each row (any labels).

    Returns:
        (n, 2) float64 in the units of the true distances. Deterministic for a fixed ``seed``.
        Cost: O(n² d) to find the coincident rows (float32 products by blocks of rows), then
        O(n n_partners + Σ_b n_b²) per iteration (n_b: rows of benchmark b).
    """
    x = _check_matrix(matrix)
    benchmark = np.asarray(benchmark)
    if benchmark.shape != (len(x),):
        raise ValueError(f"`benchmark` must have one label per row ({len(x)}). Got shape "
                         f"{benchmark.shape} instead.")
    if tolerance < 0 or not np.isfinite(tolerance):
        raise ValueError(f"`tolerance` must be >= 0. Got {tolerance} instead.")
    if n_partners < 0 or iterations < 0:
        raise ValueError("`n_partners` and `iterations` must be >= 0. Got "
                         f"{n_partners}, {iterations} instead.")
    n = len(x)
    if n < 2:
        return np.zeros((n, 2))
    _, _, close = nearest_neighbours(x, 1, within=tolerance)
    labels = shared_coincident(n, close)
    _, first = np.unique(labels, return_index=True)
    distinct = x[first]
    m = len(distinct)
    xy = _pca(distinct - distinct.mean(axis=0), 2, seed)[:, :2]
    if m > 3:
        i, j, d, within = _stress_pairs(x, labels, benchmark, min(n_partners, m - 1), seed)
        positive = d > 0
        i, j, d, within = i[positive], j[positive], d[positive], within[positive]
        w = np.where(within, _WITHIN_WEIGHT, 1.0)
        xy = _majorise(xy, i, j, d, w, iterations)
    return xy[labels]


def shared_trustworthiness(matrix: np.ndarray, points: np.ndarray, *, n_neighbors: int = 5
                           ) -> float:
    """Trustworthiness (Venna & Kaski; scikit-learn's definition) of ``points`` (n, 2) as a
    placement of the rows of ``matrix`` (n, d), for n too large for an n × n rank matrix:

        T = 1 − 2 / (n k (2n − 3k − 1)) · Σ_i Σ_{j ∈ placed k-NN(i)} max(0, r(i, j) − k)

    with r(i, j) the rank of j among i's true neighbours, computed by blocks of rows. A tie in
    the true distances takes its smallest rank (scikit-learn breaks it by sort order), so
    coincident rows cost nothing."""
    from sklearn.neighbors import NearestNeighbors

    x = _check_matrix(matrix)
    xy = np.asarray(points, dtype=np.float64)
    n, k = len(x), n_neighbors
    if xy.shape != (n, 2):
        raise ValueError(f"`points` must be (n, 2) with n = {n}. Got {xy.shape} instead.")
    if not 1 <= k < n / 2:
        raise ValueError(f"`n_neighbors` must be in [1, n/2). Got {k} instead.")
    placed = NearestNeighbors(n_neighbors=k + 1).fit(xy).kneighbors(xy, return_distance=False)
    # Drop each point itself (not always in column 0 when points coincide).
    own = placed == np.arange(n)[:, None]
    own[~own.any(axis=1), -1] = True
    placed = placed[~own].reshape(n, k)
    penalty = 0.0
    for start, stop, d2 in _squared_distance_blocks(x, block=256, dtype=np.float64):
        chosen = np.take_along_axis(d2, placed[start:stop], axis=1)
        # rank r(i, j) = 1 + #{l ≠ i: d_il < d_ij}; d2 holds +inf at l = i
        ranks = 1 + (d2[:, None, :] < chosen[:, :, None]).sum(axis=2)
        penalty += np.clip(ranks - k, 0, None).sum()
    return float(1.0 - 2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0)) * penalty)


def sampled_spearman(matrix: np.ndarray, points: np.ndarray, *, n_pairs: int = 200_000,
                     seed: int = 0) -> float:
    """Spearman ρ between placed and true distances over ``n_pairs`` pairs of distinct rows
    drawn uniformly (with replacement) — the all-pairs ρ of n rows has n(n − 1)/2 terms (58
    million on the demo); 200,000 pairs give it to about ±0.002. NaN below 3 rows."""
    from scipy.stats import spearmanr

    x = _check_matrix(matrix)
    xy = np.asarray(points, dtype=np.float64)
    n = len(x)
    if n < 3:
        return float("nan")
    rng = np.random.default_rng(seed)
    i = rng.integers(0, n, size=n_pairs)
    j = rng.integers(0, n - 1, size=n_pairs)
    j += j >= i
    true, placed = _pair_distances(x, i, j), np.linalg.norm(xy[i] - xy[j], axis=1)
    if np.ptp(true) == 0 or np.ptp(placed) == 0:
        return float("nan")
    return float(spearmanr(true, placed).statistic)
