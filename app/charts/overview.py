"""Pure figure builders and selection logic of the Overview page (no Streamlit, no database).

- the evaluation table (R1): one Plotly figure, a grid of small bar charts of accuracy against
  pruning ratio — rows (arch, method, retrained), columns clean + corruptions — with the dense
  model as a reference line, selected bars highlighted, and gain/loss bars on a sample subset (R3);
- the geometric similarity view (R2): UMAP (and CKA) placements with a minimum spanning tree per
  benchmark;
- the insights: correlation heat maps, benchmark redundancy, curse of dimensionality, ROC curves
  of the vulnerable-sample finder, each with a one- or two-sentence reading of its numbers.

Accuracies arrive as fractions and are drawn in percent. Builders of large figures assemble plain
dicts and skip Plotly's per-property validation (the tests validate their output instead), and
the table draws one trace per row, its columns side by side on one x axis: a 20 × 27 grid of
separate subplots took over a second to build and serialise, this takes a few tens of ms.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from sklearn.metrics import roc_curve

from app.selection import highlight_mask, selected_customdata
from core.analysis import minimum_spanning_tree
from core.corruption_names import CATEGORY, CORRUPTIONS

__all__ = [
    "GAIN_COLOUR",
    "LOSS_COLOUR",
    "METHOD_COLOURS",
    "SELECTED_NAME",
    "WEBGL_THRESHOLD",
    "TABLE_BLOCK",
    "MAX_SCATTER_POINTS",
    "plotly_config",
    "method_colour",
    "row_label",
    "bar_key",
    "split_dense",
    "with_subset",
    "bar_highlight",
    "bar_selection",
    "evaluation_table_figure",
    "table_csv_frame",
    "point_selection",
    "sample_points",
    "mst_segments",
    "embedding_figure",
    "strength",
    "correlation_models",
    "correlation_figure",
    "correlation_reading",
    "redundancy_figure",
    "redundancy_reading",
    "dimension_figure",
    "dimension_reading",
    "roc_curves",
    "roc_figure",
    "roc_reading",
    "top_flagged",
]

METHOD_ORDER = ("dense", "random", "magnitude", "snip", "taylor2", "mpt")
# Green and red are kept for gain and loss, so no method is drawn in either.
METHOD_COLOURS = {"dense": "#222222", "random": "#8c8c8c", "magnitude": "#1f77b4",
                  "snip": "#ff7f0e", "taylor2": "#9467bd", "mpt": "#e377c2"}
_EXTRA_COLOURS = ("#8c564b", "#bcbd22", "#17becf", "#393b79", "#7b4173")
GAIN_COLOUR = "#2ca02c"
LOSS_COLOUR = "#d62728"
HIGHLIGHT_LINE = "#000000"
DIMMED_OPACITY = 0.3
# Width of one column block on the table's shared x axis: ratios 0–100 % plus a gap.
TABLE_BLOCK = 115
SELECTED_NAME = "selected models"
ARCH_SYMBOLS = ("circle", "square", "diamond", "triangle-up", "cross", "x", "pentagon", "star")
MST_DASHES = ("solid", "dot", "dash", "longdash", "dashdot")
# Above this many points a scatter is drawn with WebGL; above the cap it is sampled.
WEBGL_THRESHOLD = 1_500
MAX_SCATTER_POINTS = 20_000
_CATEGORY_ORDER = ("clean", "noise", "blur", "weather", "digital")
TARGET_LABELS = {"robustness": "robustness (correct on k corrupted sets)",
                 "pv": "PV (correct at k pruning ratios)",
                 "pie": "PIE (pruning-identified exemplar)",
                 "low_pv": "low PV (correct at ≤ half the ratios)"}
MEASURE_LABELS = {"accuracy_pearson": "Pearson r of accuracy",
                  "drop_pearson": "Pearson r of the accuracy drop from clean"}


def plotly_config(filename: str) -> dict:
    """Plotly toolbar settings: the camera button downloads a PNG named ``filename``."""
    return {"displaylogo": False,
            "toImageButtonOptions": {"format": "png", "filename": filename, "scale": 2}}


def method_colour(method: str) -> str:
    if method in METHOD_COLOURS:
        return METHOD_COLOURS[method]
    return _EXTRA_COLOURS[sum(map(ord, method)) % len(_EXTRA_COLOURS)]


def _method_rank(method: str) -> tuple[int, str]:
    return (METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER), method)


def _corruption_rank(corruption: str) -> tuple[int, int, str]:
    if corruption == "clean":
        return (0, 0, corruption)
    if corruption in CATEGORY:
        return (_CATEGORY_ORDER.index(CATEGORY[corruption]), CORRUPTIONS.index(corruption),
                corruption)
    return (len(_CATEGORY_ORDER), 0, corruption)


def row_label(arch: str, method: str, retrained: bool) -> str:
    return f"{arch} · {method} · {'retrained' if retrained else 'not retrained'}"


def bar_key(arch: str, method: str, retrained: bool, ratio: float, corruption: str) -> str:
    """The id a bar carries in its ``customdata`` (unique per bar of the table)."""
    return f"{arch}|{method}|{bool(retrained)}|{float(ratio):g}|{corruption}"


def _bar_keys(bars: pd.DataFrame) -> np.ndarray:
    return np.array([bar_key(*row) for row in bars[["arch", "method", "retrained", "ratio",
                                                    "corruption"]].itertuples(index=False)],
                    dtype=object)


def split_dense(bars: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(pruned bars, dense bars): dense models are the reference line, not a row."""
    is_dense = (bars["method"] == "dense").to_numpy()
    return bars[~is_dense].reset_index(drop=True), bars[is_dense].reset_index(drop=True)


