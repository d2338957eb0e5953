"""Figures of the Overview's insights: correlation heat maps, benchmark redundancy, curse of
dimensionality, the spread hypothesis and the ROC curves of the vulnerable-sample finder (their
prose is in `readings`)."""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from app.charts.overview._shared import (
    MEASURE_LABELS,
    METHOD_COLOURS,
    TARGET_LABELS,
    geometric_auc,
    method_colour,
    method_rank,
    ordered,
)

__all__ = ["correlation_models", "correlation_figure", "redundancy_figure", "dimension_figure",
           "SPREAD_LABELS", "spread_figure", "roc_figure", "top_flagged"]

# Axis titles of the spread chart's statistics and targets, with their units.
SPREAD_LABELS = {
    "angle_spread": "angle spread: per-class std of the angle, mean over classes (degrees)",
    "l2_spread": "l2 spread: per-class std of ‖X‖, mean over classes (feature units)",
    "mean_angle": "mean angle to the true class direction (degrees)",
    "corrupted_accuracy": "mean accuracy on the corrupted benchmarks (fraction)",
    "drop": "accuracy drop from clean to corrupted (fraction)"}


def correlation_models(available: Sequence[str], selected: Iterable[str], *, limit: int = 24
                       ) -> tuple[list[str], str | None]:
    """Models whose correlations the heat map shows: the selected ones that have correlations,
    else the first ``limit`` available (dense first); with a note when some are left out."""
    chosen = [m for m in available if m in set(selected)] or list(available)
    if len(chosen) <= limit:
        return chosen, None
    return chosen[:limit], (f"Showing {limit} of {len(chosen)} models; select models in the "
                            "table or the similarity view to choose which.")


def correlation_figure(corr: pd.DataFrame, model_ids: Sequence[str]) -> go.Figure:
    """Annotated heat maps of Pearson r, one per target (robustness, PV): rows = models, columns =
    clean-data metrics (angle, l2, margin)."""
    corr = corr[corr["model_id"].isin(model_ids)]
    targets = ordered(corr["target"], ("robustness", "pv"))
    metrics = ordered(corr["metric"], ("angle", "l2", "margin"))
    fig = go.Figure()
    width = 1 / max(len(targets), 1)
    for k, target in enumerate(targets):
        table = (corr[corr["target"] == target]
                 .pivot_table(index="model_id", columns="metric", values="pearson", dropna=False)
                 .reindex(index=list(model_ids), columns=metrics))
        suffix = "" if k == 0 else str(k + 1)
        fig.add_trace(go.Heatmap(
            z=table.to_numpy(), x=metrics, y=list(model_ids), coloraxis="coloraxis",
            texttemplate="%{z:.2f}", xaxis=f"x{suffix}", yaxis=f"y{suffix}",
            name=TARGET_LABELS.get(target, target),
            hovertemplate="%{y}<br>" + target + " vs %{x}: r = %{z:.3f}<extra></extra>"))
        domain = [k * width + (0.12 if k else 0), (k + 1) * width - 0.02]
        fig.layout[f"xaxis{suffix}"] = dict(
            domain=domain, anchor=f"y{suffix}",
            title=dict(text=f"clean-data metric<br>vs {target}"))
        fig.layout[f"yaxis{suffix}"] = dict(anchor=f"x{suffix}", autorange="reversed",
                                            showticklabels=k == 0,
                                            title=dict(text="model" if k == 0 else ""))
        # Centred over its panel: Plotly's default xanchor ("auto") left-aligns a title left
        # of a third of the width and right-aligns one beyond two thirds, so they overlapped.
        fig.add_annotation(text=f"<b>{TARGET_LABELS.get(target, target)}</b>",
                           x=sum(domain) / 2, y=1.0, xref="paper", yref="paper",
                           xanchor="center", yanchor="bottom", showarrow=False)
    fig.update_layout(
        title=dict(text="Correlation of per-sample robustness and PV with clean last-layer "
                        "geometry", x=0, xanchor="left"),
        coloraxis=dict(colorscale="RdBu", cmin=-1, cmax=1,
                       colorbar=dict(title=dict(text="Pearson r<br>(unitless)"), dtick=1)),
        height=160 + 22 * len(model_ids), margin=dict(l=10, r=10, t=80, b=70))
    return fig


