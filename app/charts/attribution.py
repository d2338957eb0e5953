"""Pure figure builder of the attribution page: one row per model — the image, then the occlusion
maps of angle, L2, margin and probability, then the chosen gradient maps (Integrated Gradients,
Grad-CAM of angle, margin or probability) and optionally gradient saliency.

Colour: diverging RdBu centred at 0, blue = hiding the region increases the metric, red = it
decreases it. The gradient maps are shown negated (−IG, −Grad-CAM) so that their sign reads the
same: blue where the pixels' presence lowers the metric (removing them would raise it), red where
it raises the metric. Each column shares one symmetric colour range across the rows, so models
are compared on the same scale; its colour bar, under the column, is in the metric's unit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from app.services.attribution_types import GRADIENT_COLUMNS, GRADIENT_METHODS, AttributionRow
from core.attribution import OCCLUSION_METRICS

# (delta label for the colour bar, short unit shown after the unoccluded value)
METRIC_UNITS = {
    "angle": ("Δ angle (degrees)", "°"),
    "l2": ("Δ L2 (feature norm)", ""),
    "margin": ("Δ margin (distance)", ""),
    "prob": ("Δ prob (probability)", ""),
}
SALIENCY_TITLE = "|∂ prob / ∂ pixel|"
_SHORT = {"ig": "IG", "gradcam": "Grad-CAM"}
_ROW_HEIGHT = 230


def _class_name(index: int | None, class_names: list[str]) -> str:
    if index is None:
        return "?"
    return class_names[index] if 0 <= index < len(class_names) else str(index)


def row_label(row: AttributionRow, label: int, class_names: list[str]) -> str:
    """'model<br>pred: X ✓' (or ✗) — the row's title."""
    if row.pred is None:
        verdict = "pred: ?"
    else:
        mark = "✓" if row.pred == label else "✗"
        verdict = f"pred: {_class_name(row.pred, class_names)} {mark}"
    return f"<b>{row.model_id}</b><br>{verdict}"


def _value_title(metric: str, value: float) -> str:
    unit = METRIC_UNITS[metric][1]
    return f"{metric} = {value:.3g}{unit}" if np.isfinite(value) else f"{metric} = undefined"


def gradient_label(column: str) -> str:
    """'Integrated Gradients · angle' — the name of a gradient column."""
    method, metric = column.split(":")
    return f"{GRADIENT_METHODS[method]} · {metric}"


def _gradient_bar_title(column: str) -> str:
    method, metric = column.split(":")
    unit = {"angle": " (degrees)", "margin": " (distance)", "prob": " (probability)"}[metric]
    return f"−{_SHORT[method]} {metric}" + (unit if method == "ig" else "")


def _gradient_title(column: str, values: np.ndarray) -> str:
    """IG: the map's sum (≈ metric(baseline image) − metric(image)); Grad-CAM: its name."""
    method, metric = column.split(":")
    if method == "gradcam":
        return f"−Grad-CAM · {metric}"
    total = float(np.nansum(values))
    return f"−IG · {metric}: Σ = {total:.3g}{METRIC_UNITS[metric][1]}"


def _symmetric_range(arrays: list[np.ndarray]) -> float:
    finite = [np.nanmax(np.abs(a)) for a in arrays if np.isfinite(a).any()]
    largest = max(finite, default=0.0)
    return float(largest) if largest > 0 else 1e-12


def _rgb(image: np.ndarray) -> np.ndarray:
    return np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image[:, :, :3]


