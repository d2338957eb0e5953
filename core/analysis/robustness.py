"""Per-sample counts over a model population — robustness and pruning vulnerability — and their
correlation with clean-data geometry (see docs/analysis.md, Robustness and Pruning
vulnerability (PV))."""

from __future__ import annotations

import warnings
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..store.analysis import frame_robustness

from ._columns import require_columns

__all__ = ["robustness", "pruning_vulnerability", "model_pv", "correlations"]


def robustness(correct: pd.DataFrame, corrupted_benchmarks: Iterable[str]) -> pd.DataFrame:
    """Robustness of each (model, sample): on how many corrupted benchmarks it is correct.

    Args:
        correct: long frame (model_id, benchmark_id, sample_id, correct: bool).
        corrupted_benchmarks: ids of the (corruption, severity) benchmarks; clean must not be
            among them (rows of other benchmarks are ignored).

    Returns:
        (model_id, sample_id, robustness, n_benchmarks): robustness in 0..n_benchmarks, where
        n_benchmarks is the number of corrupted benchmarks evaluated for that model (95 when all
        19 corruptions × 5 severities are there).
    """
    require_columns(correct, "correct", ("model_id", "benchmark_id", "sample_id", "correct"))
    # The aggregation itself is the store's, so the table and this function cannot disagree.
    return frame_robustness(correct, corrupted_benchmarks)


def _family_members(models: pd.DataFrame) -> pd.DataFrame:
    """(arch, method, retrained, model_id): each pruned model in its family, and each dense model
    in every family of its arch."""
    pruned = models[models["method"] != "dense"]
    families = pruned[["arch", "method", "retrained"]].drop_duplicates()
    dense = models.loc[models["method"] == "dense", ["arch", "model_id"]]
    dense_members = families.merge(dense, on="arch")
    return pd.concat([pruned[["arch", "method", "retrained", "model_id"]], dense_members],
                     ignore_index=True)


def pruning_vulnerability(clean_correct: pd.DataFrame, models: pd.DataFrame) -> pd.DataFrame:
    """Pruning vulnerability (PV) of each sample, per family (arch, method, retrained).

    Args:
        clean_correct: (model_id, sample_id, correct: bool) on each model's clean benchmark.
        models: (model_id, arch, method, ratio, retrained); ``method = 'dense'`` marks ratio 0.

    Returns:
        (arch, method, retrained, sample_id, pv, n_models): pv = number of the family's models
        (the dense model plus ratios 0.1 … 0.9, so 0..10 normally) on which the sample is correct;
        n_models = how many of them were evaluated on it. The PV of docs/analysis.md (Pruning
        vulnerability (PV)) is the family (magnitude, retrained=False).
    """
    require_columns(clean_correct, "clean_correct", ("model_id", "sample_id", "correct"))
    require_columns(models, "models", ("model_id", "arch", "method", "retrained"))
    members = _family_members(models)
    rows = members.merge(clean_correct[["model_id", "sample_id", "correct"]], on="model_id")
    rows["correct"] = rows["correct"].astype(np.int64)
    out = (rows.groupby(["arch", "method", "retrained", "sample_id"], as_index=False)
           .agg(pv=("correct", "sum"), n_models=("correct", "size")))
    return out.astype({"pv": np.int64, "n_models": np.int64, "retrained": bool})


def model_pv(pv: pd.DataFrame, models: pd.DataFrame, *,
             reference: tuple[str, bool] = ("magnitude", False)) -> pd.DataFrame:
    """Attach a PV to every model: a pruned model gets its family's PV, a dense model the PV of
    the ``reference`` (method, retrained) family of its arch (magnitude, no retraining: see
    docs/analysis.md, Pruning vulnerability (PV)).

    Returns (model_id, sample_id, pv); models whose family has no PV are absent.
    """
    require_columns(pv, "pv", ("arch", "method", "retrained", "sample_id", "pv"))
    keys = models[["model_id", "arch", "method", "retrained"]].copy()
    is_dense = keys["method"] == "dense"
    keys.loc[is_dense, "method"] = reference[0]
    keys.loc[is_dense, "retrained"] = reference[1]
    keys["retrained"] = keys["retrained"].astype(bool)
    merged = keys.merge(pv, on=["arch", "method", "retrained"])
    return merged[["model_id", "sample_id", "pv"]].reset_index(drop=True)


# --------------------------------------------------------------------------- correlations

def _correlate(x: np.ndarray, y: np.ndarray) -> tuple[float, float, int]:
    """(pearson, spearman, n) over the pairs where both are finite; NaN when undefined."""
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    n = int(keep.sum())
    if n < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return np.nan, np.nan, n
    return float(stats.pearsonr(x, y).statistic), float(stats.spearmanr(x, y).statistic), n


def correlations(clean_metrics: pd.DataFrame, targets: pd.DataFrame, *,
                 metrics: Sequence[str] = ("angle", "l2", "margin")) -> pd.DataFrame:
    """Pearson and Spearman correlation, per model, of per-sample targets with clean geometry.

    Args:
        clean_metrics: (model_id, sample_id, *metrics) of each model on its clean benchmark.
        targets: (model_id, sample_id, <one column per target>), e.g. ``robustness`` and ``pv``.
        metrics: geometry columns to correlate with.

    Returns:
        (model_id, target, metric, pearson, spearman, n): n = samples where both values are
        finite (NaN angles are dropped pairwise). Undefined correlations (fewer than 2 samples or a
        constant input) are NaN, with one RuntimeWarning per call.
    """
    require_columns(clean_metrics, "clean_metrics", ("model_id", "sample_id", *metrics))
    require_columns(targets, "targets", ("model_id", "sample_id"))
    target_names = [c for c in targets.columns if c not in ("model_id", "sample_id")]
    joined = clean_metrics.merge(targets, on=["model_id", "sample_id"])
    rows, undefined = [], []
    for model_id, group in joined.groupby("model_id", sort=True):
        for target in target_names:
            y = group[target].to_numpy(dtype=np.float64)
            for metric in metrics:
                pearson, spearman, n = _correlate(group[metric].to_numpy(dtype=np.float64), y)
                rows.append((model_id, target, metric, pearson, spearman, n))
                if np.isnan(pearson):
                    undefined.append(f"{model_id}/{target}/{metric}")
    if undefined:
        warnings.warn(f"{len(undefined)} correlations are undefined (constant input or < 2 "
                      f"samples) and set to NaN, e.g. {undefined[:3]}.", RuntimeWarning,
                      stacklevel=2)
    return pd.DataFrame(rows, columns=["model_id", "target", "metric", "pearson", "spearman", "n"])
