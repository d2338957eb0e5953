"""Linear centred kernel alignment (CKA) between representations of the same samples (see
docs/analysis.md, Linear CKA)."""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

__all__ = ["linear_cka", "linear_cka_matrix"]


def _centred(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"`{name}` must be 2-D (n, m). Got shape {x.shape} instead.")
    if not np.isfinite(x).all():
        raise ValueError(f"`{name}` must be finite. Got NaN or infinite values instead.")
    return x - x.mean(axis=0)


def _gram_root(x: np.ndarray) -> np.ndarray:
    """An (n, min(n, m)) matrix R with R Rᵀ = X Xᵀ. Linear CKA depends on X only through its Gram
    matrix, so a representation wider than the number of samples can be replaced by R."""
    n, m = x.shape
    if m <= n:
        return x
    eigvals, eigvecs = np.linalg.eigh(x @ x.T)
    return eigvecs * np.sqrt(np.clip(eigvals, 0.0, None))


def linear_cka_matrix(features: Sequence[np.ndarray]) -> np.ndarray:
    """Linear CKA (Kornblith et al. 2019) between every pair of k representations.

    Args:
        features: k arrays (n, m_i) of the same n samples in the same row order.

    Returns:
        Symmetric (k, k) matrix of ‖XᵢᵀXⱼ‖²_F / (‖XᵢᵀXᵢ‖_F ‖XⱼᵀXⱼ‖_F) on column-centred
        representations, 1 on the diagonal; rows and columns of a constant representation are NaN
        (with a warning).

    All cross products come from k large products ``Zᵀ Xⱼ`` with Z = [X₁ … X_k] (n, Σ m_i),
    whose squared entries are summed per block — one BLAS call per model instead of one per pair.
    Each representation is first reduced to at most n columns (``_gram_root``), so wide features
    (m ≫ n) cost n² per pair instead of m²; narrow ones (m ≤ n, e.g. 84 features of 10,000
    samples) are used as they are: memory n · Σ m_i, time n · (Σ m_i)², no n × n matrix.
    """
    for i, f in enumerate(features):
        if np.ndim(f) != 2:
            raise ValueError(f"`features[{i}]` must be 2-D (n, m). Got shape {np.shape(f)} "
                             "instead.")
    if len({np.shape(f)[0] for f in features}) > 1:
        raise ValueError("All representations must have the same number of rows (samples). "
                         f"Got {[np.shape(f)[0] for f in features]} instead.")
    k = len(features)
    if k == 0:
        return np.zeros((0, 0))
    # Z is written block by block and each representation is then a view of it, so the largest
    # array held is Z itself (n × Σ m_i float64), never an n × n Gram matrix of narrow features.
    widths = [min(np.shape(f)) for f in features]    # _gram_root keeps min(n, m) columns
    starts = np.concatenate([[0], np.cumsum(widths)])
    stacked = None
    for i, f in enumerate(features):
        rep = _gram_root(_centred(f, f"features[{i}]"))
        if stacked is None:
            stacked = np.empty((rep.shape[0], starts[-1]))
        stacked[:, starts[i]:starts[i + 1]] = rep
        del rep
    reps = [stacked[:, starts[i]:starts[i + 1]] for i in range(k)]
    cross = np.zeros((k, k))   # cross[i, j] = ‖XᵢᵀXⱼ‖²_F
    for j, rep in enumerate(reps):
        block = stacked[:, starts[j]:].T @ rep                    # rows of models j … k−1
        row_sums = np.einsum("ij,ij->i", block, block)
        cross[j:, j] = np.add.reduceat(row_sums, starts[j:-1] - starts[j]) if block.size else 0.0
        cross[j, j:] = cross[j:, j]
    norms = np.sqrt(np.diag(cross))
    constant = norms == 0
    if constant.any():
        warnings.warn(f"{int(constant.sum())} constant representations: their CKA is undefined "
                      "(NaN).", RuntimeWarning, stacklevel=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = cross / np.outer(norms, norms)
    out[constant, :] = np.nan
    out[:, constant] = np.nan
    return out


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA of two representations x (n, p) and y (n, q) of the same n samples:
    ‖XᵀY‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F) on column-centred X, Y, in [0, 1]. Invariant to orthogonal
    transforms and isotropic scaling of either side. NaN, with a warning, for a constant one."""
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim == 2 and y.ndim == 2 and x.shape[0] != y.shape[0]:
        raise ValueError(f"`x` and `y` must have the same number of rows (samples). Got "
                         f"{x.shape[0]} and {y.shape[0]} instead.")
    return float(linear_cka_matrix([x, y])[0, 1])
