"""How faithfully a 2-D placement keeps the true distances (see docs/analysis.md,
Similarity placement)."""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial.distance import pdist, squareform
from scipy.stats import spearmanr

__all__ = ["placement_quality"]


def placement_quality(distances: np.ndarray, points: np.ndarray, *,
                      n_neighbors: int = 5) -> tuple[float, float, int]:
    """Trustworthiness and rank correlation of a placement against the true distances.

    Args:
        distances: (n, n) true symmetric distances (e.g. between standardised geometry vectors).
        points: (n, d) placed coordinates, Euclidean.
        n_neighbors: neighbourhood size of the trustworthiness, capped at ⌈n/2⌉ − 1 (the most
            scikit-learn accepts).

    Returns:
        trustworthiness: ``sklearn.manifold.trustworthiness`` in [0, 1] — 1 when every point's
            placed nearest neighbours are among its true nearest ones; NaN below 4 points.
        spearman: Spearman correlation between the placed and the true distances over all
            n(n − 1)/2 pairs; NaN below 3 points or when either side is constant.
        n_neighbors: the neighbourhood size used (0 when the trustworthiness is NaN).
    """
    from sklearn.manifold import trustworthiness

    d = np.asarray(distances, dtype=np.float64)
    xy = np.asarray(points, dtype=np.float64)
    if d.ndim != 2 or d.shape[0] != d.shape[1]:
        raise ValueError(f"`distances` must be a square (n, n) matrix. Got shape {d.shape} "
                         "instead.")
    if xy.ndim != 2 or len(xy) != len(d):
        raise ValueError(f"`points` must be (n, d) with n = {len(d)}. Got shape {xy.shape} "
                         "instead.")
    if n_neighbors < 1:
        raise ValueError(f"`n_neighbors` must be >= 1. Got {n_neighbors} instead.")
    n = len(d)
    k = min(n_neighbors, math.ceil(n / 2) - 1)
    trust = (float(trustworthiness(d, xy, n_neighbors=k, metric="precomputed")) if k >= 1
             else math.nan)
    true, placed = squareform(d, checks=False), pdist(xy)
    if n < 3 or np.ptp(true) == 0 or np.ptp(placed) == 0:
        rho = math.nan
    else:
        rho = float(spearmanr(true, placed).statistic)
    return trust, rho, max(k, 0)
