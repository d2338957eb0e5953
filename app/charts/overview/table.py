"""The evaluation table: one Plotly figure, a grid of small bar charts of accuracy against
pruning ratio — rows (arch, method, retrained), columns clean + corruptions — with the dense model
as a reference line, selected bars highlighted, and gain/loss bars on a sample subset.

Accuracies arrive as fractions and are drawn in percent. The figure is assembled as plain dicts
without Plotly's per-property validation (the tests validate its output instead), one trace per
row with the row's columns side by side on one x axis: a 20 × 27 grid of separate subplots took
over a second to build and serialise, this takes a few tens of ms.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from app.charts.overview._shared import (
    DIMMED_OPACITY,
    GAIN_COLOUR,
    HIGHLIGHT_LINE,
    LOSS_COLOUR,
    METHOD_COLOURS,
    axis_ref,
    method_colour,
    method_rank,
    nullable,
)
from app.charts.labels import column_label
from app.charts.selectable import SELECT_BY_CLICK
from app.selection import bar_keys
from core.corruption_names import CATEGORY, CORRUPTIONS

__all__ = ["TABLE_BLOCK", "row_label", "split_dense", "with_subset", "bar_highlight",
           "evaluation_table_figure", "evaluated_images", "table_csv_frame"]

# Width of one column block on the table's shared x axis: ratios 0–100 % plus a gap.
TABLE_BLOCK = 115
_CATEGORY_ORDER = ("clean", "noise", "blur", "weather", "digital")


def _corruption_rank(corruption: str) -> tuple[int, int, str]:
    if corruption == "clean":
        return (0, 0, corruption)
    if corruption in CATEGORY:
        return (_CATEGORY_ORDER.index(CATEGORY[corruption]), CORRUPTIONS.index(corruption),
                corruption)
    return (len(_CATEGORY_ORDER), 0, corruption)


def row_label(arch: str, method: str, retrained: bool) -> str:
    return f"{arch} · {method} · {'retrained' if retrained else 'not retrained'}"


def split_dense(bars: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(pruned bars, dense bars): dense models are the reference line, not a row."""
    is_dense = (bars["method"] == "dense").to_numpy()
    return bars[~is_dense].reset_index(drop=True), bars[is_dense].reset_index(drop=True)


def with_subset(bars: pd.DataFrame, subset: pd.DataFrame) -> pd.DataFrame:
    """Attach ``subset_accuracy`` (NaN where the subset has no result) and ``delta`` = subset −
    evaluation-subset accuracy (fractions) to the bars."""
    keys = ["arch", "method", "retrained", "ratio", "corruption"]
    merged = bars.merge(subset[[*keys, "subset_accuracy"]], on=keys, how="left")
    merged["delta"] = merged["subset_accuracy"] - merged["accuracy"]
    return merged


def _any_member(lists: pd.Series, chosen: set) -> np.ndarray:
    """Per row of a Series of id lists: does any id belong to ``chosen``?"""
    exploded = lists.explode()
    hit = exploded.isin(chosen).groupby(level=0).any()
    return hit.reindex(lists.index, fill_value=False).to_numpy(dtype=bool)


def bar_highlight(bars: pd.DataFrame, selected_models: Iterable[str],
                  selected_benchmarks: Iterable[str]) -> np.ndarray:
    """Boolean mask over ``bars``: a bar is highlighted when it stands for a selected model (or no
    model is selected) and for a selected benchmark (or no benchmark is selected); all False when
    nothing is selected."""
    models, benchmarks = set(selected_models), set(selected_benchmarks)
    if not models and not benchmarks:
        return np.zeros(len(bars), dtype=bool)
    bars = bars.reset_index(drop=True)
    model_hit = _any_member(bars["model_ids"], models) if models else np.ones(len(bars), bool)
    bench_hit = (_any_member(bars["benchmark_ids"], benchmarks) if benchmarks
                 else np.ones(len(bars), bool))
    return model_hit & bench_hit


