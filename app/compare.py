"""Pure comparison logic of the Geometry page (no Streamlit, no database).

- the four per-sample transition categories between two (model, benchmark) results and their counts,
- the default partner of a model in a model-vs-model comparison,
- the ranking that chooses which class directions the parallel coordinates show when there are
  too many classes to show them all,
- a stratified sample that keeps large line plots readable while keeping every stratum visible,
- the samples inside the ranges brushed on the axes of a parallel-coordinates plot.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "CATEGORIES",
    "RANKING_RULES",
    "transition_codes",
    "count_transitions",
    "default_partner",
    "rank_class_axes",
    "stratified_sample",
    "constraint_ranges",
    "brushed_mask",
    "brushed_sample_ids",
]

# Order matters: the code of a category is its index (see `transition_codes`).
CATEGORIES = ("correct in both", "correct → wrong", "wrong → correct", "wrong in both")

RANKING_RULES = {
    "confused": "the classes the selected class's samples are most often predicted as "
                "(every model or benchmark shown together; ties: smaller mean angle first)",
    "changed": "the class directions whose mean angle to the selected class's samples changes "
               "most between the first model or benchmark shown (the reference) and the others "
               "(ties: smaller mean angle first)",
}


def transition_codes(correct_a: Sequence[bool], correct_b: Sequence[bool]) -> np.ndarray:
    """Category code per sample, an index into `CATEGORIES`, for results A (before) and B (after).

    ``correct_a`` and ``correct_b`` are boolean arrays of shape (N,), aligned by sample.
    Returns int8 codes of shape (N,): 0 correct in both, 1 correct → wrong, 2 wrong → correct,
    3 wrong in both.
    """
    a = np.asarray(correct_a, dtype=bool)
    b = np.asarray(correct_b, dtype=bool)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"`correct_a` and `correct_b` must be 1-D arrays of the same length. "
                         f"Got shapes {a.shape} and {b.shape} instead.")
    return (2 * ~a + ~b).astype(np.int8)


def count_transitions(correct_a: Sequence[bool], correct_b: Sequence[bool]) -> pd.Series:
    """Number of samples in each of the four `CATEGORIES` (all four present, zeros included)."""
    counts = np.bincount(transition_codes(correct_a, correct_b), minlength=len(CATEGORIES))
    return pd.Series(counts, index=list(CATEGORIES), name="samples")


def default_partner(models: pd.DataFrame, model_id: str) -> str | None:
    """The model a researcher would compare ``model_id`` with first.

    ``models`` has the columns of the ``models`` table, in display order. A dense model is paired
    with the first pruned model of its architecture; a pruned model with its retrained (or
    not retrained) twin — same architecture, method, ratio and seed — or else with the dense model
    of its architecture. Falls back to the first other model; None when there is no other model.
    """
    others = models[models.model_id != model_id]
    if others.empty:
        return None
    rows = models[models.model_id == model_id]
    if rows.empty:
        return str(others.model_id.iloc[0])
    row = rows.iloc[0]
    same_arch = others[others.arch == row.arch]
    if row.method == "dense":
        candidates = same_arch[same_arch.method != "dense"]
    else:
        twin = same_arch[(same_arch.method == row.method) & (same_arch.ratio == row.ratio)
                         & (same_arch.seed == row.seed) & (same_arch.retrained != row.retrained)]
        candidates = twin if not twin.empty else same_arch[same_arch.method == "dense"]
    if candidates.empty:
        candidates = others
    return str(candidates.model_id.iloc[0])


def rank_class_axes(rule: str, *, selected_class: int, k: int, predictions: Sequence[int],
                    reference_angles: np.ndarray, compared_angles: np.ndarray) -> np.ndarray:
    """Class directions to show as parallel-coordinate axes, most relevant first.

    ``predictions`` (N,) are the predicted classes of the selected class's samples (both
    benchmarks); ``reference_angles`` (N_r, C) and ``compared_angles`` (N_c, C) are their angles
    to every class direction, in degrees (NaN where undefined). ``rule`` is a key of
    `RANKING_RULES`. The selected class always comes first; returns ``min(k, C)`` class indices.
    """
    if rule not in RANKING_RULES:
        raise ValueError(f"`rule` must be one of {', '.join(RANKING_RULES)}. Got {rule!r} instead.")
    reference_angles = np.asarray(reference_angles, dtype=float)
    compared_angles = np.asarray(compared_angles, dtype=float)
    if reference_angles.ndim != 2 or compared_angles.shape[1:] != reference_angles.shape[1:]:
        raise ValueError("`reference_angles` and `compared_angles` must be 2-D arrays with the same "
                         f"number of columns. Got shapes {reference_angles.shape} and "
                         f"{compared_angles.shape} instead.")
    num_classes = reference_angles.shape[1]
    if not 0 <= selected_class < num_classes:
        raise ValueError(f"`selected_class` must be in [0, {num_classes}). Got {selected_class} "
                         "instead.")
    if k < 1:
        raise ValueError(f"`k` must be >= 1. Got {k} instead.")
    mean_reference = _column_means(reference_angles)
    mean_compared = _column_means(compared_angles)
    if rule == "confused":
        predictions = np.asarray(predictions, dtype=np.int64)
        scores = np.bincount(predictions, minlength=num_classes).astype(float)
    else:
        scores = np.nan_to_num(np.abs(mean_compared - mean_reference), nan=0.0)
    both = np.vstack([reference_angles, compared_angles])
    closeness = -np.nan_to_num(_column_means(both), nan=180.0)
    scores[selected_class] = np.inf
    # np.lexsort sorts by the last key first: score, then closeness, then class index.
    order = np.lexsort((np.arange(num_classes), -closeness, -scores))
    return order[:min(k, num_classes)]


def _column_means(values: np.ndarray) -> np.ndarray:
    """Per-column mean ignoring NaN; NaN for a column with no finite value (no warning)."""
    finite = np.isfinite(values)
    counts = finite.sum(axis=0)
    sums = np.where(finite, values, 0.0).sum(axis=0)
    return np.divide(sums, counts, out=np.full(values.shape[1], np.nan), where=counts > 0)


def stratified_sample(frame: pd.DataFrame, *, by: str | list[str], n_max: int,
                      seed: int = 0) -> pd.DataFrame:
    """At most ``n_max`` rows of ``frame``, each stratum (distinct values of ``by``) in proportion
    to its size — and at least one row of every stratum when ``n_max`` allows — so rare groups
    (e.g. the few misclassified samples) stay visible. Deterministic for a ``seed``; rows keep
    their original order. Returns ``frame`` itself when it has at most ``n_max`` rows.
    """
    if n_max < 1:
        raise ValueError(f"`n_max` must be >= 1. Got {n_max} instead.")
    if len(frame) <= n_max:
        return frame
    groups = frame.groupby(by, sort=True, observed=True).ngroup().to_numpy()
    quotas = _allocate(np.bincount(groups), n_max)
    rng = np.random.default_rng(seed)
    rank = pd.Series(rng.random(len(frame))).groupby(groups).rank(method="first").to_numpy() - 1
    return frame[rank < quotas[groups]]


def _allocate(sizes: np.ndarray, total: int) -> np.ndarray:
    """Largest-remainder split of ``total`` over strata of ``sizes`` (sum(sizes) > total), with
    one row for every stratum first when there is room for it."""
    exact = sizes * total / sizes.sum()
    quotas = np.floor(exact).astype(np.int64)
    if total >= len(sizes):
        quotas = np.maximum(quotas, 1)
    # The minimum of one may overshoot (by fewer rows than there are strata): take the excess
    # back one row at a time from the largest quota.
    for _ in range(quotas.sum() - total):
        quotas[np.argmax(quotas)] -= 1
    shortfall = total - quotas.sum()
    room = quotas < sizes
    by_remainder = np.argsort(-(exact - quotas), kind="stable")
    quotas[by_remainder[room[by_remainder]][:max(shortfall, 0)]] += 1
    return quotas


def constraint_ranges(constraint) -> np.ndarray:
    """One axis's brushed ranges as a (k, 2) float array of [low, high] rows, low <= high.

    ``constraint`` is a parallel-coordinates axis's ``constraintrange`` as Plotly reports it: None
    or [] (not brushed: k = 0), one range [low, high], or several [[low, high], ...] (Plotly's
    ``multiselect``). The ends may come in either order.
    """
    if constraint is None or len(constraint) == 0:
        return np.empty((0, 2))
    ranges = np.asarray(constraint, dtype=float)
    if ranges.ndim == 1:
        ranges = ranges[None, :]
    if ranges.ndim != 2 or ranges.shape[1] != 2:
        raise ValueError("A constraint range must be [low, high] or a list of [low, high] pairs. "
                         f"Got {constraint!r} instead.")
    return np.sort(ranges, axis=1)


def brushed_mask(values: Mapping[str, Sequence[float]], ranges: Mapping[str, Any]) -> np.ndarray:
    """Which lines of a parallel-coordinates plot lie inside the brushed ranges.

    ``values`` maps each axis's name to the (N,) values of the N lines on it; ``ranges`` maps the
    names of brushed axes to their ``constraintrange`` (see `constraint_ranges`). As in Plotly, a
    line is inside when, on every brushed axis, its value lies in at least one of that axis's
    ranges (ends included; NaN is never inside). Returns a boolean (N,) mask: all True when no axis
    is brushed.
    """
    unknown = [name for name in ranges if name not in values]
    if unknown:
        raise ValueError(f"`ranges` names axes that `values` lacks: {', '.join(unknown)}. "
                         f"Known axes: {', '.join(values)}.")
    lengths = {len(v) for v in values.values()}
    if len(lengths) > 1:
        raise ValueError(f"Every axis of `values` must have the same length. Got lengths "
                         f"{sorted(lengths)} instead.")
    inside = np.ones(lengths.pop() if lengths else 0, dtype=bool)
    for name, constraint in ranges.items():
        bounds = constraint_ranges(constraint)
        if len(bounds) == 0:
            continue
        column = np.asarray(values[name], dtype=float)[:, None]
        inside &= ((column >= bounds[:, 0]) & (column <= bounds[:, 1])).any(axis=1)
    return inside


def brushed_sample_ids(sample_ids: Sequence[int], values: Mapping[str, Sequence[float]],
                       ranges: Mapping[str, Any]) -> list[int]:
    """Sorted distinct ids of the samples with at least one line inside the brushed ranges.

    ``sample_ids`` (N,) labels the lines (a sample has one line per model or benchmark drawn);
    ``values`` and ``ranges`` are as in `brushed_mask`. Returns [] when no axis is brushed, so
    clearing the brush clears the selection.
    """
    if not any(len(constraint_ranges(c)) for c in ranges.values()):
        return []
    ids = np.asarray(sample_ids)
    if len(values) and len(ids) != len(next(iter(values.values()))):
        raise ValueError(f"`sample_ids` must label every line: {len(ids)} ids for "
                         f"{len(next(iter(values.values())))} lines.")
    return [int(i) for i in np.unique(ids[brushed_mask(values, ranges)])]
