"""One- or two-sentence readings of the insight figures' numbers, as the page prints them under
each figure."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from app.charts.overview._shared import geometric_auc, ordered
from app.charts.overview.redundancy import GEOMETRY_MEASURE, REDUNDANT_TOP_K, redundant_by_both

__all__ = ["strength", "correlation_reading", "redundancy_reading", "saturate_note",
           "redundant_by_both_reading",
           "dimension_reading", "spread_reading", "roc_reading"]


def strength(r: float) -> str:
    """Verbal strength of a correlation: strong (|r| ≥ 0.5), moderate (≥ 0.3), weak."""
    size = abs(r)
    return "strong" if size >= 0.5 else "moderate" if size >= 0.3 else "weak"


def _r(value: float) -> str:
    return f"{value:.2f}".replace("-", "−")


def correlation_reading(corr: pd.DataFrame, model_ids: Sequence[str]) -> str:
    """One sentence per target from the mean Pearson r over the shown models, metrics ordered by
    the size of the correlation."""
    corr = corr[corr["model_id"].isin(model_ids)]
    means = corr.groupby(["target", "metric"])["pearson"].mean().dropna()
    sentences = []
    for target in ordered(means.index.get_level_values("target"), ("robustness", "pv")):
        values = means.loc[target].sort_values(key=np.abs, ascending=False)
        parts = [f"{metric} at r = {_r(r)} ({strength(r)})" for metric, r in values.items()]
        name = "Robustness" if target == "robustness" else "PV" if target == "pv" else target
        sentences.append(f"{name} correlates with " + ", ".join(parts) + ".")
    n = corr["model_id"].nunique()
    scope = "the shown model" if n == 1 else f"the mean over {n} shown models"
    return (" ".join(sentences) + f" (Pearson r, {scope}.)") if sentences else ""


def redundancy_reading(similarity: pd.DataFrame, *, measure: str) -> str:
    rows = similarity[similarity["measure"] == measure].sort_values(
        ["rank", "similarity"], ascending=[True, False])
    if rows.empty:
        return ""
    symbol = "ρ" if measure.endswith("spearman") else "r"
    pairs = [f"{a} ~ {b} ({symbol} = {_r(s)})" for a, b, s in
             rows[["corruption_a", "corruption_b", "similarity"]].head(2).itertuples(index=False)]
    last = rows.iloc[-1]
    high = int((rows["similarity"] >= 0.9).sum())
    return (f"Most redundant: {' and '.join(pairs)}; least alike: {last.corruption_a} ~ "
            f"{last.corruption_b} ({symbol} = {_r(last.similarity)}). {high} of {len(rows)} "
            f"pairs have {symbol} ≥ 0.9 — one benchmark of such a pair adds little beyond the "
            "other.")


def saturate_note(similarity: pd.DataFrame, *, channels: int) -> str:
    """On grey images (``channels`` = 1) saturate only scales a saturation that is 0, so its
    severities 1–3 leave the images unchanged (docs/corruptions.md): a pair of saturate with
    clean, or with another corruption close to clean, is an artefact. Empty otherwise."""
    names = set(similarity["corruption_a"]) | set(similarity["corruption_b"])
    if channels != 1 or "saturate" not in names:
        return ""
    return ("Note: these images are grey, and saturate only changes colour saturation — it "
            "leaves them unchanged at severities 1–3 (4–5 add a shift). Its similarity to "
            "clean and to mild corruptions is an artefact of that, not a finding.")


def redundant_by_both_reading(similarity: pd.DataFrame, *, measure: str,
                              top_k: int = REDUNDANT_TOP_K) -> str:
    """Names the corruption pairs redundant by both ``measure`` and the geometry distance
    (`redundant_by_both`), with the rule that picked them; empty without geometry rows."""
    pairs, k = redundant_by_both(similarity, measure=measure, top_k=top_k)
    if k == 0:
        return ""
    n = int(((similarity["measure"] == GEOMETRY_MEASURE)).sum())
    rule = (f"among the {k} most redundant pairs of both rankings (k = {top_k} or a quarter of "
            f"the pairs ranked by both, whichever is smaller; {n} geometry pairs)")
    if pairs.empty:
        return (f"No corruption pair is redundant by both accuracy and geometry ({rule}): the "
                "two measures disagree on which benchmarks repeat each other.")
    named = [f"{a} ≈ {b} (r = {_r(s)}, d = {d:.2f})" for a, b, s, d in
             pairs[["corruption_a", "corruption_b", "similarity", "distance"]].itertuples(
                 index=False)]
    return (f"Redundant by both accuracy and geometry: {', '.join(named)} — {rule}; one "
            "benchmark of such a pair adds little beyond the other, in what models get right "
            "and in how their geometry moves.")


def _network_trend(rows: pd.DataFrame, name: str) -> str:
    """How the mean angle and its spread change from the smallest to the largest width."""
    rows = rows.sort_values("dim")
    lo, hi = rows.iloc[0], rows.iloc[-1]
    means = rows["mean"].to_numpy()
    direction = ("rises" if hi["mean"] > lo["mean"] else "falls") + (
        " steadily" if len(rows) > 2 and (np.all(np.diff(means) > 0)
                                          or np.all(np.diff(means) < 0)) else "")
    spread = "shrinks" if hi["std"] < lo["std"] else "grows"
    return (f"{name}: the mean angle {direction} from {lo['mean']:.1f}° at m = {int(lo['dim'])} "
            f"to {hi['mean']:.1f}° at m = {int(hi['dim'])} while its spread {spread} from "
            f"± {lo['std']:.1f}° to ± {hi['std']:.1f}°.")


def dimension_reading(dims: pd.DataFrame) -> str:
    sentences = []
    random = dims[dims["kind"] == "random"].groupby("dim")[["mean", "std"]].mean().sort_index()
    if len(random):
        lo, hi = random.iloc[0], random.iloc[-1]
        sentences.append(
            f"Random directions: {lo['mean']:.1f}° ± {lo['std']:.1f}° at d = {random.index[0]}"
            + (f", narrowing to {hi['mean']:.1f}° ± {hi['std']:.1f}° at d = {random.index[-1]}."
               if len(random) > 1 else "."))
    untrained = dims[dims["kind"] == "untrained"]
    if untrained["dim"].nunique() > 1:
        sentences.append(_network_trend(untrained, "Untrained LeNet-5")
                         + " An untrained feature is as uninformative as a random direction.")
    elif len(untrained):
        row = untrained.iloc[0]
        sentences.append(f"Untrained LeNet-5: {row['mean']:.1f}° ± {row['std']:.1f}° at "
                         f"m = {int(row['dim'])} — as uninformative as a random direction.")
    trained = dims[dims["kind"] == "trained"]
    # The dimension study has one trained network per width; a population has several models
    # at one or two widths, which the average describes better than a trend.
    if trained["dim"].nunique() > 1 and not trained["dim"].duplicated().any():
        sentences.append(_network_trend(trained, "Trained LeNet-5"))
    elif len(trained):
        sentences.append(
            f"Trained models' clean features sit {trained['mean'].mean():.1f}° from their true "
            f"class direction on average (model means {trained['mean'].min():.1f}–"
            f"{trained['mean'].max():.1f}°, {len(trained)} models), well below the 90° of "
            "unrelated directions." if trained["mean"].mean() < 80 else
            f"Trained models' clean features sit {trained['mean'].mean():.1f}° from their true "
            f"class direction on average ({len(trained)} models) — close to the 90° of unrelated "
            "directions.")
    return " ".join(sentences)


_STAT_PHRASES = {"angle_spread": "a thin angle spread", "l2_spread": "a thin l2 spread",
                 "mean_angle": "a small mean angle"}


def spread_reading(correlations: pd.DataFrame, *, stat: str, target: str) -> str:
    """Whether a small ``stat`` goes with robustness across the population, and whether that
    holds within methods or only between them (from ``core.analysis.spread_correlations``)."""
    pair = correlations[(correlations["stat"] == stat) & (correlations["target"] == target)]
    r = {scope: row for scope, row in zip(pair["scope"], pair.itertuples(index=False))}
    pooled = r.get("pooled")
    if pooled is None or not np.isfinite(pooled.pearson):
        return ""
    # Robust = high corrupted accuracy or a small drop: a small stat goes with robustness when
    # r < 0 against the accuracy and r > 0 against the drop.
    sign = -1.0 if target == "corrupted_accuracy" else 1.0
    phrase = _STAT_PHRASES.get(stat, f"a small {stat}")
    measure = "corrupted accuracy" if target == "corrupted_accuracy" else "accuracy drop"
    numbers = (f"Pearson r = {_r(pooled.pearson)}, Spearman ρ = {_r(pooled.spearman)} over "
               f"{int(pooled.n)} models")
    # The words follow the weaker of r and ρ: a strong r with a weak ρ is a few models pulling
    # the line, not a link across the population.
    weaker = (min(abs(pooled.pearson), abs(pooled.spearman)) if np.isfinite(pooled.spearman)
              else abs(pooled.pearson))
    if weaker < 0.3:
        verdict = (f"{phrase[0].upper()}{phrase[1:]} does not clearly go with robustness here "
                   f"({stat} vs {measure}: {numbers}).")
    else:
        goes = "goes with" if sign * pooled.pearson > 0 else "goes against"
        verdict = (f"{phrase[0].upper()}{phrase[1:]} {goes} robustness here ({stat} vs "
                   f"{measure}: {numbers}, {strength(weaker)}).")
    within, between = r.get("within"), r.get("between")
    if within is None or not np.isfinite(within.pearson):
        return verdict + " Too few models per method to test it within methods."
    between_text = ("" if between is None or not np.isfinite(between.pearson) else
                    f"; between method means r = {_r(between.pearson)} ({int(between.n)} "
                    "methods)")
    if abs(within.pearson) >= 0.3 and np.sign(within.pearson) == np.sign(pooled.pearson):
        scope = (f" It holds within methods too (r = {_r(within.pearson)} on values centred per "
                 f"method{between_text}).")
    elif weaker >= 0.3:
        scope = (f" Within methods it does not hold (r = {_r(within.pearson)} on values centred "
                 f"per method{between_text}): the link comes from differences between methods.")
    else:
        scope = f" Within methods: r = {_r(within.pearson)}{between_text}."
    return verdict + scope


def roc_reading(auc: pd.DataFrame, *, arch: str) -> str:
    rows = auc[auc["arch"] == arch].dropna(subset=["auc"])
    parts = []
    for target in ("pie", "low_pv"):
        value = geometric_auc(rows, arch, target)
        if np.isfinite(value):
            row = rows[(rows["target"] == target) & (rows["score"] == "geometric")].iloc[0]
            name = ("samples where the dense model disagrees with the other pruned models"
                    if target == "pie" else "low-PV samples")
            parts.append(f"AUC {value:.2f} for {name} ({int(row.n_positive)} of {int(row.n)})")
    if not parts:
        return ""
    text = "The geometric score finds " + " and ".join(parts) + " (0.5 = chance)."
    best = rows[rows["target"] == "pie"].sort_values("auc", ascending=False).head(1)
    if len(best) and best["score"].iat[0] != "geometric":
        text += (f" For the disagreeing samples the single score {best['score'].iat[0]} does "
                 f"better (AUC {best['auc'].iat[0]:.2f}).")
    return text
