"""Similarity of corruption benchmarks across the model population (see docs/analysis.md,
Benchmark similarity)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._columns import require_columns

__all__ = ["benchmark_similarity"]


def benchmark_similarity(accuracy: pd.DataFrame) -> pd.DataFrame:
    """How alike the model population responds to two corruptions; ranks redundant pairs.

    Args:
        accuracy: (model_id, corruption, severity, accuracy), clean rows with corruption
            ``'clean'`` (any severity).

    Returns:
        (corruption_a, corruption_b, similarity, measure, rank), one row per unordered pair with
        corruption_a < corruption_b, for two measures, each over the (model, severity) cells
        both corruptions have:

        - ``accuracy_pearson``: Pearson correlation of accuracy; 'clean' takes part as a
          pseudo-corruption whose accuracy is the model's clean accuracy at every severity, so a
          mild corruption (brightness) shows up as redundant with clean.
        - ``drop_pearson``: Pearson correlation of the accuracy drop from the model's clean
          accuracy — do the same models suffer? ('clean' is absent: its drop is identically 0.)
        - ``drop_spearman``: per severity, the Spearman correlation across models of the
          accuracy drop from clean, averaged over the severities where it is defined (>= 3
          models, neither side constant). Within one severity the shared fall of every
          corruption's accuracy with severity cannot make two corruptions look alike, so it
          ranks pairs that the pooled Pearson measures all put near 1. ('clean' is absent.)

        rank 1 = the most similar (most redundant) pair within a measure; NaN similarity
        (constant input, < 3 cells) has no rank.
    """
    require_columns(accuracy, "accuracy", ("model_id", "corruption", "severity", "accuracy"))
    is_clean = accuracy["corruption"] == "clean"
    clean = accuracy[is_clean].groupby("model_id")["accuracy"].mean()
    corrupted = accuracy[~is_clean]
    wide = corrupted.pivot_table(index=["model_id", "severity"], columns="corruption",
                                 values="accuracy", aggfunc="mean")
    clean_per_cell = clean.reindex(wide.index.get_level_values("model_id")).to_numpy()
    frames = []
    for measure, table in (("accuracy_pearson", wide.assign(clean=clean_per_cell)),
                           ("drop_pearson", -wide.sub(clean_per_cell, axis=0))):
        with np.errstate(divide="ignore", invalid="ignore"):
            corr = table.corr(method="pearson", min_periods=3)
        names = corr.columns.to_numpy()
        i, j = np.triu_indices(len(names), k=1)
        pairs = pd.DataFrame({"corruption_a": names[i], "corruption_b": names[j],
                              "similarity": corr.to_numpy()[i, j], "measure": measure})
        # Column order is sorted by pivot_table except 'clean' appended last: sort each pair.
        swap = pairs["corruption_a"] > pairs["corruption_b"]
        pairs.loc[swap, ["corruption_a", "corruption_b"]] = (
            pairs.loc[swap, ["corruption_b", "corruption_a"]].to_numpy())
        pairs["rank"] = pairs["similarity"].rank(ascending=False, method="min").astype("Int64")
        frames.append(pairs.sort_values(["rank", "corruption_a", "corruption_b"]))
    frames.append(_drop_spearman(-wide.sub(clean_per_cell, axis=0)))
    return pd.concat(frames, ignore_index=True)


def _drop_spearman(drop: pd.DataFrame) -> pd.DataFrame:
    """``drop_spearman`` rows from the (model, severity) × corruption accuracy drops."""
    per_severity = []
    for _, table in drop.groupby(level="severity"):
        with np.errstate(divide="ignore", invalid="ignore"):
            per_severity.append(table.corr(method="spearman", min_periods=3).to_numpy())
    names = drop.columns.to_numpy()
    i, j = np.triu_indices(len(names), k=1)
    if per_severity:
        stacked = np.stack(per_severity)[:, i, j]
        defined = np.isfinite(stacked)
        mean = np.divide(np.where(defined, stacked, 0.0).sum(axis=0), defined.sum(axis=0),
                         out=np.full(len(i), np.nan), where=defined.any(axis=0))
    else:
        mean = np.full(len(i), np.nan)
    pairs = pd.DataFrame({"corruption_a": names[i], "corruption_b": names[j],
                          "similarity": mean, "measure": "drop_spearman"})
    pairs["rank"] = pairs["similarity"].rank(ascending=False, method="min").astype("Int64")
    return pairs.sort_values(["rank", "corruption_a", "corruption_b"])