def attribution_grid(rows: list[AttributionRow], image: np.ndarray, label: int, *,
                     class_names: list[str], saliency: dict[str, np.ndarray] | None = None,
                     gradients: dict[str, dict[str, np.ndarray]] | None = None,
                     title: str = "") -> go.Figure:
    """The grid figure.

    Args:
        rows: one per model, each with the four OCCLUSION_METRICS maps (H, W).
        image: the sample, uint8 (H, W, C) with C = 1 or 3.
        label: its true class.
        class_names: names of the classes (index → name).
        saliency: model_id → (H, W) gradient saliency; adds a last column when given.
        gradients: model_id → {column id of `GRADIENT_COLUMNS` → (H, W) map, already negated
            (−IG, −Grad-CAM)}; the columns (the same for every row) follow the occlusion maps.
        title: figure title.
    """
    # Built as one dict (not make_subplots + update_*): Plotly's object updates cost about
    # 20 ms per subplot, far more than the maps themselves.
    metrics = list(OCCLUSION_METRICS)
    shown = gradients[rows[0].model_id] if gradients and rows else {}
    chosen = [c for c in GRADIENT_COLUMNS if c in shown]
    n_rows = len(rows)
    n_cols = 1 + len(metrics) + len(chosen) + (saliency is not None)
    columns = _domains(n_cols, gap=0.02)
    row_domains = _domains(n_rows, gap=0.12 / max(n_rows, 1))[::-1]  # first row on top
    colour_axis = {m: f"coloraxis{k + 2}" for k, m in enumerate(metrics + chosen)}
    ranges = {m: _symmetric_range([r.maps[m] for r in rows]) for m in metrics}
    ranges.update({c: _symmetric_range([gradients[r.model_id][c] for r in rows]) for c in chosen})
    rgb = _rgb(image)
    hover = "row %{y}, col %{x}<br>%{z:.3g}<extra>%{meta}</extra>"
    data, layout, titles = [], {}, []
    for r, row in enumerate(rows):
        cells = [(go.Image(z=rgb, meta=row.model_id, name=row.model_id,
                           hovertemplate="row %{y}, col %{x}<br>pixel %{z}<extra>%{meta}"
                                         "</extra>"), row_label(row, label, class_names))]
        cells += [(go.Heatmap(z=row.maps[m], coloraxis=colour_axis[m], name=f"{row.model_id} {m}",
                              meta=f"{row.model_id}: Δ {m}", hovertemplate=hover),
                   _value_title(m, row.base[m])) for m in metrics]
        cells += [(go.Heatmap(z=gradients[row.model_id][c], coloraxis=colour_axis[c],
                              name=f"{row.model_id} {c}", meta=f"{row.model_id}: −{c}",
                              hovertemplate=hover),
                   _gradient_title(c, gradients[row.model_id][c])) for c in chosen]
        if saliency is not None:
            cells.append((go.Heatmap(z=saliency[row.model_id], coloraxis="coloraxis",
                                     name=f"{row.model_id} saliency",
                                     meta=f"{row.model_id}: saliency", hovertemplate=hover),
                          SALIENCY_TITLE))
        for c, (trace, text) in enumerate(cells):
            k = r * n_cols + c + 1
            x, y = ("x", "y") if k == 1 else (f"x{k}", f"y{k}")
            trace.update(xaxis=x, yaxis=y)
            data.append(trace)
            bottom, left = r == n_rows - 1, c == 0
            layout[f"xaxis{k if k > 1 else ''}"] = dict(
                domain=columns[c], anchor=y, constrain="domain", showticklabels=bottom,
                ticks="outside" if bottom else "", showgrid=False, zeroline=False,
                title_text="column (px)" if bottom else None)
            layout[f"yaxis{k if k > 1 else ''}"] = dict(
                domain=row_domains[r], anchor=x, scaleanchor=x, constrain="domain",
                autorange="reversed", ticks="outside" if left else "", showgrid=False,
                zeroline=False,
                showticklabels=left, title_text="row (px)" if left else None)
            titles.append(dict(text=text, x=sum(columns[c]) / 2, y=row_domains[r][1],
                               xref="paper", yref="paper", xanchor="center", yanchor="bottom",
                               showarrow=False, font_size=12))
    titles_of = {m: METRIC_UNITS[m][0] for m in metrics}
    titles_of.update({c: _gradient_bar_title(c) for c in chosen})
    layout.update(_colour_axes(metrics + chosen, titles_of, colour_axis, ranges, columns,
                               saliency is not None))
    return go.Figure(data=data, layout=dict(
        layout, title=title, annotations=titles, height=_ROW_HEIGHT * n_rows + 170,
        margin=dict(l=50, r=20, t=90, b=110), showlegend=False))


def _domains(n: int, *, gap: float) -> list[tuple[float, float]]:
    """``n`` equal intervals of [0, 1] separated by ``gap``."""
    size = (1.0 - gap * (n - 1)) / n
    return [(i * (size + gap), i * (size + gap) + size) for i in range(n)]


def _colour_axes(metrics: list[str], bar_titles: dict, colour_axis: dict, ranges: dict,
                 columns: list[tuple[float, float]], with_saliency: bool) -> dict:
    """One colour axis per map column (and the saliency column), its bar under the column."""
    def bar(column: tuple[float, float], text: str, **ticks) -> dict:
        return dict(orientation="h", yref="container", y=0.0, yanchor="bottom", thickness=12,
                    nticks=3, tickformat="~.2g", tickangle=0,
                    x=sum(column) / 2, xanchor="center", len=(column[1] - column[0]) * 0.95,
                    title=dict(text=text, side="top"), **ticks)

    # Ticks at the range's ends: on a short bar, "nice" ticks of a range like ±7.3 are 0 alone.
    axes = {colour_axis[m]: dict(colorscale="RdBu", cmid=0.0, cmin=-ranges[m], cmax=ranges[m],
                                 colorbar=bar(columns[c], bar_titles[m],
                                              tickvals=[-ranges[m], 0.0, ranges[m]],
                                              ticktext=[f"{-ranges[m]:.2g}", "0",
                                                        f"{ranges[m]:.2g}"]))
            for c, m in enumerate(metrics, start=1)}
    if with_saliency:
        axes["coloraxis"] = dict(colorscale="Purples", cmin=0.0,
                                 colorbar=bar(columns[-1], SALIENCY_TITLE))
    return axes


def maps_frame(rows: list[AttributionRow], saliency: dict[str, np.ndarray] | None = None,
               gradients: dict[str, dict[str, np.ndarray]] | None = None) -> pd.DataFrame:
    """Long table for download: model_id, metric, row, col, value, base_value. Gradient maps
    appear as metric "ig:angle" …, with the values shown (negated), base_value NaN."""
    parts = []
    for r in rows:
        items = [(m, r.maps[m], r.base[m]) for m in OCCLUSION_METRICS]
        if gradients is not None:
            items += [(c, values, np.nan) for c, values in gradients[r.model_id].items()]
        if saliency is not None:
            items.append(("saliency", saliency[r.model_id], np.nan))
        for metric, values, base in items:
            h, w = values.shape
            rr, cc = np.divmod(np.arange(h * w), w)
            parts.append(pd.DataFrame({"model_id": r.model_id, "metric": metric, "row": rr,
                                       "col": cc, "value": values.reshape(-1),
                                       "base_value": base}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["model_id", "metric", "row", "col", "value", "base_value"])
