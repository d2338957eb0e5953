"""The spread hypothesis on the Overview: each model's clean-geometry spread against its
robustness (its prose is in `readings`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from app.charts.overview._shared import method_colour, method_rank

__all__ = ["SPREAD_LABELS", "spread_figure"]

# Axis titles of the spread chart's statistics and targets, with their units.
SPREAD_LABELS = {
    "angle_spread": "angle spread: per-class std of the angle, mean over classes (degrees)",
    "l2_spread": "l2 spread: per-class std of ‖X‖, mean over classes (feature units)",
    "mean_angle": "mean angle to the true class direction (degrees)",
    "corrupted_accuracy": "mean accuracy on the corrupted benchmarks (fraction)",
    "drop": "accuracy drop from clean to corrupted (fraction)"}


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
