"""Pruning Identified Exemplars as Hooker et al. (2019) define them, over a seed population, and
how well the dense model's geometry finds them (ROC AUC) (see docs/analysis.md, PIEs)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from ._columns import require_columns
from .vulnerability import SINGLE_SCORES, geometric_score

__all__ = ["PIE_COLUMNS", "PIE_AUC_COLUMNS", "modal_label_sets", "hooker_pies", "pie_auc"]

PIE_COLUMNS = ["arch", "method", "ratio", "retrained", "sample_id", "pie", "n_seeds"]
PIE_AUC_COLUMNS = ["arch", "method", "ratio", "retrained", "score", "auc", "n_positive", "n"]
# The finder's scores against the PIEs (larger = more vulnerable): the geometric combination
# and the single metrics of the dense model.
PIE_SCORES = ("geometric", "angle", "neg_margin", "neg_l2")


def modal_label_sets(sample_index: np.ndarray, pred: np.ndarray, n_samples: int,
                     n_classes: int) -> np.ndarray:
    """Which labels are modal (most often predicted) for each sample over a population.

    Args:
        sample_index: (k,) int, row of each prediction's sample in 0..n_samples-1.
        pred: (k,) int, the predicted class of each (model, sample), in 0..n_classes-1.

    Returns:
        (n_samples, n_classes) bool: True for every label with the largest vote count (several
        on a tie); all False for a sample without predictions.
    """
    votes = np.bincount(np.asarray(sample_index) * n_classes + np.asarray(pred),
                        minlength=n_samples * n_classes).reshape(n_samples, n_classes)
    top = votes.max(axis=1, keepdims=True)
    return (votes == top) & (top > 0)


def hooker_pies(predictions: pd.DataFrame) -> pd.DataFrame:
    """PIE flags of every pruned (method, ratio, retrained) population of a seed population.

    A sample is a PIE at (method, ratio, retrained) when the modal label of the pruned models
    (one per seed) differs from the modal label of the dense models of the same seeds. Ties: a
    population may have several modal labels; the sample is a PIE only when no label is modal
    in both populations (a tie that shares a label with the other side is not a PIE).

    Args:
        predictions: (arch, seed, method, ratio, retrained, sample_id, pred) of the dense
            models (``method = 'dense'``) and the pruned ones, as in ``seed_predictions``.

    Returns:
        ``PIE_COLUMNS`` rows, one per (arch, pruned population, sample of the dense
        population): ``pie`` bool, ``n_seeds`` = seeds in the pruned population.
    """
    require_columns(predictions, "predictions",
                    ("arch", "seed", "method", "ratio", "retrained", "sample_id", "pred"))
    frames = []
    for arch, rows in predictions.groupby("arch", sort=True):
        dense = rows[rows["method"] == "dense"]
        if dense.empty:
            continue
        samples = np.unique(dense["sample_id"].to_numpy())
        n_classes = int(rows["pred"].max()) + 1
        dense_modal = modal_label_sets(np.searchsorted(samples, dense["sample_id"].to_numpy()),
                                       dense["pred"].to_numpy(), samples.size, n_classes)
        pruned = rows[(rows["method"] != "dense") & rows["sample_id"].isin(samples)]
        for (method, ratio, retrained), group in pruned.groupby(
                ["method", "ratio", "retrained"], sort=True):
            modal = modal_label_sets(np.searchsorted(samples, group["sample_id"].to_numpy()),
                                     group["pred"].to_numpy(), samples.size, n_classes)
            covered = modal.any(axis=1)
            frames.append(pd.DataFrame({
                "arch": arch, "method": method, "ratio": float(ratio),
                "retrained": bool(retrained), "sample_id": samples[covered],
                "pie": ~(modal & dense_modal).any(axis=1)[covered],
                "n_seeds": int(group["seed"].nunique())}))
    if not frames:
        return pd.DataFrame(columns=PIE_COLUMNS)
    return pd.concat(frames, ignore_index=True)[PIE_COLUMNS]


def pie_auc(flags: pd.DataFrame, dense_metrics: pd.DataFrame) -> pd.DataFrame:
    """ROC AUC of the dense model's vulnerability scores at predicting each population's PIEs.

    Args:
        flags: ``hooker_pies`` rows.
        dense_metrics: (arch, sample_id, margin, angle, l2) of *the* dense model of each arch
            (the main population's), clean data; angle in degrees.

    Returns:
        ``PIE_AUC_COLUMNS`` rows per (arch, method, ratio, retrained, score ∈ ``PIE_SCORES``):
        ``geometric`` = :func:`geometric_score` (margin and angle), ``angle``, ``neg_margin``,
        ``neg_l2`` (larger = more vulnerable); n = samples with a flag and a finite score; AUC
        NaN when the PIEs or the other samples are empty.
    """
    require_columns(dense_metrics, "dense_metrics", ("arch", "sample_id", "margin", "angle", "l2"))
    rows = []
    for arch, metrics in dense_metrics.groupby("arch", sort=True):
        metrics = metrics.sort_values("sample_id")
        scores = {"geometric": geometric_score(metrics["margin"].to_numpy(),
                                               metrics["angle"].to_numpy())}
        scores.update({name: SINGLE_SCORES[name][1] * metrics[SINGLE_SCORES[name][0]]
                       .to_numpy(dtype=np.float64, na_value=np.nan)
                       for name in PIE_SCORES[1:]})
        ids = metrics["sample_id"].to_numpy()
        for (method, ratio, retrained), group in flags[flags["arch"] == arch].groupby(
                ["method", "ratio", "retrained"], sort=True):
            position = np.searchsorted(ids, group["sample_id"].to_numpy())
            found = (position < ids.size) & (ids[np.minimum(position, ids.size - 1)]
                                             == group["sample_id"].to_numpy())
            y = group["pie"].to_numpy(dtype=bool)[found]
            for name in PIE_SCORES:
                score = scores[name][position[found]]
                keep = np.isfinite(score)
                n_pos = int(y[keep].sum())
                auc = (float(roc_auc_score(y[keep], score[keep]))
                       if 0 < n_pos < int(keep.sum()) else np.nan)
                rows.append((arch, method, float(ratio), bool(retrained), name, auc, n_pos,
                             int(keep.sum())))
    return pd.DataFrame(rows, columns=PIE_AUC_COLUMNS)