def redundancy_figure(similarity: pd.DataFrame, *, measure: str, top: int = 15) -> go.Figure:
    """Horizontal bars of the ``top`` most similar corruption pairs under ``measure``."""
    rows = similarity[similarity["measure"] == measure].sort_values(
        ["rank", "similarity"], ascending=[True, False]).head(top)
    labels = [f"{a} ~ {b}" for a, b in zip(rows["corruption_a"], rows["corruption_b"])]
    label = MEASURE_LABELS.get(measure, measure)
    fig = go.Figure(go.Bar(
        x=rows["similarity"], y=labels, orientation="h", name=label,
        marker_color=METHOD_COLOURS["magnitude"], customdata=rows["rank"],
        text=[f"{s:.2f}" for s in rows["similarity"]], textposition="inside",
        hovertemplate="%{y}<br>rank %{customdata}: %{x:.3f}<extra></extra>"))
    fig.update_layout(
        title=dict(text=f"Most redundant corruption pairs (top {len(rows)}, rank 1 = most "
                        "similar)", x=0, xanchor="left"),
        xaxis=dict(title=dict(text=f"{label} across models × severities (unitless)"),
                   range=[min(0.0, float(rows["similarity"].min())) if len(rows) else 0, 1]),
        yaxis=dict(title=dict(text="corruption pair"), autorange="reversed"),
        showlegend=True, legend=dict(orientation="h", y=-0.25),
        height=200 + 24 * len(rows), margin=dict(l=10, r=10, t=60, b=90))
    return fig


# Colours of the networks of the dimension study.
_KIND_COLOURS = {"untrained": METHOD_COLOURS["taylor2"], "trained": METHOD_COLOURS["magnitude"]}
_KIND_NAMES = {"untrained": "untrained LeNet-5", "trained": "trained LeNet-5"}


def dimension_figure(dims: pd.DataFrame) -> go.Figure:
    """Mean ± std angle (degrees) against feature dimension (log axis): a band for random
    Gaussian vectors; for untrained and trained networks, the angle of clean features to their
    true class direction, with error bars (one point per network; a line through them when each
    width has one network, as in the dimension study)."""
    fig = go.Figure()
    random = dims[dims["kind"] == "random"].groupby("dim", as_index=False)[["mean", "std"]].mean()
    if len(random):
        fig.add_trace(go.Scatter(x=random["dim"], y=random["mean"] + random["std"], mode="lines",
                                 line=dict(width=0), showlegend=False, hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=random["dim"], y=random["mean"] - random["std"], mode="lines",
                                 line=dict(width=0), fill="tonexty",
                                 fillcolor="rgba(140,140,140,0.3)", name="random: ± 1 std",
                                 hoverinfo="skip"))
        fig.add_trace(go.Scatter(
            x=random["dim"], y=random["mean"], mode="lines+markers", name="random vectors: mean",
            line=dict(color=METHOD_COLOURS["random"]), customdata=random["std"],
            hovertemplate="d = %{x}<br>%{y:.1f}° ± %{customdata:.1f}°<extra>random</extra>"))
    for kind in ("untrained", "trained"):
        rows = dims[dims["kind"] == kind].sort_values(["dim", "model_id"])
        if rows.empty:
            continue
        one_per_width = not rows["dim"].duplicated().any()
        fig.add_trace(go.Scatter(
            x=rows["dim"], y=rows["mean"], mode="lines+markers" if one_per_width else "markers",
            error_y=dict(type="data", array=rows["std"], thickness=1),
            name=f"{_KIND_NAMES[kind]}: angle to true class (mean ± std)",
            line=dict(color=_KIND_COLOURS[kind]), marker=dict(color=_KIND_COLOURS[kind], size=8),
            customdata=np.column_stack([rows["model_id"].astype(str), rows["std"]]),
            hovertemplate=("%{customdata[0]}<br>m = %{x}<br>%{y:.1f}° ± %{customdata[1]:.1f}°"
                           f"<extra>{kind}</extra>")))
    fig.update_layout(
        title=dict(text="Curse of dimensionality: angles concentrate near 90° as the dimension "
                        "grows", x=0, xanchor="left"),
        xaxis=dict(type="log", title=dict(text="feature dimension d = m (count, log scale)")),
        yaxis=dict(title=dict(text="angle (degrees)"), range=[0, 180]),
        showlegend=True, legend=dict(orientation="h", y=-0.25), height=440,
        margin=dict(l=10, r=10, t=60, b=110))
    return fig


