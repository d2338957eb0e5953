"""Angles versus dimension: random Gaussian vectors and the last-layer features of networks
(see docs/analysis.md, Dimension angles)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from ._columns import require_columns

__all__ = ["dimension_angles", "trained_dimension_angles"]


def dimension_angles(dims: Sequence[int], *, n: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Angle between pairs of independent standard Gaussian vectors, per dimension.

    The curse of dimensionality: the angle concentrates at 90° with a standard deviation of about
    (180/π)/√d degrees.

    Returns (kind='random', dim, mean, std, model_id=None): mean and std in degrees over ``n``
    pairs per dimension.
    """
    dims = [int(d) for d in dims]
    if any(d < 1 for d in dims):
        raise ValueError(f"`dims` must be >= 1. Got {dims} instead.")
    if n < 2:
        raise ValueError(f"`n` must be >= 2. Got {n} instead.")
    rng = np.random.default_rng(seed)
    rows = []
    for d in dims:
        a, b = rng.standard_normal((2, n, d))
        cos = np.einsum("ij,ij->i", a, b) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
        angles = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
        rows.append(("random", d, float(angles.mean()), float(angles.std(ddof=1)), None))
    return pd.DataFrame(rows, columns=["kind", "dim", "mean", "std", "model_id"])


def trained_dimension_angles(clean_angles: pd.DataFrame, models: pd.DataFrame, *,
                             kind: str = "trained") -> pd.DataFrame:
    """Angle of a network's features to their true class direction vs the last-layer width.

    Args:
        clean_angles: (model_id, angle) per clean sample, degrees (NULL angles are ignored).
        models: (model_id, feature_dim).
        kind: the ``kind`` of the rows: 'trained', or 'untrained' for freshly initialised
            networks (``core.pipeline.study``).

    Returns (kind, dim=feature_dim, mean, std (ddof 1), model_id), degrees, one row per model.
    """
    if kind not in ("trained", "untrained"):
        raise ValueError(f"`kind` must be 'trained' or 'untrained'. Got {kind!r} instead.")
    require_columns(clean_angles, "clean_angles", ("model_id", "angle"))
    require_columns(models, "models", ("model_id", "feature_dim"))
    stats_ = (clean_angles.groupby("model_id")["angle"].agg(["mean", "std"]).reset_index())
    out = stats_.merge(models[["model_id", "feature_dim"]], on="model_id")
    out = out[out["feature_dim"].notna()]
    return pd.DataFrame({"kind": kind, "dim": out["feature_dim"].astype(np.int64),
                         "mean": out["mean"], "std": out["std"], "model_id": out["model_id"]})
