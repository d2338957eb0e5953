"""The spread hypothesis (see docs/analysis.md, Spread hypothesis): does a thin spread of a
model's clean geometry — and the scale of its angles — go with its robustness to corruptions,
across the population, and does that hold within pruning methods or only between them?"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from ._columns import require_columns

__all__ = ["SPREAD_STATS", "SPREAD_TARGETS", "SPREAD_SCOPES", "geometry_spread",
           "spread_correlations"]

# Per-model statistics of the clean geometry, and the robustness they are compared with.
SPREAD_STATS = ("angle_spread", "l2_spread", "mean_angle")
SPREAD_TARGETS = ("corrupted_accuracy", "drop")
# pooled: every model; within: values centred on their method's mean (ranks within the method
# for Spearman), so only differences inside a method count; between: one point per method.
SPREAD_SCOPES = ("pooled", "within", "between")

_SPREAD_COLUMNS = ["model_id", *SPREAD_STATS, "clean_accuracy", "corrupted_accuracy", "drop"]
_CORRELATION_COLUMNS = ["stat", "target", "scope", "pearson", "spearman", "n"]


def geometry_spread(clean: pd.DataFrame, accuracy: pd.DataFrame) -> pd.DataFrame:
    """Per model: the spread and scale of its clean geometry, and its robustness.

    Args:
        clean: (model_id, label, angle, l2) per clean sample; angle in degrees, l2 in feature
            units. NULL values are ignored.
        accuracy: (model_id, corruption, accuracy) per evaluation, accuracy a fraction; the
            corruption 'clean' is the clean benchmark, every other one a corrupted benchmark.

    Returns:
        (model_id, angle_spread, l2_spread, mean_angle, clean_accuracy, corrupted_accuracy,
        drop), one row per model of ``clean``, by model_id. ``angle_spread`` / ``l2_spread``: the
        sample standard deviation (ddof 1) of angle / l2 within each true class, averaged over
        the classes (degrees / feature units); ``mean_angle``: mean angle over every sample
        (degrees); ``corrupted_accuracy``: mean accuracy over the corrupted benchmarks;
        ``drop`` = clean_accuracy − corrupted_accuracy (NaN where either is missing).
    """
    require_columns(clean, "clean", ("model_id", "label", "angle", "l2"))
    require_columns(accuracy, "accuracy", ("model_id", "corruption", "accuracy"))
    per_class = clean.groupby(["model_id", "label"])[["angle", "l2"]].std(ddof=1)
    spread = per_class.groupby("model_id").mean().rename(
        columns={"angle": "angle_spread", "l2": "l2_spread"})
    spread["mean_angle"] = clean.groupby("model_id")["angle"].mean()
    is_clean = accuracy["corruption"] == "clean"
    spread["clean_accuracy"] = accuracy[is_clean].groupby("model_id")["accuracy"].mean()
    spread["corrupted_accuracy"] = accuracy[~is_clean].groupby("model_id")["accuracy"].mean()
    spread["drop"] = spread["clean_accuracy"] - spread["corrupted_accuracy"]
    return spread.reset_index()[_SPREAD_COLUMNS].sort_values("model_id", ignore_index=True)


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson r of two centred-or-not vectors; NaN when either is constant or n < 3."""
    if len(x) < 3:
        return np.nan
    x, y = x - x.mean(), y - y.mean()
    scale = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / scale) if scale > 0 else np.nan


def _centred(values: pd.Series, groups: pd.Series) -> np.ndarray:
    return (values - values.groupby(groups).transform("mean")).to_numpy(float)


def spread_correlations(spread: pd.DataFrame, *, stats: Sequence[str] = SPREAD_STATS,
                        targets: Sequence[str] = SPREAD_TARGETS) -> pd.DataFrame:
    """Correlation of each geometry statistic with each robustness target, in three scopes.

    Args:
        spread: one row per model with a ``method`` column and the ``stats`` and ``targets``
            columns (e.g. :func:`geometry_spread` joined with the models' methods). Models with
            a NaN stat or target are left out of that pair.
        stats, targets: the columns to correlate.

    Returns:
        (stat, target, scope, pearson, spearman, n) for every (stat, target) and scope in
        ``SPREAD_SCOPES``. *pooled*: over every model. *within*: the pooled within-method
        correlation — Pearson of the values centred on their method's mean, Spearman of the
        ranks within each method centred the same way — which is zero when the link only
        separates methods; n counts the models of methods with at least two. *between*: over
        the methods' mean values, n = number of methods. r is NaN below 3 points or when a
        side is constant.
    """
    require_columns(spread, "spread", ("method", *stats, *targets))
    rows = []
    for stat in stats:
        for target in targets:
            pair = spread[["method", stat, target]].dropna()
            x, y, method = pair[stat], pair[target], pair["method"]
            rows.append((stat, target, "pooled", _pearson(x.to_numpy(float), y.to_numpy(float)),
                         _pearson(x.rank().to_numpy(), y.rank().to_numpy()), len(pair)))
            sizes = method.map(method.value_counts())
            kept = sizes >= 2
            xk, yk, mk = x[kept], y[kept], method[kept]
            rank_x, rank_y = xk.groupby(mk).rank(), yk.groupby(mk).rank()
            rows.append((stat, target, "within", _pearson(_centred(xk, mk), _centred(yk, mk)),
                         _pearson(_centred(rank_x, mk), _centred(rank_y, mk)), int(kept.sum())))
            means = pair.groupby("method")[[stat, target]].mean()
            rows.append((stat, target, "between",
                         _pearson(means[stat].to_numpy(float), means[target].to_numpy(float)),
                         _pearson(means[stat].rank().to_numpy(), means[target].rank().to_numpy()),
                         len(means)))
    return pd.DataFrame(rows, columns=_CORRELATION_COLUMNS)
