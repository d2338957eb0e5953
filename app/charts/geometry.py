"""Pure Plotly figure builders of the Geometry page (data in, figure out; no Streamlit).

Per-sample scatters are SVG or WebGL by their point count (`scatter_type`) and carry the sample
id as the first element of each point's ``customdata``, so a selection maps back to samples.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from app.charts.labels import upright_axis_titles
from app.charts.selectable import SELECT_BY_CLICK
from app.charts.trace_types import scatter_type
from app.compare import CATEGORIES

__all__ = [
    "CORRECT_COLOR",
    "INCORRECT_COLOR",
    "CATEGORY_COLORS",
    "REFERENCE_COLOR",
    "COMPARED_COLOR",
    "class_accuracy",
    "locked_ranges",
    "model_panel_title",
    "class_panels",
    "class_distributions",
    "GROUP_COLORS",
    "MODEL_A_COLOR",
    "MODEL_B_COLOR",
    "comparison_scatter",
    "overlaid_scatter_matrix",
    "parallel_coordinates",
    "parcoords_columns",
]

CORRECT_COLOR = "#9e9e9e"
INCORRECT_COLOR = "#d62728"
CATEGORY_COLORS = dict(zip(CATEGORIES, ("#c7c7c7", "#d62728", "#2ca02c", "#3b3b3b")))
# Draw the two large categories first so the transitions stay on top.
_CATEGORY_DRAW_ORDER = (0, 3, 1, 2)
REFERENCE_COLOR = "#8c8c8c"
COMPARED_COLOR = "#f0b400"
# Models compared in the global view, in the order chosen.
GROUP_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c")
MODEL_A_COLOR, MODEL_B_COLOR = "#1f77b4", "#ff7f0e"
_LINE_ALPHA = 0.35  # parallel-coordinate lines: each group shows through the others
_DENSITY_WIDTH = 0.42  # widest density beside an axis, as a fraction of the gap between axes
# The three pairs of a scatter matrix of (angle, l2, margin), laid out as its lower triangle.
_MATRIX_PAIRS = (("angle", "l2"), ("angle", "margin"), ("l2", "margin"))
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
    kind = scatter_type(int(frame["label"].isin(classes).sum()))
    traces = []
    for position, (c, (xaxis, yaxis)) in enumerate(zip(classes, axes)):
        members = by_class.get_group(c) if counts[c] else frame.iloc[:0]
        for correct, name, color in ((True, "correct", CORRECT_COLOR),
                                     (False, "incorrect", INCORRECT_COLOR)):
            part = members[members["correct"] == correct]
            traces.append(dict(
                type=kind, x=part["angle"].to_numpy(), y=part["l2"].to_numpy(),
                xaxis=xaxis, yaxis=yaxis, mode="markers", name=name, legendgroup=name,
                showlegend=position == 0, marker=dict(color=color, size=5, opacity=0.7),
                customdata=np.column_stack([part["sample_id"], part["pred"], part["margin"],
                                            part["prob"]]),
                hovertemplate=("sample %{customdata[0]}<br>angle %{x:.1f}°<br>L2 %{y:.3f}"
                               "<br>predicted %{customdata[1]}<br>margin %{customdata[2]:.3f}"
                               "<br>prob %{customdata[3]:.3f}<extra>" + name + "</extra>")))
    layout.update(title={"text": title}, **SELECT_BY_CLICK,
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


def _scatter_matrix_layout(titles: dict[str, str], *, row_px: int = 260
                           ) -> tuple[dict, list[tuple[str, str]]]:
    """Layout of the lower triangle of a 3-variable scatter matrix: (x, y) = (angle, l2) top left,
    (angle, margin) bottom left, (l2, margin) bottom right; returns it with the three panels'
    (xaxis, yaxis) ids in `_MATRIX_PAIRS` order. The top-right cell stays empty."""
    layout, axes = _subplot_grid(["", "", "", ""], columns=2, x_title=None, y_title=None,
                                 shared=False, gap_x=0.14, row_px=row_px, top_px=90)
    layout["xaxis2"]["visible"] = layout["yaxis2"]["visible"] = False
    panels = [axes[0], axes[2], axes[3]]
    for (x, y), (xaxis, yaxis) in zip(_MATRIX_PAIRS, panels):
        layout[f"xaxis{xaxis[1:]}"]["title"]["text"] = titles[x]
        layout[f"yaxis{yaxis[1:]}"]["title"]["text"] = titles[y]
    # Columns share x (angle | l2) and rows share y (l2 | margin), as in a scatter matrix.
    layout["xaxis3"]["matches"] = "x"
    layout["yaxis4"]["matches"] = "y3"
    return layout, panels


def comparison_scatter(paired: pd.DataFrame, codes: np.ndarray, counts: pd.Series, *,
                       label_a: str, label_b: str) -> go.Figure:
    """Scatter matrix of Δangle, ΔL2 and Δmargin (B − A) per sample (lower triangle), one trace
    per transition category with its count in the legend: correct → wrong red, wrong → correct
    green. ``paired`` holds the columns of `paired_metrics`; ``codes`` (N,) are
    `transition_codes`, ``counts`` `count_transitions`."""
    titles = {"angle": "Δ angle to true class (°)", "l2": "Δ L2 norm", "margin": "Δ margin"}
    layout, panels = _scatter_matrix_layout(titles)
    kind = scatter_type(len(paired) * len(panels))
    traces = []
    for code in _CATEGORY_DRAW_ORDER:
        category = CATEGORIES[code]
        part = paired[codes == code]
        customdata = np.column_stack([part["sample_id"], part["label"]])
        for position, ((x, y), (xaxis, yaxis)) in enumerate(zip(_MATRIX_PAIRS, panels)):
            traces.append(dict(
                type=kind, x=part[f"d_{x}"].to_numpy(), y=part[f"d_{y}"].to_numpy(),
                xaxis=xaxis, yaxis=yaxis, mode="markers", name=f"{category} ({counts[category]})",
                legendgroup=category, showlegend=position == 0,
                marker=dict(color=CATEGORY_COLORS[category], size=5,
                            opacity=0.5 if code in (0, 3) else 0.85),
                customdata=customdata,
                hovertemplate=("sample %{customdata[0]} (class %{customdata[1]})<br>"
                               f"{titles[x]} %{{x:.3f}}<br>{titles[y]} %{{y:.3f}}"
                               f"<extra>{category}</extra>")))
    layout.update(title={"text": f"Change B − A per sample<br><sub>A = {label_a}, "
                                 f"B = {label_b}</sub>"},
                  **SELECT_BY_CLICK, legend=dict(x=0.57, y=1.0, xanchor="left", yanchor="top"))
    return go.Figure(data=traces, layout=layout)


def overlaid_scatter_matrix(paired: pd.DataFrame, *, label_a: str, label_b: str) -> go.Figure:
    """Scatter matrix of angle to the true class (°), L2 norm and margin (lower triangle) with
    the samples under A and under B overlaid in two colours: how the distribution shifts from A
    to B. ``paired`` holds the columns of `paired_metrics` (angle_a, angle_b, …)."""
    titles = {"angle": "angle to true class (°)", "l2": "L2 norm of features",
              "margin": "margin"}
    layout, panels = _scatter_matrix_layout(titles)
    customdata = np.column_stack([paired["sample_id"], paired["label"]])
    kind = scatter_type(2 * len(paired) * len(panels))
    traces = []
    for side, label, color in (("a", label_a, MODEL_A_COLOR), ("b", label_b, MODEL_B_COLOR)):
        name = f"{side.upper()}: {label}"
        for position, ((x, y), (xaxis, yaxis)) in enumerate(zip(_MATRIX_PAIRS, panels)):
            traces.append(dict(
                type=kind, x=paired[f"{x}_{side}"].to_numpy(),
                y=paired[f"{y}_{side}"].to_numpy(), xaxis=xaxis, yaxis=yaxis, mode="markers",
                name=name, legendgroup=side, showlegend=position == 0,
                marker=dict(color=color, size=5, opacity=0.55), customdata=customdata,
                hovertemplate=("sample %{customdata[0]}<br>"
                               f"{titles[x]} %{{x:.3f}}<br>{titles[y]} %{{y:.3f}}"
                               f"<extra>{side.upper()}</extra>")))
    layout.update(title={"text": f"A and B overlaid<br><sub>A = {label_a}, B = {label_b}</sub>"},
                  **SELECT_BY_CLICK, legend=dict(x=0.57, y=1.0, xanchor="left", yanchor="top"))
    return go.Figure(data=traces, layout=layout)


def parallel_coordinates(frame: pd.DataFrame, angles: np.ndarray, axes: Sequence[int],
                         class_names: Sequence[str], *, groups: Sequence[str],
                         group_labels: Sequence[str], colors: Sequence[str], title: str,
                         density_frame: pd.DataFrame | None = None,
                         density_angles: np.ndarray | None = None, bins: int = 24,
                         seed: int = 0, ranges: dict[str, list[float]] | None = None,
                         on_top: str | None = None) -> dict:
    """Parallel coordinates of one class's samples under several models or benchmarks (groups):
    the angle (degrees) to each class direction in ``axes`` (one shared range), then L2, margin
    and probability. One colour per group; lines are translucent and drawn in a shuffled order so
    no group hides another. Beside each axis, to its right, the density of every group's values
    on that axis (histogram normalised to unit area, drawn as a translucent outline).

    ``frame`` has a ``group`` column (values in ``groups``) and the metric columns; ``angles``
    (rows, C) is aligned with it. The densities use ``density_frame``/``density_angles`` when
    given (e.g. all samples, when ``frame`` is a sample of them). Dimension labels are unique
    (what brushing reports ranges by). ``ranges``: {label: [low, high]} to draw the axes with
    (e.g. `locked_ranges`, shared by several panels) instead of the data's own. ``on_top``: the
    group whose lines are drawn last, above the others where they overlap. Returns the figure as
    a plain dict ({"data", "layout"}): Plotly's validation of a hundred density shapes would
    cost more than building them.
    """
    if not len(groups) == len(group_labels) == len(colors):
        raise ValueError("`groups`, `group_labels` and `colors` must have the same length. Got "
                         f"{len(groups)}, {len(group_labels)} and {len(colors)} instead.")
    if density_frame is None:
        density_frame, density_angles = frame, angles
    axes = np.asarray(axes, dtype=int)
    code = {g: i for i, g in enumerate(groups)}
    order = np.random.default_rng(seed).permutation(len(frame))
    if on_top is not None:
        order = order[np.argsort(frame["group"].to_numpy()[order] == on_top, kind="stable")]
    columns = parcoords_columns(frame, angles, axes, class_names)
    density_columns = parcoords_columns(density_frame, density_angles, axes, class_names)
    ranges = {**_axis_ranges(density_columns, num_angles=len(axes)), **(ranges or {})}
    dimensions = [dict(label=label, values=values[order], range=ranges[label])
                  for label, values in columns.items()]
    codes = frame["group"].map(code).to_numpy(dtype=int)[order]
    top = max(len(groups) - 1, 1)
    colorscale = [[i / top, _rgba(color, _LINE_ALPHA)] for i, color in enumerate(colors)]
    if len(colors) == 1:
        colorscale.append([1.0, _rgba(colors[0], _LINE_ALPHA)])
    x_domain = [0.0, 0.93]  # room right of the last axis for its densities
    trace = dict(type="parcoords", domain=dict(x=x_domain, y=[0.0, 1.0]), dimensions=dimensions,
                 line=dict(color=codes, cmin=0, cmax=top, showscale=False,
                           colorscale=colorscale))
    shapes = _density_shapes(density_columns, density_frame["group"].to_numpy(), groups, colors,
                             ranges, x_domain=x_domain, bins=bins)
    legend = " ".join(f"<span style='color:{c}'>■ {label}</span>"
                      for label, c in zip(group_labels, colors))
    layout = dict(title=dict(text=f"{title}<br><sub>{legend}</sub>"), height=560,
                  margin=dict(t=140, l=60, r=40, b=40), shapes=shapes)
    return upright_axis_titles({"data": [trace], "layout": layout})


def parcoords_columns(frame: pd.DataFrame, angles: np.ndarray, axes: np.ndarray,
                       class_names: Sequence[str]) -> dict[str, np.ndarray]:
    """Values of every axis by its label: angles to the ``axes`` class directions, then metrics."""
    columns = {f"∠ {class_names[j]} (°)": angles[:, j] for j in axes}
    columns.update({label: frame[column].to_numpy(dtype=float)
                    for column, label in _METRIC_AXES})
    return columns


def _axis_ranges(columns: dict[str, np.ndarray], *, num_angles: int) -> dict[str, list[float]]:
    """[low, high] of every axis; the angle axes share one range (same unit, comparable) rounded
    out to whole degrees."""
    def span(values: np.ndarray) -> list[float]:
        finite = values[np.isfinite(values)]
        if not finite.size:
            return [0.0, 1.0]
        low, high = float(finite.min()), float(finite.max())
        return [low, high] if high > low else [low - 0.5, high + 0.5]

    labels = list(columns)
    angle_values = np.concatenate([columns[label] for label in labels[:num_angles]])
    low, high = span(angle_values)
    ranges = {label: [float(np.floor(low)), float(np.ceil(high))]
              for label in labels[:num_angles]}
    ranges.update({label: span(columns[label]) for label in labels[num_angles:]})
    return ranges


def locked_ranges(previous: dict[str, list[float]] | None,
                  columns: Sequence[dict[str, np.ndarray]], *, num_angles: int
                  ) -> dict[str, list[float]]:
    """Axis ranges shared by several panels (each a `parcoords_columns` dict with the same
    labels) and kept across redraws: the range of every panel's values together (`_axis_ranges`:
    the angle axes share one), widened to cover ``previous`` ranges of the same labels, so a
    range never shrinks while the same axes are shown."""
    if not columns:
        return dict(previous or {})
    joined = {label: np.concatenate([c[label] for c in columns]) for label in columns[0]}
    ranges = _axis_ranges(joined, num_angles=num_angles)
    for label, (low, high) in (previous or {}).items():
        if label in ranges:
            ranges[label] = [min(low, ranges[label][0]), max(high, ranges[label][1])]
    return ranges


def model_panel_title(name: str, class_name: str, reference: str, compared: str,
                      class_accuracy: tuple[float, float], accuracy: tuple[float, float]) -> str:
    """Title of one model's panel of the models × (reference vs compared) view: the model's
    (numbered) name, its accuracy on ``class_name`` and overall, on both benchmarks."""
    def pct(value: float) -> str:
        return "n/a" if not np.isfinite(value) else f"{100 * value:.1f} %"

    return (f"{name} — {class_name}: {pct(class_accuracy[0])} on {reference}, "
            f"{pct(class_accuracy[1])} on {compared}; overall {pct(accuracy[0])} → "
            f"{pct(accuracy[1])}")


def _density_shapes(columns: dict[str, np.ndarray], group_of_row: np.ndarray,
                    groups: Sequence[str], colors: Sequence[str],
                    ranges: dict[str, list[float]], *, x_domain: list[float], bins: int
                    ) -> list[dict]:
    """Two paths (fill, outline) per (axis, group): the group's density on that axis, drawn to
    the right of the axis in paper coordinates (Plotly spaces parcoords axes evenly across the trace's x
    domain and maps each axis's range onto the full plot height)."""
    labels = list(columns)
    gap = (x_domain[1] - x_domain[0]) / max(len(labels) - 1, 1)
    shapes = []
    for position, label in enumerate(labels):
        low, high = ranges[label]
        edges = np.linspace(low, high, bins + 1)
        centers = (np.concatenate([[low], (edges[:-1] + edges[1:]) / 2, [high]]) - low) / (
            high - low)
        values = columns[label]
        densities = []
        for group in groups:
            chosen = values[(group_of_row == group) & np.isfinite(values)]
            density = (np.histogram(chosen, bins=edges, density=True)[0] if chosen.size
                       else np.zeros(bins))
            densities.append(np.concatenate([[0.0], density, [0.0]]))
        peak = max(float(np.max(d)) for d in densities) or 1.0
        x_axis = x_domain[0] + position * gap
        for group, color, density in zip(groups, colors, densities):
            if not density.any():
                continue
            xs = x_axis + _DENSITY_WIDTH * gap * density / peak
            curve = "M" + " L".join(f"{x:.5f},{y:.5f}" for x, y in zip(xs, centers))
            common = dict(xref="paper", yref="paper", name=f"density {group} {label}",
                          layer="above")
            # A translucent fill closed along the axis, and the curve alone as its outline (an
            # outline of the closed shape would paint over the axis itself).
            shapes.append(dict(type="path", path=f"{curve} L{x_axis:.5f},{centers[-1]:.5f} "
                                                 f"L{x_axis:.5f},{centers[0]:.5f} Z",
                               fillcolor=_rgba(color, 0.18), line=dict(width=0), **common))
            shapes.append(dict(type="path", path=curve, line=dict(color=color, width=1.2),
                               **common))
    return shapes


def _rgba(color: str, alpha: float) -> str:
    """``#rrggbb`` with an opacity, as Plotly's ``rgba(r, g, b, a)``."""
    red, green, blue = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red}, {green}, {blue}, {alpha})"
