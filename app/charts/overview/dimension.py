"""The curse of dimensionality on the Overview: angles of random vectors, untrained and trained
LeNet-5 against the feature dimension (its prose is in `readings`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from app.charts.overview._shared import METHOD_COLOURS

__all__ = ["dimension_figure"]

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
