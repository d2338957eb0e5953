"""The geometric similarity view: UMAP (and CKA) placements of every (model, benchmark), with a
minimum spanning tree per benchmark."""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from app.charts.overview._shared import (
    DIMMED_OPACITY,
    HIGHLIGHT_LINE,
    axis_ref,
    method_colour,
    method_rank,
    nullable,
)
from app.selection import highlight_mask
from core.analysis import minimum_spanning_tree

__all__ = ["SELECTED_NAME", "WEBGL_THRESHOLD", "MAX_SCATTER_POINTS", "sample_points",
           "mst_segments", "embedding_figure"]

SELECTED_NAME = "selected models"
ARCH_SYMBOLS = ("circle", "square", "diamond", "triangle-up", "cross", "x", "pentagon", "star")
MST_DASHES = ("solid", "dot", "dash", "longdash", "dashdot")
# Above this many points a scatter is drawn with WebGL; above the cap it is sampled.
WEBGL_THRESHOLD = 1_500
MAX_SCATTER_POINTS = 20_000


def sample_points(points: pd.DataFrame, max_points: int, *, keep: np.ndarray | None = None,
                  seed: int = 0) -> pd.DataFrame:
    """At most ``max_points`` rows of ``points``: every row flagged in ``keep`` first (up to the
    cap), then a seeded uniform sample of the others; the original order is kept."""
    if max_points < 1:
        raise ValueError(f"`max_points` must be >= 1. Got {max_points} instead.")
    if len(points) <= max_points:
        return points
    keep = np.zeros(len(points), bool) if keep is None else np.asarray(keep, dtype=bool)
    rng = np.random.default_rng(seed)
    kept = np.flatnonzero(keep)[:max_points]
    others = np.flatnonzero(~keep)
    extra = rng.choice(others, size=max_points - len(kept), replace=False)
    return points.iloc[np.sort(np.r_[kept, extra])]


