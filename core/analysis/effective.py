"""Effective robustness (Taori et al., 2020, "Measuring robustness to natural distribution shifts
in image classification"): is a model more robust than its clean accuracy predicts?

Across a population of models, corrupted accuracy is close to a linear function of clean accuracy
once both are logit-scaled. A model's effective robustness is how far its corrupted accuracy lies
above (positive) or below (negative) that population fit, in accuracy points, at its own clean
accuracy. See docs/analysis.md, Effective robustness.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ._columns import require_columns

# Accuracies are clipped into [EPS, 1 - EPS] before the logit: a model at exactly 0 % or 100 %
# would otherwise sit at ±infinity and dominate the least-squares fit.
EPS = 1e-4

EFFECTIVE_COLUMNS = ["model_id", "clean_accuracy", "corrupted_accuracy", "predicted_accuracy",
                     "effective_robustness", "slope", "intercept", "n_fit"]


def logit(p) -> np.ndarray:
    """log(p / (1 − p)) of accuracies clipped to [EPS, 1 − EPS]."""
    p = np.clip(np.asarray(p, dtype=float), EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)


def expit(z) -> np.ndarray:
    """Inverse of :func:`logit`."""
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=float)))


def effective_robustness(accuracy: pd.DataFrame, *, fit_on=None) -> pd.DataFrame:
    """Each model's effective robustness against the population's logit-linear fit.

    Args:
        accuracy: one row per model with columns ``model_id``, ``clean_accuracy`` and
            ``corrupted_accuracy`` (fractions in [0, 1]; corrupted = mean over the corrupted
            benchmarks).
        fit_on: optional iterable of model ids the fit is made on (default: every model). The
            effective robustness is reported for every model either way.

    Returns:
        ``EFFECTIVE_COLUMNS``: ``predicted_accuracy`` = expit(slope · logit(clean) + intercept),
        ``effective_robustness`` = corrupted − predicted (a fraction; ×100 for points), and the
        fit's ``slope``, ``intercept`` and number of models ``n_fit`` on every row. With fewer than
        two distinct clean accuracies the fit is undefined: NaN with a warning.
    """
    require_columns(accuracy, "accuracy", ["model_id", "clean_accuracy", "corrupted_accuracy"])
    frame = accuracy[["model_id", "clean_accuracy", "corrupted_accuracy"]].dropna().copy()
    x, y = logit(frame.clean_accuracy), logit(frame.corrupted_accuracy)
    mask = np.ones(len(frame), bool) if fit_on is None else frame.model_id.isin(set(fit_on)).to_numpy()
    if len(np.unique(x[mask])) < 2:
        warnings.warn("Effective robustness needs models of at least two different clean "
                      "accuracies for its fit; returning NaN.", RuntimeWarning, stacklevel=2)
        slope = intercept = np.nan
    else:
        slope, intercept = np.polyfit(x[mask], y[mask], 1)
    frame["predicted_accuracy"] = expit(slope * x + intercept)
    frame["effective_robustness"] = frame.corrupted_accuracy - frame.predicted_accuracy
    frame["slope"], frame["intercept"], frame["n_fit"] = slope, intercept, int(mask.sum())
    return frame[EFFECTIVE_COLUMNS].reset_index(drop=True)


def effective_robustness_by_group(effective: pd.DataFrame, models: pd.DataFrame, *,
                                  by=("arch", "method")) -> pd.DataFrame:
    """Mean and spread of effective robustness per group of models (e.g. per method).

    Returns columns ``*by``, ``n``, ``mean`` and ``std`` (fractions; ``std`` NaN for one model),
    sorted by ``mean`` descending.
    """
    by = list(by)
    require_columns(models, "models", ["model_id", *by])
    merged = effective.merge(models[["model_id", *by]], on="model_id")
    grouped = merged.groupby(by, dropna=False)["effective_robustness"]
    out = grouped.agg(n="count", mean="mean", std="std").reset_index()
    return out.sort_values("mean", ascending=False, ignore_index=True)


def effective_robustness_within(accuracy: pd.DataFrame, groups, *,
                                min_models: int = 3) -> pd.DataFrame:
    """Effective robustness with one fit per group of models (e.g. per architecture family)
    instead of one over the whole population.

    Families of different architectures can lie on different lines (a small ResNet may lose
    three times the accuracy LeNet-5 loses under corruption at the same clean accuracy); a
    population fit then reads a family's offset as effective robustness.

    Args:
        accuracy: as for :func:`effective_robustness`.
        groups: the group of each row of ``accuracy`` (same length), e.g. the architectures.
        min_models: a group with fewer models, or with fewer than two distinct clean accuracies,
            gets no fit: its rows have NaN ``predicted_accuracy``, ``effective_robustness``,
            ``slope`` and ``intercept`` (no warning: a lone network has no population).

    Returns:
        ``EFFECTIVE_COLUMNS`` and ``group``, one row per model in ``accuracy``'s order (rows
        without both accuracies dropped); ``n_fit`` is the number of models of its group's fit.
    """
    require_columns(accuracy, "accuracy", ["model_id", "clean_accuracy", "corrupted_accuracy"])
    if isinstance(min_models, bool) or not isinstance(min_models, int) or min_models < 2:
        raise ValueError(f"`min_models` must be an integer >= 2. Got {min_models!r} instead.")
    groups = np.asarray(groups, dtype=object)
    if len(groups) != len(accuracy):
        raise ValueError(f"`groups` must have one entry per row of `accuracy` ({len(accuracy)}). "
                         f"Got {len(groups)} instead.")
    groups = pd.Series(groups, index=accuracy.index, name="group")
    frame = accuracy[["model_id", "clean_accuracy", "corrupted_accuracy"]].assign(group=groups)
    frame = frame.dropna(subset=["clean_accuracy", "corrupted_accuracy"])
    parts = []
    for _, part in frame.groupby("group", sort=False, dropna=False):
        distinct = len(np.unique(logit(part.clean_accuracy)))
        if len(part) >= min_models and distinct >= 2:
            fitted = effective_robustness(part)
        else:
            fitted = part[["model_id", "clean_accuracy", "corrupted_accuracy"]].assign(
                predicted_accuracy=np.nan, effective_robustness=np.nan, slope=np.nan,
                intercept=np.nan, n_fit=len(part))
        parts.append(fitted.set_index(part.index).assign(group=part["group"]))
    out = pd.concat(parts).loc[frame.index] if parts else frame.assign(
        **{c: np.nan for c in EFFECTIVE_COLUMNS if c not in frame})
    return out[EFFECTIVE_COLUMNS + ["group"]].reset_index(drop=True)


def effective_robustness_per_arch(effective: pd.DataFrame, *, min_models: int = 3
                                  ) -> pd.DataFrame:
    """``effective`` refitted within each architecture (:func:`effective_robustness_within`
    with the ``arch`` column as the groups), keeping the models' other labels.

    Args:
        effective: rows of the ``effective_robustness`` table (``EFFECTIVE_COLUMNS``) with
            ``arch`` and any other label columns (method, ratio, …).
        min_models: as for :func:`effective_robustness_within`.

    Returns:
        ``EFFECTIVE_COLUMNS``, ``group`` (the arch) and the label columns of ``effective``, one
        row per model in ``effective``'s order; architectures of fewer than ``min_models``
        models have NaN effective robustness.
    """
    require_columns(effective, "effective", ["arch"])
    refit = effective_robustness_within(effective, effective["arch"], min_models=min_models)
    labels = effective.drop(columns=[c for c in EFFECTIVE_COLUMNS if c != "model_id"])
    return refit.merge(labels, on="model_id", how="left")
