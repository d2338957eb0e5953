"""Pure figure builders of the Guide page: the 2-D feature plane of a network (decision regions
of its head, class directions, every clean sample) with one sample's angle, length and margin
drawn on it, the loss functions' planes side by side, and their comparison.

Geometry follows docs/definitions.md: the angle is between the feature X and the direction W_y of
its true class; the length is ‖X‖; the margin is the distance from X to the nearest decision
boundary {z : (W_p − W_j)·z + b_p − b_j = 0} of its predicted class p, negative when p ≠ y.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

__all__ = ["SampleGeometry", "sample_geometry", "decision_regions", "plane_extent",
           "feature_plane", "loss_planes", "loss_comparison_figure", "class_colors",
           "correlation_sentence"]

GRID = 160                       # decision-region grid points per axis
ARC_POINTS = 40


# The angle arc's colour: navy, far from every class colour of `class_colors` (D3, Light24).
ARC_COLOR = "#000080"


def class_colors(n: int) -> list[str]:
    """One colour per class (cycled beyond the palette's 10)."""
    palette = qualitative.D3 if n <= 10 else qualitative.Light24
    return [palette[i % len(palette)] for i in range(n)]


@dataclass(frozen=True)
class SampleGeometry:
    """One sample's geometry in the plane, measured from its feature and the head."""

    feature: np.ndarray          # (2,) X
    label: int                   # y, the true class
    pred: int                    # p = argmax(W·X + b)
    angle: float                 # degrees between X and W_y
    length: float                # ‖X‖
    margin: float                # signed distance to the nearest boundary of p (negative: wrong)
    rival: int                   # j, the class across that boundary
    foot: np.ndarray             # (2,) the boundary's point nearest X

    @property
    def correct(self) -> bool:
        return self.pred == self.label


def sample_geometry(feature, weight: np.ndarray, bias: np.ndarray, label: int
                    ) -> SampleGeometry:
    """Angle, length and margin of one feature (2,) under a head weight (C, 2), bias (C,)."""
    x = np.asarray(feature, dtype=np.float64)
    w, b = np.asarray(weight, dtype=np.float64), np.asarray(bias, dtype=np.float64)
    scores = w @ x + b
    pred = int(np.argmax(scores))
    length = float(np.linalg.norm(x))
    cos = w[label] @ x / (length * np.linalg.norm(w[label]))
    angle = float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))
    normals = w[pred] - w                                  # (C, 2): boundary normals p vs j
    norms = np.linalg.norm(normals, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        distances = np.where(norms > 0, (scores[pred] - scores) / norms, np.inf)
    rival = int(np.argmin(distances))
    distance = float(distances[rival])
    foot = x - distance * normals[rival] / norms[rival]
    return SampleGeometry(x, int(label), pred, angle, length,
                          distance if pred == label else -distance, rival, foot)


def plane_extent(points: np.ndarray) -> float:
    """Half-width of a square view centred on the origin holding 98% of the points."""
    if len(points) == 0:
        return 1.0
    return float(np.quantile(np.abs(points), 0.99)) * 1.15 or 1.0


def decision_regions(weight: np.ndarray, bias: np.ndarray, extent: float, *, n: int = GRID
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The class the head predicts, argmax(W·z + b), on an n × n grid over [−extent, extent]²:
    (axis values (n,), classes (n, n) indexed [y, x])."""
    axis = np.linspace(-extent, extent, n)
    gx, gy = np.meshgrid(axis, axis)
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1)
    return axis, np.argmax(grid @ np.asarray(weight).T + np.asarray(bias), axis=1).reshape(n, n)


def _regions_trace(weight, bias, extent, colors) -> go.Heatmap:
    axis, classes = decision_regions(weight, bias, extent)
    c = len(colors)
    # A stepped colour scale: class k is the band [k, k + 1) / c.
    scale = [[edge, colors[k]] for k in range(c) for edge in (k / c, (k + 1) / c)]
    return go.Heatmap(x=axis, y=axis, z=classes + 0.5, zmin=0, zmax=c, colorscale=scale,
                      opacity=0.18, showscale=False, hoverinfo="skip", name="decision regions")


def _direction_traces(weight, extent, class_names, colors, *, labels: bool = True):
    w = np.asarray(weight, dtype=np.float64)
    tips = w / np.linalg.norm(w, axis=1, keepdims=True).max() * extent * 0.9
    traces = []
    for k, (tx, ty) in enumerate(tips):
        traces.append(go.Scatter(
            x=[0, tx], y=[0, ty], mode="lines+markers+text" if labels else "lines+markers",
            line=dict(color=colors[k], width=3),
            marker=dict(symbol="arrow", size=[0, 12], angleref="previous", color=colors[k]),
            text=["", class_names[k]] if labels else None, textposition="top center",
            hoverinfo="text", hovertext=f"class direction W of {class_names[k]}",
            showlegend=False))
    return traces


def _point_traces(points: pd.DataFrame, class_names, colors, *, size: int = 6):
    traces = []
    for k, name in enumerate(class_names):
        part = points[points["label"] == k]
        traces.append(go.Scatter(
            x=part["x"], y=part["y"], mode="markers", name=name, legendgroup=name,
            marker=dict(color=colors[k], size=size, line=dict(width=0.5, color="white"),
                        symbol=np.where(part["correct"], "circle", "x")),
            customdata=part[["sample_id"]].to_numpy(),   # 2-D: the browser returns it per point
            hovertemplate=f"sample %{{customdata[0]}} · true class {name}<extra></extra>"))
    return traces


def _geometry_traces(g: SampleGeometry, weight, extent, class_names) -> list[go.Scatter]:
    """The angle arc, the length along the ray and the perpendicular to the nearest boundary."""
    w = np.asarray(weight, dtype=np.float64)
    radius = min(g.length, extent) * 0.35
    a_x = np.arctan2(g.feature[1], g.feature[0])
    a_w = np.arctan2(w[g.label, 1], w[g.label, 0])
    sweep = (a_w - a_x + np.pi) % (2 * np.pi) - np.pi          # the short way round
    arc = a_x + np.linspace(0, sweep, ARC_POINTS)
    normal = w[g.pred] - w[g.rival]
    along = np.array([-normal[1], normal[0]]) / np.linalg.norm(normal)
    boundary = g.foot[None, :] + np.linspace(-2, 2, 2)[:, None] * extent * along
    verdict = "correct" if g.correct else f"wrong (predicted {class_names[g.pred]})"
    return [
        go.Scatter(x=[0, g.feature[0]], y=[0, g.feature[1]], mode="lines", name="length ‖X‖",
                   line=dict(color="black", width=3), hoverinfo="name"),
        # A white casing under the arc keeps it visible over the densest points.
        go.Scatter(x=radius * np.cos(arc), y=radius * np.sin(arc), mode="lines",
                   line=dict(color="white", width=7), hoverinfo="skip", showlegend=False),
        go.Scatter(x=radius * np.cos(arc), y=radius * np.sin(arc), mode="lines",
                   name="angle to the class direction", line=dict(color=ARC_COLOR, width=3),
                   hoverinfo="name"),
        go.Scatter(x=boundary[:, 0], y=boundary[:, 1], mode="lines",
                   name=f"boundary {class_names[g.pred]} | {class_names[g.rival]}",
                   line=dict(color="gray", width=2, dash="dash"), hoverinfo="name"),
        go.Scatter(x=[g.feature[0], g.foot[0]], y=[g.feature[1], g.foot[1]],
                   mode="lines+markers", name="margin", line=dict(color="#9467bd", width=3),
                   marker=dict(size=[0, 7]), hoverinfo="name"),
        go.Scatter(x=[g.feature[0]], y=[g.feature[1]], mode="markers", name=f"chosen: {verdict}",
                   marker=dict(size=16, color="rgba(0,0,0,0)", line=dict(width=3,
                                                                          color="black")),
                   hoverinfo="name"),
    ]


def _square_axes(fig: go.Figure, extent: float) -> None:
    fig.update_xaxes(range=[-extent, extent], zeroline=True, zerolinecolor="#999",
                     showgrid=False, title_text="feature 1")
    fig.update_yaxes(range=[-extent, extent], zeroline=True, zerolinecolor="#999",
                     showgrid=False, title_text="feature 2", scaleanchor="x")


def feature_plane(points: pd.DataFrame, weight: np.ndarray, bias: np.ndarray,
                  class_names: list[str], *, chosen: SampleGeometry | None = None,
                  title: str = "") -> go.Figure:
    """Clean samples as points (x, y) coloured by true class (✕: misclassified; customdata:
    sample_id), the head's decision regions shaded, class directions as arrows from the origin,
    and — for ``chosen`` — its angle, length and margin."""
    colors = class_colors(len(class_names))
    extent = plane_extent(points[["x", "y"]].to_numpy())
    if chosen is not None:
        extent = max(extent, float(np.abs(chosen.feature).max()) * 1.1)
    fig = go.Figure([_regions_trace(weight, bias, extent, colors),
                     *_direction_traces(weight, extent, class_names, colors),
                     *_point_traces(points, class_names, colors)])
    if chosen is not None:
        fig.add_traces(_geometry_traces(chosen, weight, extent, class_names))
    _square_axes(fig, extent)
    fig.update_layout(title=title, height=640, margin=dict(l=10, r=10, t=40, b=10),
                      legend=dict(itemsizing="constant"), clickmode="event+select")
    return fig


def loss_planes(planes: list[tuple[str, pd.DataFrame, np.ndarray, np.ndarray]],
                class_names: list[str]) -> go.Figure:
    """Side by side, one feature plane per (title, points, weight, bias): the same network
    trained with each loss."""
    colors = class_colors(len(class_names))
    fig = make_subplots(rows=1, cols=max(1, len(planes)),
                        subplot_titles=[title for title, *_ in planes],
                        horizontal_spacing=0.04)
    for i, (_, points, weight, bias) in enumerate(planes, start=1):
        extent = plane_extent(points[["x", "y"]].to_numpy())
        traces = [_regions_trace(weight, bias, extent, colors),
                  *_direction_traces(weight, extent, class_names, colors, labels=False),
                  *_point_traces(points, class_names, colors, size=4)]
        for trace in traces:
            trace.showlegend = i == 1 and trace.name in class_names
            fig.add_trace(trace, row=1, col=i)
        fig.update_xaxes(range=[-extent, extent], showgrid=False, zeroline=True,
                         showticklabels=False, row=1, col=i)
        fig.update_yaxes(range=[-extent, extent], showgrid=False, zeroline=True,
                         showticklabels=False, scaleanchor=f"x{'' if i == 1 else i}",
                         row=1, col=i)
    fig.update_layout(height=420, margin=dict(l=10, r=10, t=40, b=10))
    return fig


def loss_comparison_figure(table: pd.DataFrame) -> go.Figure:
    """Clean vs mean corrupted accuracy per model (``table``: network, loss, clean_accuracy,
    corrupted_accuracy), grouped bars."""
    names = table["network"] + " · " + table["loss"]
    fig = go.Figure([
        go.Bar(x=names, y=table["clean_accuracy"], name="clean accuracy"),
        go.Bar(x=names, y=table["corrupted_accuracy"], name="mean accuracy, corrupted"),
    ])
    fig.update_layout(barmode="group", height=340, yaxis=dict(range=[0, 1], title="accuracy"),
                      margin=dict(l=10, r=10, t=30, b=10))
    return fig


# What a larger value of each target counts (docs/analysis.md: robustness counts the corrupted
# benchmarks on which the sample is classified correctly, PV the pruned models that classify it
# correctly), in the words "more … / fewer …" complete.
_TARGET_COUNTS = {"robustness": "corrupted benchmarks on which the model still classifies it "
                                "correctly",
                  "pv": "pruned models that still classify it correctly (pruning vulnerability, "
                        "PV)"}
_METRIC_NAMES = {"angle": "angle", "l2": "length (L2 norm)", "margin": "margin"}


def correlation_sentence(metric: str, target: str, spearman: float, n_models: int) -> str:
    """One reading of a median per-sample Spearman ρ between a clean metric and a target.

    The direction words follow the sign: ρ > 0 reads "the larger its <metric>, the more
    <target counts>", ρ < 0 "… the fewer …", ρ = 0 or NaN says no monotone link.
    """
    counted = _TARGET_COUNTS.get(target, target)
    name = _METRIC_NAMES.get(metric, metric)
    numbers = f"Spearman ρ = {spearman:+.2f}, median over {int(n_models)} models"
    if not np.isfinite(spearman) or spearman == 0:
        return f"{name.capitalize()} and the number of {counted}: no monotone link ({numbers})"
    more = "more" if spearman > 0 else "fewer"
    return f"The larger a sample's {name}, the {more} {counted} ({numbers})"
