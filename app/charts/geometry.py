"""Pure Plotly figure builders of the Geometry page (data in, figure out; no Streamlit).

Per-sample scatters are WebGL (``go.Scattergl``) and carry the sample id as the first element of
each point's ``customdata``, so a box/lasso selection maps back to samples.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from app.charts.labels import upright_axis_titles
from app.compare import CATEGORIES

__all__ = [
    "CORRECT_COLOR",
    "INCORRECT_COLOR",
    "CATEGORY_COLORS",
    "REFERENCE_COLOR",
    "COMPARED_COLOR",
    "class_accuracy",
    "class_panels",
    "class_distributions",
    "comparison_scatter",
    "parallel_coordinates",
    "axis_densities",
]

CORRECT_COLOR = "#9e9e9e"
INCORRECT_COLOR = "#d62728"
CATEGORY_COLORS = dict(zip(CATEGORIES, ("#c7c7c7", "#d62728", "#2ca02c", "#3b3b3b")))
# Draw the two large categories first so the transitions stay on top.
_CATEGORY_DRAW_ORDER = (0, 3, 1, 2)
REFERENCE_COLOR = "#8c8c8c"
COMPARED_COLOR = "#f0b400"
_METRIC_AXES = (("l2", "L2 norm of features"), ("margin", "margin (signed distance)"),
                ("prob", "probability of true class"))


def class_accuracy(frame: pd.DataFrame, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(accuracy, count) per true class, shape (num_classes,) each; NaN accuracy for a class
    without samples. ``frame`` needs the columns label and correct."""
    labels = frame["label"].to_numpy(dtype=np.int64)
    counts = np.bincount(labels, minlength=num_classes)
    hits = np.bincount(labels, weights=frame["correct"].to_numpy(dtype=float),
                       minlength=num_classes)
    accuracy = np.divide(hits, counts, out=np.full(num_classes, np.nan), where=counts > 0)
    return accuracy, counts