def mst_segments(points: pd.DataFrame) -> pd.DataFrame:
    """Edges of the minimum spanning tree over the 2-D points of each benchmark.

    Returns (benchmark_id, x0, y0, x1, y1, length), one row per edge (n − 1 per benchmark of n
    points), lengths in the embedding's units.
    """
    frames = []
    for benchmark, group in points.groupby("benchmark_id", sort=True):
        xy = group[["x", "y"]].to_numpy(dtype=float)
        edges = np.array(minimum_spanning_tree(xy), dtype=float).reshape(-1, 3)
        i, j = edges[:, 0].astype(int), edges[:, 1].astype(int)
        frames.append(pd.DataFrame({"benchmark_id": benchmark, "x0": xy[i, 0], "y0": xy[i, 1],
                                    "x1": xy[j, 0], "y1": xy[j, 1], "length": edges[:, 2]}))
    columns = ["benchmark_id", "x0", "y0", "x1", "y1", "length"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def _symbols(points: pd.DataFrame, archs: Sequence[str]) -> list[str]:
    base = points["arch"].map({a: ARCH_SYMBOLS[i % len(ARCH_SYMBOLS)] for i, a in enumerate(archs)})
    return np.where(points["retrained"].to_numpy(dtype=bool), base, base + "-open").tolist()


_PANELS = {"geometry": ("UMAP of per-sample geometry", "UMAP"),
           "cka": ("placement by linear CKA of features", "CKA placement")}


def embedding_figure(points: pd.DataFrame, *, cka_points: pd.DataFrame | None = None,
                     selected_models: Iterable[str] = (), max_points: int = MAX_SCATTER_POINTS
                     ) -> tuple[go.Figure, str | None]:
    """Scatter of (model, benchmark) placements: colour = method, symbol = arch (open = not
    retrained), size = pruning ratio, grey lines = minimum spanning tree per benchmark.

    Args:
        points: (model_id, benchmark_id, x, y, arch, method, ratio, retrained), space 'geometry'.
        cka_points: the same in space 'cka' — drawn as a second panel beside the first.
        selected_models: highlighted with a black ring (trace `SELECTED_NAME`); the rest is dimmed.
        max_points: cap per panel; above it points are sampled (selected ones kept).

    Returns (figure, note): note says how many points were drawn when some were left out.
    Every point's ``customdata`` is (model_id, benchmark_id).
    """
    selected = set(selected_models)
    panels = [("geometry", points)] + ([("cka", cka_points)] if cka_points is not None else [])
    archs = sorted(set().union(*(set(p["arch"]) for _, p in panels)))
    data: list[dict] = []
    layout: dict[str, Any] = {}
    annotations: list[dict] = []
    notes = []
    width = 1 / len(panels)
    shown_legend: set[str] = set()
    for k, (space, frame) in enumerate(panels):
        n = k + 1
        (xref, xkey), (yref, ykey) = axis_ref("x", n), axis_ref("y", n)
        title, axis = _PANELS[space]
        is_selected = highlight_mask(frame["model_id"], selected)
        drawn = sample_points(frame, max_points, keep=is_selected)
        if len(drawn) < len(frame):
            notes.append(f"{title}: showing {len(drawn):,} of {len(frame):,} points "
                         "(random sample; selected models always shown)")
        kind = "scattergl" if len(drawn) > WEBGL_THRESHOLD else "scatter"
        for b, seg in enumerate(mst_segments(drawn).groupby("benchmark_id", sort=True)):
            benchmark, edges = seg
            xs = np.column_stack([edges["x0"], edges["x1"], np.full(len(edges), np.nan)])
            ys = np.column_stack([edges["y0"], edges["y1"], np.full(len(edges), np.nan)])
            name = f"MST · {benchmark}"
            data.append(dict(
                type=kind, x=nullable(xs.ravel()), y=nullable(ys.ravel()), mode="lines",
                xaxis=xref, yaxis=yref, name=name, legendgroup=name,
                showlegend=name not in shown_legend, hoverinfo="skip",
                line=dict(color="#a0a0a0", width=1, dash=MST_DASHES[b % len(MST_DASHES)])))
            shown_legend.add(name)
        mask = highlight_mask(drawn["model_id"], selected)
        for method in sorted(set(drawn["method"]), key=method_rank):
            part = drawn[(drawn["method"] == method).to_numpy()]
            part_mask = mask[(drawn["method"] == method).to_numpy()]
            data.append(dict(
                type=kind, x=part["x"].tolist(), y=part["y"].tolist(), mode="markers",
                xaxis=xref, yaxis=yref, name=method, legendgroup=method,
                showlegend=method not in shown_legend,
                marker=dict(color=method_colour(method), symbol=_symbols(part, archs),
                            size=(6 + 14 * part["ratio"].to_numpy(dtype=float)).tolist(),
                            opacity=np.where(part_mask | (not selected), 0.9,
                                             DIMMED_OPACITY).tolist(),
                            line=dict(width=1, color=method_colour(method))),
                customdata=part[["model_id", "benchmark_id"]].to_numpy().tolist(),
                text=[f"<b>{m}</b><br>benchmark {b}<br>{a} · ratio {100 * r:.0f}% · "
                      f"{'retrained' if t else 'not retrained'}"
                      for m, b, a, r, t in part[["model_id", "benchmark_id", "arch", "ratio",
                                                 "retrained"]].itertuples(index=False)],
                hovertemplate="%{text}<br>(%{x:.2f}, %{y:.2f})<extra></extra>"))
            shown_legend.add(method)
        chosen = drawn[mask]
        if len(chosen):
            data.append(dict(
                type=kind, x=chosen["x"].tolist(), y=chosen["y"].tolist(), mode="markers",
                xaxis=xref, yaxis=yref, name=SELECTED_NAME, legendgroup=SELECTED_NAME,
                showlegend=SELECTED_NAME not in shown_legend, hoverinfo="skip",
                marker=dict(symbol="circle-open", color=HIGHLIGHT_LINE,
                            size=(14 + 14 * chosen["ratio"].to_numpy(dtype=float)).tolist(),
                            line=dict(width=2, color=HIGHLIGHT_LINE)),
                customdata=chosen[["model_id", "benchmark_id"]].to_numpy().tolist()))
            shown_legend.add(SELECTED_NAME)
        layout[xkey] = dict(domain=[k * width + (0.04 if k else 0), (k + 1) * width - 0.02],
                            anchor=yref, title=dict(text=f"{axis} 1 (arbitrary units)"),
                            zeroline=False)
        layout[ykey] = dict(domain=[0, 1], anchor=xref, zeroline=False,
                            title=dict(text=f"{axis} 2 (arbitrary units)"))
        annotations.append(dict(text=f"<b>{title}</b>", x=(k + 0.5) * width, y=1.0,
                                xref="paper", yref="paper", xanchor="center", yanchor="bottom",
                                showarrow=False))
    for i, arch in enumerate(archs):
        data.append(dict(type="scatter", x=[None], y=[None], mode="markers", xaxis="x",
                         yaxis="y", name=f"{arch} (open = not retrained)", hoverinfo="skip",
                         marker=dict(symbol=ARCH_SYMBOLS[i % len(ARCH_SYMBOLS)], color="#555555",
                                     size=9)))
    layout.update(
        title=dict(text="Geometric similarity of (model, benchmark) pairs — size = pruning ratio, "
                        "grey lines = minimum spanning tree per benchmark", x=0, xanchor="left"),
        height=560, showlegend=True, legend=dict(title=dict(text="method / structure")),
        annotations=annotations, dragmode="lasso", hovermode="closest", plot_bgcolor="white",
        margin=dict(l=60, r=20, t=80, b=60))
    return go.Figure(dict(data=data, layout=layout), _validate=False), "; ".join(notes) or None
