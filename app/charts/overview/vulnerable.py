"""The vulnerable-sample finder on the Overview: ROC curves of the geometric score at finding
PIE and low-PV samples (computed by `core.analysis.roc`; their prose is in `readings`), and the
samples it flags first."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from app.charts.overview._shared import METHOD_COLOURS, TARGET_LABELS, geometric_auc

__all__ = ["roc_figure", "top_flagged"]

def roc_figure(curves: pd.DataFrame, auc: pd.DataFrame, *, arch: str) -> go.Figure:
    """ROC curves of the geometric score against disagreement (``pie``) and low PV, AUCs from
    ``vulnerability_auc`` in the legend, and the chance diagonal."""
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