def _grid(n: int, columns: int) -> tuple[int, int]:
    columns = max(1, min(columns, n))
    return -(-n // columns), columns


def _subplot_grid(titles: Sequence[str], *, columns: int, x_title: str | None,
                  y_title: str | None, shared: bool, gap_x: float = 0.04, gap_y_px: int = 70,
                  row_px: int = 250, top_px: int = 110) -> tuple[dict, list[tuple[str, str]]]:
    """Layout of a grid of subplots — axes with their domains, one title annotation above each
    panel — and the (xaxis, yaxis) ids of the panels, in reading order.

    Built as plain dicts because ``make_subplots`` + per-trace ``row``/``col`` validation costs
    about 15× more, which is most of a rerun with a dozen panels.
    """
    rows, cols = _grid(len(titles), columns)
    height = top_px + rows * row_px + (rows - 1) * gap_y_px + 60
    gap_y = gap_y_px / (height - top_px - 60)
    width = (1 - gap_x * (cols - 1)) / cols
    panel_height = (1 - gap_y * (rows - 1)) / rows
    layout: dict = {"height": height, "margin": {"t": top_px}, "annotations": []}
    axes = []
    for position, title in enumerate(titles):
        row, col = divmod(position, cols)
        suffix = "" if position == 0 else str(position + 1)
        x0, y1 = col * (width + gap_x), 1 - row * (panel_height + gap_y)
        last_in_column = position + cols >= len(titles)
        layout[f"xaxis{suffix}"] = {
            "domain": _domain(x0, x0 + width), "anchor": f"y{suffix}",
            "title": {"text": x_title if last_in_column else None},
            **({"matches": "x"} if shared and position else {})}
        layout[f"yaxis{suffix}"] = {
            "domain": _domain(y1 - panel_height, y1), "anchor": f"x{suffix}",
            "title": {"text": y_title if col == 0 else None},
            **({"matches": "y"} if shared and position else {})}
        layout["annotations"].append({
            "text": title, "x": x0 + width / 2, "y": y1, "xref": "paper", "yref": "paper",
            "xanchor": "center", "yanchor": "bottom", "showarrow": False, "font": {"size": 12}})
        axes.append((f"x{suffix}", f"y{suffix}"))
    return layout, axes


def _domain(start: float, end: float) -> list[float]:
    # Rounding error may step a hair outside [0, 1], which Plotly rejects.
    return [min(max(round(start, 6), 0.0), 1.0), min(max(round(end, 6), 0.0), 1.0)]


def class_panels(frame: pd.DataFrame, class_names: Sequence[str], classes: Sequence[int], *,
                 title: str, columns: int = 5) -> go.Figure:
    """One angle-vs-L2 panel per class in ``classes``: correct samples grey, incorrect red, the
    class accuracy in the panel title. ``frame`` holds the columns of `local_metrics` (angle in
    degrees)."""
    accuracy, counts = class_accuracy(frame, len(class_names))
    titles = [f"{class_names[c]} — acc {accuracy[c]:.1%} (n={counts[c]})" if counts[c]
              else f"{class_names[c]} — no samples" for c in classes]
    layout, axes = _subplot_grid(titles, columns=columns, x_title="angle to true class (°)",
                                 y_title="L2 norm of features", shared=True)
    by_class = frame.groupby("label", sort=False)
    traces = []
    for position, (c, (xaxis, yaxis)) in enumerate(zip(classes, axes)):
        members = by_class.get_group(c) if counts[c] else frame.iloc[:0]
        for correct, name, color in ((True, "correct", CORRECT_COLOR),
                                     (False, "incorrect", INCORRECT_COLOR)):
            part = members[members["correct"] == correct]
            traces.append(dict(
                type="scattergl", x=part["angle"].to_numpy(), y=part["l2"].to_numpy(),
                xaxis=xaxis, yaxis=yaxis, mode="markers", name=name, legendgroup=name,
                showlegend=position == 0, marker=dict(color=color, size=5, opacity=0.7),
                customdata=np.column_stack([part["sample_id"], part["pred"], part["margin"],
                                            part["prob"]]),
                hovertemplate=("sample %{customdata[0]}<br>angle %{x:.1f}°<br>L2 %{y:.3f}"
                               "<br>predicted %{customdata[1]}<br>margin %{customdata[2]:.3f}"
                               "<br>prob %{customdata[3]:.3f}<extra>" + name + "</extra>")))
    layout.update(title={"text": title}, dragmode="lasso",
                  legend=dict(orientation="h", y=1.0, yanchor="bottom", x=1, xanchor="right"))
    layout["legend"]["y"] = 1 + 45 / layout["height"]
    return go.Figure(data=traces, layout=layout)


def class_distributions(frame: pd.DataFrame, *, class_name: str, bins: int = 30) -> go.Figure:
    """Histograms of the margin and of the true-class probability of one class's samples, correct
    (grey) and incorrect (red) overlaid. ``frame`` holds that class's rows of `local_metrics`."""
    layout, axes = _subplot_grid(("margin", "probability of true class"), columns=2,
                                 x_title=None, y_title="samples", shared=False, gap_x=0.08,
                                 row_px=260, top_px=90)
    layout["xaxis"]["title"]["text"] = "margin (signed distance to nearest boundary)"
    layout["xaxis2"]["title"]["text"] = "softmax probability of true class"
    layout["xaxis2"]["range"] = [0, 1]
    # Shared bins with an edge at 0, so no bar mixes negative (misclassified) and positive margins.
    margins = frame["margin"].to_numpy(dtype=float)
    margins = margins[np.isfinite(margins)]
    spread = float(np.ptp(margins)) if margins.size else 1.0
    size = spread / bins if spread > 0 else 1.0
    start = float(np.floor(margins.min() / size) * size) if margins.size else 0.0
    shared_bins = {"margin": dict(start=start, end=start + size * (bins + 1), size=size),
                   "prob": dict(start=0.0, end=1.0, size=1.0 / bins)}
    traces = []
    for correct, name, color in ((True, "correct", CORRECT_COLOR),
                                 (False, "incorrect", INCORRECT_COLOR)):
        part = frame[frame["correct"] == correct]
        for position, (column, (xaxis, yaxis)) in enumerate(zip(("margin", "prob"), axes)):
            traces.append(dict(
                type="histogram", x=part[column].to_numpy(), xbins=shared_bins[column],
                autobinx=False, xaxis=xaxis, yaxis=yaxis, name=f"{name} ({len(part)})",
                legendgroup=name, showlegend=position == 0, marker_color=color, opacity=0.65))
    layout.update(title={"text": f"Margin and probability of {class_name}"},
                  barmode="overlay")
    return go.Figure(data=traces, layout=layout)


def comparison_scatter(paired: pd.DataFrame, codes: np.ndarray, counts: pd.Series, *,
                       label_a: str, label_b: str) -> go.Figure:
    """Scatter matrix (the three pairs) of Δangle, ΔL2 and Δmargin (B − A) per sample, one trace
    per transition category with its count in the legend. ``paired`` holds the columns of
    `paired_metrics`; ``codes`` (N,) are `transition_codes`, ``counts`` `count_transitions`."""
    pairs = (("d_angle", "d_l2"), ("d_angle", "d_margin"), ("d_l2", "d_margin"))
    titles = {"d_angle": "Δ angle to true class (°)", "d_l2": "Δ L2 norm",
              "d_margin": "Δ margin"}
    layout, axes = _subplot_grid([f"{titles[y]} vs {titles[x]}" for x, y in pairs], columns=3,
                                 x_title=None, y_title=None, shared=False, gap_x=0.07,
                                 row_px=320, top_px=100)
    for (x, y), (xaxis, yaxis) in zip(pairs, axes):
        layout[f"xaxis{xaxis[1:]}"]["title"]["text"] = titles[x]
        layout[f"yaxis{yaxis[1:]}"]["title"]["text"] = titles[y]
    traces = []
    for code in _CATEGORY_DRAW_ORDER:
        category = CATEGORIES[code]
        part = paired[codes == code]
        customdata = np.column_stack([part["sample_id"], part["label"]])
        for position, ((x, y), (xaxis, yaxis)) in enumerate(zip(pairs, axes)):
            traces.append(dict(
                type="scattergl", x=part[x].to_numpy(), y=part[y].to_numpy(), xaxis=xaxis,
                yaxis=yaxis, mode="markers", name=f"{category} ({counts[category]})",
                legendgroup=category, showlegend=position == 0,
                marker=dict(color=CATEGORY_COLORS[category], size=5,
                            opacity=0.5 if code in (0, 3) else 0.85),
                customdata=customdata,
                hovertemplate=("sample %{customdata[0]} (class %{customdata[1]})<br>"
                               f"{titles[x]} %{{x:.3f}}<br>{titles[y]} %{{y:.3f}}"
                               f"<extra>{category}</extra>")))
    layout.update(title={"text": f"Change per sample from A = {label_a} to B = {label_b} (B − A)"},
                  dragmode="lasso", legend=dict(orientation="h", y=-0.25, yanchor="top"))
    layout["margin"]["b"] = 110
    return go.Figure(data=traces, layout=layout)


def parallel_coordinates(frame: pd.DataFrame, angles: np.ndarray, axes: Sequence[int],
                         class_names: Sequence[str], *, class_name: str, reference: str,
                         compared: str) -> go.Figure:
    """Parallel coordinates of one class's samples: the angle (degrees) to each class direction in
    ``axes`` (one shared range), then L2, margin and probability; reference benchmark grey,
    compared yellow. ``frame`` has benchmark_id and the metric columns, ``angles`` (rows, C) is
    aligned with it."""
    on_compared = (frame["benchmark_id"] == compared).to_numpy()
    # Parcoords lines are opaque and the compared (yellow) ones end up on top; where the grey
    # reference lines stick out is what changed. The densities below show the overlap itself.
    order = np.argsort(on_compared, kind="stable")
    shown = angles[np.ix_(order, np.asarray(axes, dtype=int))]
    finite = shown[np.isfinite(shown)]
    # One range for every angle axis (same unit): axes stay comparable without squashing the
    # data into a fixed 0–180°.
    angle_range = ([float(np.floor(finite.min())), float(np.ceil(finite.max()))] if finite.size
                   else [0.0, 180.0])
    dimensions = [dict(label=f"∠ {class_names[j]} (°)", values=shown[:, position],
                       range=angle_range) for position, j in enumerate(axes)]
    dimensions += [dict(label=label, values=frame[column].to_numpy()[order])
                   for column, label in _METRIC_AXES]
    fig = go.Figure(go.Parcoords(
        dimensions=dimensions, labelangle=-20 if len(dimensions) > 8 else 0,
        line=dict(color=on_compared[order].astype(int), cmin=0, cmax=1, showscale=False,
                  colorscale=[[0, REFERENCE_COLOR], [1, COMPARED_COLOR]])))
    fig.update_layout(
        title=(f"{class_name}: angles to class directions, L2, margin, probability — "
               f"<span style='color:{REFERENCE_COLOR}'>■ reference {reference}</span> vs "
               f"<span style='color:{COMPARED_COLOR}'>■ compared {compared}</span>"),
        height=520, margin=dict(t=130, l=60, r=60))
    return upright_axis_titles(fig)


def axis_densities(frame: pd.DataFrame, angles: np.ndarray, axes: Sequence[int],
                   class_names: Sequence[str], *, reference: str, compared: str,
                   bins: int = 30, columns: int = 5) -> go.Figure:
    """Small multiples, one per parallel-coordinate axis: the density (histogram normalised to
    unit area, drawn as a line) of the reference (grey) and compared (yellow) samples."""
    series = [(f"∠ {class_names[j]} (°)", angles[:, j]) for j in axes]
    series += [(label, frame[column].to_numpy(dtype=float)) for column, label in _METRIC_AXES]
    layout, panel_axes = _subplot_grid([label for label, _ in series], columns=columns,
                                       x_title=None, y_title="density", shared=False,
                                       row_px=200)
    on_compared = (frame["benchmark_id"] == compared).to_numpy()
    traces = []
    for position, ((label, values), (xaxis, yaxis)) in enumerate(zip(series, panel_axes)):
        finite = np.isfinite(values)
        if not finite.any():
            continue
        edges = np.histogram_bin_edges(values[finite], bins=bins)
        centers = (edges[:-1] + edges[1:]) / 2
        for is_compared, name, color in ((False, f"reference {reference}", REFERENCE_COLOR),
                                         (True, f"compared {compared}", COMPARED_COLOR)):
            chosen = values[finite & (on_compared == is_compared)]
            if chosen.size == 0:
                continue
            density, _ = np.histogram(chosen, bins=edges, density=True)
            traces.append(dict(
                type="scatter", x=centers, y=density, xaxis=xaxis, yaxis=yaxis, mode="lines",
                line=dict(color=color, width=2, shape="spline"), name=name, legendgroup=name,
                showlegend=position == 0,
                hovertemplate=f"{label} %{{x:.3f}}<br>density %{{y:.3f}}<extra>{name}</extra>"))
    layout.update(title={"text": "Density on each axis: reference vs compared"},
                  legend=dict(orientation="h", yanchor="bottom", x=1, xanchor="right",
                              y=1 + 45 / layout["height"]))
    return go.Figure(data=traces, layout=layout)