def evaluated_images(n_images: int | None) -> str:
    """What the table's accuracy is measured on: "evaluation subset (N images)"; without N when
    ``n_images`` is unknown (None, NaN or not positive)."""
    if n_images is None or not np.isfinite(n_images) or n_images <= 0:
        return "evaluation subset"
    return f"evaluation subset ({int(n_images):,} images)"


def _row_template(row: str, subset: bool, whole: str) -> str:
    """Hover text of a row's bars: the row lives in the template, per-bar values in customdata
    (see `evaluation_table_figure`); ``whole`` names what the accuracy is measured on."""
    lines = [f"<b>{row}</b>", "%{customdata[6]} · ratio %{customdata[8]:.0f}%",
             f"{whole}: %{{customdata[1]:.1f}}%"]
    if subset:
        lines.append("selected samples: %{customdata[2]:.1f}% (Δ %{customdata[3]:+.1f} pp)")
    lines += ["dense model: %{customdata[7]:.1f}%",
              "%{customdata[4]} model(s), %{customdata[5]} benchmark(s)"]
    return "<br>".join(lines) + "<extra></extra>"


def evaluation_table_figure(bars: pd.DataFrame, *, selected_models: Iterable[str] = (),
                            selected_benchmarks: Iterable[str] = (), title: str,
                            n_images: int | None = None) -> go.Figure:
    """The evaluation table as one figure of small multiples.

    Args:
        bars: one row per bar — (arch, method, retrained, ratio, corruption, accuracy, model_ids,
            benchmark_ids), accuracy a fraction — as from ``queries.overview.accuracy_bars``,
            optionally with ``subset_accuracy`` / ``delta`` from `with_subset`: then the bars show
            the subset accuracy and a narrow green (gain) or red (loss) bar spans the difference
            from the evaluation-subset accuracy. Dense rows become dashed reference lines.
        selected_models, selected_benchmarks: highlighted bars get a black outline, the others
            are dimmed (see `bar_highlight`).
        n_images: the size of the evaluation subset the accuracies are measured on (tooltips
            name it), None when unknown.

    Returns one figure: a facet row per (arch, method, retrained), each with its own y axis
    (accuracy, %, all matched) over one shared x axis on which every column (clean, then the
    corruptions) is a block of width `TABLE_BLOCK` holding its pruning ratios (0–100 %), so a
    cell is (row, block) and a row is one trace, not one per cell. Each bar's ``customdata`` is
    (`bar_key`, whole %, shown %, Δ pp, n models, n benchmarks, corruption, dense %, ratio %).
    """
    pruned, dense = split_dense(bars)
    if pruned.empty:
        raise ValueError("`bars` must hold at least one pruned (non-dense) model. Got only "
                         "dense models instead.")
    subset = "subset_accuracy" in pruned.columns
    measured_on = evaluated_images(n_images)
    groups = list(zip(pruned["arch"], pruned["method"], pruned["retrained"].astype(bool)))
    rows = sorted(set(groups), key=lambda r: (r[0], method_rank(r[1]), r[2]))
    columns = sorted(set(bars["corruption"]), key=_corruption_rank)
    row_index = {r: i for i, r in enumerate(rows)}
    col_index = {c: i for i, c in enumerate(columns)}
    dense_acc = dense.groupby(["arch", "corruption"])[
        "subset_accuracy" if subset else "accuracy"].mean().to_dict()

    highlight = bar_highlight(pruned, selected_models, selected_benchmarks)
    any_selected = bool(highlight.any()) or bool(set(selected_models) | set(selected_benchmarks))
    r_of = np.array([row_index[g] for g in groups], dtype=int)
    c_of = pruned["corruption"].map(col_index).to_numpy(dtype=int)
    order = np.lexsort((pruned["ratio"].to_numpy(), c_of, r_of))
    # Per-bar arrays in drawing order; each row is a contiguous slice.
    r_of, c_of, highlight = r_of[order], c_of[order], highlight[order]
    pruned = pruned.iloc[order].reset_index(drop=True)
    whole = 100 * pruned["accuracy"].to_numpy(dtype=float)
    shown = 100 * pruned["subset_accuracy"].to_numpy(dtype=float) if subset else whole
    delta = shown - whole
    ratio = 100 * pruned["ratio"].to_numpy(dtype=float)
    x = np.round(c_of * TABLE_BLOCK + ratio, 6)
    opacity = np.where(highlight | (not any_selected), 1.0, DIMMED_OPACITY)
    outline = np.where(highlight, 1, 0)
    reference = np.array([dense_acc.get((a, c), np.nan) for a, c in
                          zip(pruned["arch"], pruned["corruption"])], dtype=float)
    customdata = np.empty((len(pruned), 9), dtype=object)
    customdata[:, 0] = bar_keys(pruned)
    customdata[:, 1] = np.round(whole, 2)
    customdata[:, 2] = np.round(shown, 2)
    customdata[:, 3] = np.round(delta, 2)
    customdata[:, 4] = pruned["model_ids"].map(len).to_numpy()
    customdata[:, 5] = pruned["benchmark_ids"].map(len).to_numpy()
    customdata[:, 6] = pruned["corruption"].to_numpy()
    customdata[:, 7] = np.round(100 * reference, 2)
    customdata[:, 8] = ratio
    customdata = _nullable_rows(customdata)

    n_rows, n_cols = len(rows), len(columns)
    row_px, top_px, bottom_px = 58, 120, 120
    plot_h = n_rows * row_px
    gap_y = 12 / plot_h
    tickvals = (np.arange(n_cols)[:, None] * TABLE_BLOCK + np.array([10, 50, 90])).ravel()
    layout: dict[str, Any] = {}
    data: list[dict] = []
    legend_shown: set[str] = set()
    starts = np.flatnonzero(np.r_[True, np.diff(r_of) != 0])
    for start, end in zip(starts, np.r_[starts[1:], len(pruned)]):
        r = int(r_of[start])
        arch, method, retrained = rows[r]
        (xref, xkey), (yref, ykey) = axis_ref("x", r + 1), axis_ref("y", r + 1)
        layout[xkey] = dict(anchor=yref, range=[-4, n_cols * TABLE_BLOCK - 6],
                            tickvals=tickvals.tolist(), ticktext=["10", "50", "90"] * n_cols,
                            showticklabels=r == n_rows - 1, showgrid=False, zeroline=False,
                            tickfont=dict(size=8), **({"matches": "x"} if r else {}))
        layout[ykey] = dict(domain=[1 - (r + 1) / n_rows + gap_y, 1 - r / n_rows],
                            anchor=xref, range=[0, 100], tickvals=[0, 50, 100],
                            gridcolor="#e6e6e6", zeroline=False, tickfont=dict(size=9),
                            **({"matches": "y"} if r else {}))
        part = slice(start, end)
        data.append(dict(
            type="bar", x=x[part].tolist(), y=nullable(shown[part]), xaxis=xref, yaxis=yref,
            width=7, name=method, legendgroup=method, showlegend=method not in legend_shown,
            marker=dict(color=method_colour(method), opacity=opacity[part].tolist(),
                        line=dict(color=HIGHLIGHT_LINE, width=outline[part].tolist())),
            customdata=customdata[part],
            hovertemplate=_row_template(row_label(arch, method, retrained), subset,
                                        measured_on)))
        legend_shown.add(method)
        if subset:
            data.append(dict(
                type="bar", x=x[part].tolist(), y=nullable(delta[part]),
                base=whole[part].tolist(), xaxis=xref, yaxis=yref, width=3,
                name=f"Δ vs {measured_on}", legendgroup="delta", showlegend=False,
                marker=dict(color=np.where(delta[part] >= 0, GAIN_COLOUR, LOSS_COLOUR).tolist()),
                customdata=customdata[part],
                hovertemplate=_row_template(row_label(arch, method, retrained), subset,
                                            measured_on)))
        levels = np.array([dense_acc.get((arch, c), np.nan) for c in columns], dtype=float)
        if np.isfinite(levels).any():
            starts_x = np.arange(n_cols) * TABLE_BLOCK
            line_x = np.column_stack([starts_x, starts_x + 100, np.full(n_cols, np.nan)])
            line_y = np.column_stack([levels, levels, np.full(n_cols, np.nan)]) * 100
            data.append(dict(
                type="scatter", x=nullable(line_x.ravel()), y=nullable(line_y.ravel()),
                mode="lines", xaxis=xref, yaxis=yref, name="dense model (reference)",
                legendgroup="dense", showlegend="dense" not in legend_shown, hoverinfo="skip",
                line=dict(color=METHOD_COLOURS["dense"], width=1, dash="dash")))
            legend_shown.add("dense")
    if subset:
        for name, colour in (("gain on selected samples", GAIN_COLOUR),
                             ("loss on selected samples", LOSS_COLOUR)):
            data.append(dict(type="bar", x=[None], y=[None], xaxis="x", yaxis="y", name=name,
                             marker=dict(color=colour), hoverinfo="skip", legendgroup="delta"))

    # Column blocks: a light band behind each, its name on top.
    shapes = [dict(type="rect", xref="x", yref="paper", x0=c * TABLE_BLOCK,
                   x1=c * TABLE_BLOCK + 100, y0=0, y1=1, layer="below", line=dict(width=0),
                   fillcolor="#f6f6f6") for c in range(n_cols)]
    # Upright, one line each: a column is ~20 px wide at 1,024 px, narrower than any name.
    annotations = [dict(text=column_label(corruption), textangle=-90, x=c * TABLE_BLOCK + 50,
                        y=1, xref="x", yref="paper", xanchor="center", yanchor="bottom",
                        showarrow=False, font=dict(size=10), hovertext=corruption)
                   for c, corruption in enumerate(columns)]
    annotations += [dict(text=f"{arch}<br>{method}<br>"
                              f"{'retrained' if retrained else 'not retrained'}",
                         x=1.005, y=1 - (r + 0.5) / n_rows, xref="paper", yref="paper",
                         xanchor="left", yanchor="middle", showarrow=False, align="left",
                         font=dict(size=9))
                    for r, (arch, method, retrained) in enumerate(rows)]
    annotations.append(dict(text="pruning ratio (% of weights removed), per column", x=0.5,
                            y=-28 / plot_h, xref="paper", yref="paper", yanchor="top",
                            showarrow=False, font=dict(size=12)))
    annotations.append(dict(text="accuracy (%)", x=-0.035, y=0.5, xref="paper", yref="paper",
                            textangle=-90, xanchor="right", showarrow=False, font=dict(size=12)))
    layout.update(
        title=dict(text=title, x=0, xanchor="left", y=1 - 12 / (plot_h + top_px + bottom_px),
                   yanchor="top"),
        height=plot_h + top_px + bottom_px, barmode="overlay", showlegend=True,
        margin=dict(l=70, r=120, t=top_px, b=bottom_px),
        legend=dict(orientation="h", x=0, xanchor="left", y=-56 / plot_h, yanchor="top",
                    title=dict(text="method ")),
        shapes=shapes, annotations=annotations, hovermode="closest", **SELECT_BY_CLICK,
        plot_bgcolor="white")
    return go.Figure(dict(data=data, layout=layout), _validate=False)


def _nullable_rows(values: np.ndarray) -> list[list]:
    """Rows of an object array as lists, NaN → None (JSON null)."""
    return [[None if isinstance(v, float) and np.isnan(v) else v for v in row]
            for row in values.tolist()]


def table_csv_frame(bars: pd.DataFrame) -> pd.DataFrame:
    """The table's numbers for download: one row per bar, ids joined by spaces."""
    out = bars.copy()
    out["model_ids"] = out["model_ids"].map(" ".join)
    out["benchmark_ids"] = out["benchmark_ids"].map(" ".join)
    return out