def spread_figure(spread: pd.DataFrame, correlations: pd.DataFrame, *, stat: str,
                  target: str) -> go.Figure:
    """Scatter of one geometry statistic (x) against one robustness target (y), one point per
    model coloured by method; the title gives the pooled and within-method correlations.

    ``spread``: (model_id, method, ratio, ``stat``, ``target``); ``correlations``: the frame of
    ``core.analysis.spread_correlations``.
    """
    fig = go.Figure()
    for method in sorted(spread["method"].dropna().unique(), key=method_rank):
        rows = spread[spread["method"] == method]
        fig.add_trace(go.Scatter(
            x=rows[stat], y=rows[target], mode="markers", name=method,
            marker=dict(color=method_colour(method), size=9, line=dict(width=0.5,
                                                                         color="#ffffff")),
            customdata=np.column_stack([rows["model_id"].astype(str), rows["ratio"]]),
            hovertemplate=("%{customdata[0]} (ratio %{customdata[1]})<br>"
                           f"{stat} %{{x:.3f}}, {target} %{{y:.3f}}<extra>{method}</extra>")))
    pair = correlations[(correlations["stat"] == stat) & (correlations["target"] == target)]
    parts = []
    for scope, label in (("pooled", "all models"), ("within", "within methods")):
        row = pair[pair["scope"] == scope]
        if len(row) and np.isfinite(row["pearson"].iat[0]):
            parts.append(f"{label}: r = {row['pearson'].iat[0]:.2f}, "
                         f"ρ = {row['spearman'].iat[0]:.2f} (n = {int(row['n'].iat[0])})")
    fig.update_layout(
        title=dict(text="Spread hypothesis: clean geometry vs robustness"
                        + (f"<br><sup>{'; '.join(parts)}</sup>" if parts else ""),
                   x=0, xanchor="left"),
        xaxis=dict(title=dict(text=SPREAD_LABELS.get(stat, stat))),
        yaxis=dict(title=dict(text=SPREAD_LABELS.get(target, target))),
        showlegend=True, legend=dict(orientation="h", y=-0.25, title=dict(text="method")),
        height=460, margin=dict(l=10, r=10, t=80, b=110))
    return fig


def roc_figure(curves: pd.DataFrame, auc: pd.DataFrame, *, arch: str) -> go.Figure:
    """ROC curves of the geometric score against PIE and low PV, AUCs from ``vulnerability_auc``
    in the legend, and the chance diagonal."""
    fig = go.Figure()
    colours = {"pie": METHOD_COLOURS["magnitude"], "low_pv": METHOD_COLOURS["snip"]}
    for target, curve in curves.groupby("target", sort=False):
        value = geometric_auc(auc, arch, target)
        fig.add_trace(go.Scatter(
            x=curve["fpr"], y=curve["tpr"], mode="lines",
            name=f"{TARGET_LABELS.get(target, target)} — AUC {value:.2f}" if np.isfinite(value)
            else f"{TARGET_LABELS.get(target, target)} — AUC n/a",
            line=dict(color=colours.get(target), width=2), customdata=curve["threshold"],
            hovertemplate="FPR %{x:.2f}, TPR %{y:.2f}<br>score ≥ %{customdata:.3f}<extra></extra>"))
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance (AUC 0.5)",
                             line=dict(color="#999999", dash="dot"), hoverinfo="skip"))
    fig.update_layout(
        title=dict(text=f"Vulnerable-sample finder ({arch}): geometric score of the dense model",
                   x=0, xanchor="left"),
        xaxis=dict(title=dict(text="false positive rate (fraction)"), range=[0, 1]),
        yaxis=dict(title=dict(text="true positive rate (fraction)"), range=[0, 1]),
        showlegend=True, legend=dict(orientation="h", y=-0.25), height=440,
        margin=dict(l=10, r=10, t=60, b=100))
    return fig


def top_flagged(samples: pd.DataFrame, k: int) -> list[int]:
    """The ``k`` samples with the largest geometric score (ties: smaller sample id first)."""
    if k < 1:
        raise ValueError(f"`k` must be >= 1. Got {k} instead.")
    ranked = samples.dropna(subset=["geometric_score"]).sort_values(
        ["geometric_score", "sample_id"], ascending=[False, True])
    return [int(s) for s in ranked["sample_id"].head(k)]