def with_subset(bars: pd.DataFrame, subset: pd.DataFrame) -> pd.DataFrame:
    """Attach ``subset_accuracy`` (NaN where the subset has no result) and ``delta`` = subset −
    whole-test-set accuracy (fractions) to the bars."""
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


def bar_selection(event: Any, bars: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(model ids, benchmark ids) of the bars picked in a selection event of the table figure, in
    order of first appearance. Points without a known bar key (reference lines) are ignored."""
    keys = selected_customdata(event, position=0)
    if not keys:
        return [], []
    bars = bars.reset_index(drop=True)
    lookup = dict(zip(_bar_keys(bars), bars.index))
    models: dict[str, None] = {}
    benchmarks: dict[str, None] = {}
    for key in keys:
        if key in lookup:
            row = bars.loc[lookup[key]]
            models.update(dict.fromkeys(row["model_ids"]))
            benchmarks.update(dict.fromkeys(row["benchmark_ids"]))
    return list(models), list(benchmarks)


def _axis(kind: str, n: int) -> tuple[str, str]:
    """(trace reference, layout key) of axis number ``n`` (1-based) of ``kind`` 'x' or 'y'."""
    suffix = "" if n == 1 else str(n)
    return f"{kind}{suffix}", f"{kind}axis{suffix}"


def _row_template(row: str, subset: bool) -> str:
    """Hover text of a row's bars: the row lives in the template, per-bar values in customdata
    (see `evaluation_table_figure`)."""
    lines = [f"<b>{row}</b>", "%{customdata[6]} · ratio %{customdata[8]:.0f}%",
             "whole test set: %{customdata[1]:.1f}%"]
    if subset:
        lines.append("selected samples: %{customdata[2]:.1f}% (Δ %{customdata[3]:+.1f} pp)")
    lines += ["dense model: %{customdata[7]:.1f}%",
              "%{customdata[4]} model(s), %{customdata[5]} benchmark(s)"]
    return "<br>".join(lines) + "<extra></extra>"


def evaluation_table_figure(bars: pd.DataFrame, *, selected_models: Iterable[str] = (),
                            selected_benchmarks: Iterable[str] = (), title: str) -> go.Figure:
    """The evaluation table as one figure of small multiples.

    Args:
        bars: one row per bar — (arch, method, retrained, ratio, corruption, accuracy, model_ids,
            benchmark_ids), accuracy a fraction — as from ``queries.overview.accuracy_bars``,
            optionally with ``subset_accuracy`` / ``delta`` from `with_subset`: then the bars show
            the subset accuracy and a narrow green (gain) or red (loss) bar spans the difference
            from the whole-test-set accuracy. Dense rows become dashed reference lines.
        selected_models, selected_benchmarks: highlighted bars get a black outline, the others
            are dimmed (see `bar_highlight`).

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
    groups = list(zip(pruned["arch"], pruned["method"], pruned["retrained"].astype(bool)))
    rows = sorted(set(groups), key=lambda r: (r[0], _method_rank(r[1]), r[2]))
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
    customdata[:, 0] = _bar_keys(pruned)
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
        (xref, xkey), (yref, ykey) = _axis("x", r + 1), _axis("y", r + 1)
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
            type="bar", x=x[part].tolist(), y=_nullable(shown[part]), xaxis=xref, yaxis=yref,
            width=7, name=method, legendgroup=method, showlegend=method not in legend_shown,
            marker=dict(color=method_colour(method), opacity=opacity[part].tolist(),
                        line=dict(color=HIGHLIGHT_LINE, width=outline[part].tolist())),
            customdata=customdata[part],
            hovertemplate=_row_template(row_label(arch, method, retrained), subset)))
        legend_shown.add(method)
        if subset:
            data.append(dict(
                type="bar", x=x[part].tolist(), y=_nullable(delta[part]),
                base=whole[part].tolist(), xaxis=xref, yaxis=yref, width=3,
                name="Δ vs whole test set", legendgroup="delta", showlegend=False,
                marker=dict(color=np.where(delta[part] >= 0, GAIN_COLOUR, LOSS_COLOUR).tolist()),
                customdata=customdata[part],
                hovertemplate=_row_template(row_label(arch, method, retrained), subset)))
        levels = np.array([dense_acc.get((arch, c), np.nan) for c in columns], dtype=float)
        if np.isfinite(levels).any():
            starts_x = np.arange(n_cols) * TABLE_BLOCK
            line_x = np.column_stack([starts_x, starts_x + 100, np.full(n_cols, np.nan)])
            line_y = np.column_stack([levels, levels, np.full(n_cols, np.nan)]) * 100
            data.append(dict(
                type="scatter", x=_nullable(line_x.ravel()), y=_nullable(line_y.ravel()),
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
    annotations = [dict(text=corruption.replace("_", "<br>"), x=c * TABLE_BLOCK + 50, y=1,
                        xref="x", yref="paper", xanchor="center", yanchor="bottom",
                        showarrow=False, font=dict(size=10))
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
        shapes=shapes, annotations=annotations, hovermode="closest", dragmode="select",
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


# --------------------------------------------------------------------------- similarity view

def point_selection(event: Any) -> list[str]:
    """Model ids of the points picked in a selection event of the similarity figure."""
    return [str(m) for m in selected_customdata(event, position=0)]


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
        (xref, xkey), (yref, ykey) = _axis("x", n), _axis("y", n)
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
                type=kind, x=_nullable(xs.ravel()), y=_nullable(ys.ravel()), mode="lines",
                xaxis=xref, yaxis=yref, name=name, legendgroup=name,
                showlegend=name not in shown_legend, hoverinfo="skip",
                line=dict(color="#a0a0a0", width=1, dash=MST_DASHES[b % len(MST_DASHES)])))
            shown_legend.add(name)
        mask = highlight_mask(drawn["model_id"], selected)
        for method in sorted(set(drawn["method"]), key=_method_rank):
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


def _nullable(values: np.ndarray) -> list:
    """A float array as a list with NaN → None (gaps that break a Plotly line)."""
    return [None if np.isnan(v) else float(v) for v in values]


# --------------------------------------------------------------------------- insights

def strength(r: float) -> str:
    """Verbal strength of a correlation: strong (|r| ≥ 0.5), moderate (≥ 0.3), weak."""
    size = abs(r)
    return "strong" if size >= 0.5 else "moderate" if size >= 0.3 else "weak"


def _r(value: float) -> str:
    return f"{value:.2f}".replace("-", "−")


def correlation_models(available: Sequence[str], selected: Iterable[str], *, limit: int = 24
                       ) -> tuple[list[str], str | None]:
    """Models whose correlations the heat map shows: the selected ones that have correlations,
    else the first ``limit`` available (dense first); with a note when some are left out."""
    chosen = [m for m in available if m in set(selected)] or list(available)
    if len(chosen) <= limit:
        return chosen, None
    return chosen[:limit], (f"Showing {limit} of {len(chosen)} models; select models in the "
                            "table or the similarity view to choose which.")


def _ordered(values: Iterable[str], preferred: Sequence[str]) -> list[str]:
    values = list(dict.fromkeys(values))
    return ([v for v in preferred if v in values] + sorted(v for v in values
                                                          if v not in preferred))


def correlation_figure(corr: pd.DataFrame, model_ids: Sequence[str]) -> go.Figure:
    """Annotated heat maps of Pearson r, one per target (robustness, PV): rows = models, columns =
    clean-data metrics (angle, l2, margin)."""
    corr = corr[corr["model_id"].isin(model_ids)]
    targets = _ordered(corr["target"], ("robustness", "pv"))
    metrics = _ordered(corr["metric"], ("angle", "l2", "margin"))
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


def correlation_reading(corr: pd.DataFrame, model_ids: Sequence[str]) -> str:
    """One sentence per target from the mean Pearson r over the shown models, metrics ordered by
    the size of the correlation."""
    corr = corr[corr["model_id"].isin(model_ids)]
    means = corr.groupby(["target", "metric"])["pearson"].mean().dropna()
    sentences = []
    for target in _ordered(means.index.get_level_values("target"), ("robustness", "pv")):
        values = means.loc[target].sort_values(key=np.abs, ascending=False)
        parts = [f"{metric} at r = {_r(r)} ({strength(r)})" for metric, r in values.items()]
        name = "Robustness" if target == "robustness" else "PV" if target == "pv" else target
        sentences.append(f"{name} correlates with " + ", ".join(parts) + ".")
    n = corr["model_id"].nunique()
    scope = "the shown model" if n == 1 else f"the mean over {n} shown models"
    return (" ".join(sentences) + f" (Pearson r, {scope}.)") if sentences else ""


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


def redundancy_reading(similarity: pd.DataFrame, *, measure: str) -> str:
    rows = similarity[similarity["measure"] == measure].sort_values(
        ["rank", "similarity"], ascending=[True, False])
    if rows.empty:
        return ""
    pairs = [f"{a} ~ {b} (r = {_r(s)})" for a, b, s in
             rows[["corruption_a", "corruption_b", "similarity"]].head(2).itertuples(index=False)]
    last = rows.iloc[-1]
    high = int((rows["similarity"] >= 0.9).sum())
    return (f"Most redundant: {' and '.join(pairs)}; least alike: {last.corruption_a} ~ "
            f"{last.corruption_b} (r = {_r(last.similarity)}). {high} of {len(rows)} pairs have "
            "r ≥ 0.9 — one benchmark of such a pair adds little beyond the other.")


def dimension_figure(dims: pd.DataFrame) -> go.Figure:
    """Mean ± std angle (degrees) against feature dimension: a band for random Gaussian vectors,
    error bars for each trained model (angle of clean features to the true class direction)."""
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
    trained = dims[dims["kind"] == "trained"]
    if len(trained):
        fig.add_trace(go.Scatter(
            x=trained["dim"], y=trained["mean"], mode="markers",
            error_y=dict(type="data", array=trained["std"], thickness=1),
            name="trained models: angle to true class (mean ± std)",
            marker=dict(color=METHOD_COLOURS["magnitude"], size=8),
            customdata=np.column_stack([trained["model_id"].astype(str), trained["std"]]),
            hovertemplate=("%{customdata[0]}<br>d = %{x}<br>%{y:.1f}° ± %{customdata[1]:.1f}°"
                           "<extra>trained</extra>")))
    fig.update_layout(
        title=dict(text="Curse of dimensionality: angles concentrate near 90° as the dimension "
                        "grows", x=0, xanchor="left"),
        xaxis=dict(type="log", title=dict(text="feature dimension (count, log scale)")),
        yaxis=dict(title=dict(text="angle (degrees)"), range=[0, 180]),
        showlegend=True, legend=dict(orientation="h", y=-0.25), height=420,
        margin=dict(l=10, r=10, t=60, b=100))
    return fig


def dimension_reading(dims: pd.DataFrame) -> str:
    sentences = []
    random = dims[dims["kind"] == "random"].groupby("dim")[["mean", "std"]].mean().sort_index()
    if len(random):
        lo, hi = random.iloc[0], random.iloc[-1]
        sentences.append(
            f"Random directions: {lo['mean']:.1f}° ± {lo['std']:.1f}° at d = {random.index[0]}"
            + (f", narrowing to {hi['mean']:.1f}° ± {hi['std']:.1f}° at d = {random.index[-1]}."
               if len(random) > 1 else "."))
    trained = dims[dims["kind"] == "trained"]
    if len(trained):
        sentences.append(
            f"Trained models' clean features sit {trained['mean'].mean():.1f}° from their true "
            f"class direction on average (model means {trained['mean'].min():.1f}–"
            f"{trained['mean'].max():.1f}°, {len(trained)} models), well below the 90° of "
            "unrelated directions." if trained["mean"].mean() < 80 else
            f"Trained models' clean features sit {trained['mean'].mean():.1f}° from their true "
            f"class direction on average ({len(trained)} models) — close to the 90° of unrelated "
            "directions.")
    return " ".join(sentences)


def roc_curves(samples: pd.DataFrame) -> pd.DataFrame:
    """ROC curve of the geometric score (larger = more vulnerable) for each flag (``pie``,
    ``low_pv``) that has positives and negatives among the samples where it is known.

    Returns (target, fpr, tpr, threshold), fractions in [0, 1].
    """
    frames = []
    score = samples["geometric_score"].to_numpy(dtype=float, na_value=np.nan)
    for target in ("pie", "low_pv"):
        flag = samples[target]
        known = flag.notna().to_numpy() & np.isfinite(score)
        y = flag[known].to_numpy(dtype=bool)
        if y.all() or not y.any():
            continue
        fpr, tpr, thresholds = roc_curve(y, score[known])
        frames.append(pd.DataFrame({"target": target, "fpr": fpr, "tpr": tpr,
                                    "threshold": thresholds}))
    columns = ["target", "fpr", "tpr", "threshold"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def _geometric_auc(auc: pd.DataFrame, arch: str, target: str) -> float:
    row = auc[(auc["arch"] == arch) & (auc["target"] == target) & (auc["score"] == "geometric")]
    return float(row["auc"].iat[0]) if len(row) else np.nan


def roc_figure(curves: pd.DataFrame, auc: pd.DataFrame, *, arch: str) -> go.Figure:
    """ROC curves of the geometric score against PIE and low PV, AUCs from ``vulnerability_auc``
    in the legend, and the chance diagonal."""
    fig = go.Figure()
    colours = {"pie": METHOD_COLOURS["magnitude"], "low_pv": METHOD_COLOURS["snip"]}
    for target, curve in curves.groupby("target", sort=False):
        value = _geometric_auc(auc, arch, target)
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


def roc_reading(auc: pd.DataFrame, *, arch: str) -> str:
    rows = auc[auc["arch"] == arch].dropna(subset=["auc"])
    parts = []
    for target in ("pie", "low_pv"):
        value = _geometric_auc(rows, arch, target)
        if np.isfinite(value):
            row = rows[(rows["target"] == target) & (rows["score"] == "geometric")].iloc[0]
            name = "PIEs" if target == "pie" else "low-PV samples"
            parts.append(f"AUC {value:.2f} for {name} ({int(row.n_positive)} of {int(row.n)})")
    if not parts:
        return ""
    text = "The geometric score finds " + " and ".join(parts) + " (0.5 = chance)."
    best = rows[rows["target"] == "pie"].sort_values("auc", ascending=False).head(1)
    if len(best) and best["score"].iat[0] != "geometric":
        text += (f" For PIEs the single score {best['score'].iat[0]} does better "
                 f"(AUC {best['auc'].iat[0]:.2f}).")
    return text


def top_flagged(samples: pd.DataFrame, k: int) -> list[int]:
    """The ``k`` samples with the largest geometric score (ties: smaller sample id first)."""
    if k < 1:
        raise ValueError(f"`k` must be >= 1. Got {k} instead.")
    ranked = samples.dropna(subset=["geometric_score"]).sort_values(
        ["geometric_score", "sample_id"], ascending=[False, True])
    return [int(s) for s in ranked["sample_id"].head(k)]
