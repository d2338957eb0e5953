"""Benchmark redundancy on the Overview: the corruption pairs most alike by accuracy and by
geometry, and the pairs redundant by both (their prose is in `readings`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from app.charts.overview._shared import MEASURE_LABELS, METHOD_COLOURS

__all__ = ["GEOMETRY_MEASURE", "DEFAULT_REDUNDANCY_MEASURE", "REDUNDANT_TOP_K",
           "redundant_by_both", "redundancy_figure"]

GEOMETRY_MEASURE = "geometry_distance"
# The accuracy measure the redundancy tab shows first: the only one not saturated near 1.
DEFAULT_REDUNDANCY_MEASURE = "drop_spearman"
_GEOMETRY_LABEL = "normalised geometry distance"
# A pair is redundant by both measures when it is among the k most redundant pairs of each
# ranking, k = this or a quarter of the pairs ranked by both, whichever is smaller (so that with
# few pairs "top k" does not take in most of them).
REDUNDANT_TOP_K = 10
_BOTH_COLOUR = METHOD_COLOURS["snip"]
# The bars of each panel have their own colour, so the legend's three swatches differ.
_ACCURACY_COLOUR = METHOD_COLOURS["magnitude"]
_GEOMETRY_COLOUR = METHOD_COLOURS["taylor2"]


def _ranked(similarity: pd.DataFrame, measure: str) -> pd.DataFrame:
    """Rows of ``measure``, most redundant first: by stored rank (1 = most redundant), ties by
    the value (larger similarity, or smaller geometry distance, first)."""
    rows = similarity[similarity["measure"] == measure]
    return rows.sort_values(["rank", "similarity"],
                            ascending=[True, measure == GEOMETRY_MEASURE])


def _pair_keys(rows: pd.DataFrame) -> list[tuple[str, str]]:
    return [tuple(sorted(p)) for p in zip(rows["corruption_a"], rows["corruption_b"])]


def redundant_by_both(similarity: pd.DataFrame, *, measure: str,
                      top_k: int = REDUNDANT_TOP_K) -> tuple[pd.DataFrame, int]:
    """Corruption pairs redundant both by accuracy (``measure``) and by geometry.

    Rule: among the pairs that both measures rank, a pair is redundant by both when it is in
    the k most redundant of the ``measure`` ranking (largest similarity) and of the
    `GEOMETRY_MEASURE` ranking (smallest normalised distance), k = min(``top_k``, max(1,
    n_pairs // 4)).

    Returns:
        (pairs, k): pairs is (corruption_a, corruption_b, similarity, distance, rank_accuracy,
        rank_geometry) with corruption_a < corruption_b and the ranks 1-based within the pairs
        ranked by both, ordered by the worse of the two ranks; empty when either measure is
        missing.
    """
    if top_k < 1:
        raise ValueError(f"`top_k` must be >= 1. Got {top_k} instead.")
    columns = ["corruption_a", "corruption_b", "similarity", "distance", "rank_accuracy",
               "rank_geometry"]
    tables = []
    for name, value in ((measure, "similarity"), (GEOMETRY_MEASURE, "distance")):
        rows = _ranked(similarity, name)
        pairs = pd.DataFrame(_pair_keys(rows), columns=["corruption_a", "corruption_b"])
        tables.append(pairs.assign(**{value: rows["similarity"].to_numpy()})
                      .drop_duplicates(["corruption_a", "corruption_b"]))
    both = tables[0].merge(tables[1], on=["corruption_a", "corruption_b"])
    if both.empty:
        return pd.DataFrame(columns=columns), 0
    # `both` keeps the order of the accuracy ranking; rank again within the common pairs.
    both["rank_accuracy"] = np.arange(1, len(both) + 1)
    geometry_order = tables[1].merge(both[["corruption_a", "corruption_b"]])
    both = both.merge(geometry_order.assign(rank_geometry=np.arange(1, len(both) + 1))[
        ["corruption_a", "corruption_b", "rank_geometry"]])
    k = min(top_k, max(1, len(both) // 4))
    chosen = both[(both["rank_accuracy"] <= k) & (both["rank_geometry"] <= k)]
    worst = np.maximum(chosen["rank_accuracy"], chosen["rank_geometry"])
    chosen = chosen.assign(_worst=worst).sort_values(["_worst", "rank_accuracy"])
    return chosen[columns].reset_index(drop=True), k


def _legend_swatch(name: str, colour: str) -> dict:
    """A bar trace with no data: one legend entry of one colour (the data traces colour their
    bars one by one, and a legend would show the first bar's colour)."""
    return dict(type="bar", x=[None], y=[None], name=name, marker=dict(color=colour),
                hoverinfo="skip", showlegend=True)


def _ranked_bars(rows: pd.DataFrame, *, label: str, highlighted: set, axis: int,
                 colour: str) -> dict:
    labels = [f"{a} ~ {b}" for a, b in _pair_keys(rows)]
    suffix = "" if axis == 1 else str(axis)
    return dict(
        type="bar", x=rows["similarity"].tolist(), y=labels, orientation="h", name=label,
        xaxis=f"x{suffix}", yaxis=f"y{suffix}", showlegend=False,
        marker=dict(color=[_BOTH_COLOUR if p in highlighted else colour
                           for p in _pair_keys(rows)]),
        customdata=rows["rank"].tolist(), text=[f"{s:.2f}" for s in rows["similarity"]],
        textposition="inside",
        hovertemplate="%{y}<br>rank %{customdata}: %{x:.3f}<extra>" + label + "</extra>")


def redundancy_figure(similarity: pd.DataFrame, *, measure: str, top: int = 15,
                      top_k: int = REDUNDANT_TOP_K) -> go.Figure:
    """Horizontal bars of the ``top`` most redundant corruption pairs under ``measure`` and,
    beside them when the table has it, under the geometry distance (shortest first); pairs
    redundant by both (`redundant_by_both` with ``top_k``) are drawn orange in both panels."""
    rows = _ranked(similarity, measure).head(top)
    geometry = _ranked(similarity, GEOMETRY_MEASURE).head(top)
    with_geometry = measure != GEOMETRY_MEASURE and len(geometry) > 0
    both = (set(_pair_keys(redundant_by_both(similarity, measure=measure, top_k=top_k)[0]))
            if with_geometry else set())
    label = MEASURE_LABELS.get(measure, measure)
    data = [_ranked_bars(rows, label=label, highlighted=both, axis=1, colour=_ACCURACY_COLOUR),
            _legend_swatch(label, _ACCURACY_COLOUR)]
    n_rows = len(rows) + (len(geometry) if with_geometry else 0)
    # With geometry the panels are stacked (accuracy on top), each as tall as its bars.
    split = len(geometry) / n_rows if with_geometry and n_rows else 0.0
    gap = 0.12 if with_geometry else 0.0
    layout = dict(
        xaxis=dict(anchor="y", title=dict(text=f"{label}, across models (unitless)"
                                          if measure == DEFAULT_REDUNDANCY_MEASURE else
                                          f"{label} across models × severities (unitless)"),
                   range=[min(0.0, float(rows["similarity"].min())) if len(rows) else 0, 1]),
        yaxis=dict(domain=[min(split + gap / 2, 1.0), 1], anchor="x",
                   title=dict(text="corruption pair"), autorange="reversed", automargin=True))
    if with_geometry:
        data.append(_ranked_bars(geometry, label=_GEOMETRY_LABEL, highlighted=both, axis=2,
                                 colour=_GEOMETRY_COLOUR))
        data.append(_legend_swatch(_GEOMETRY_LABEL, _GEOMETRY_COLOUR))
        layout.update(
            xaxis2=dict(anchor="y2", range=[0, max(1.0, float(geometry["similarity"].max()))],
                        title=dict(text=f"{_GEOMETRY_LABEL} across models × severities "
                                        "(0 = same geometry, 1 = as far as unrelated results)")),
            yaxis2=dict(domain=[0, max(split - gap / 2, 0.0)], anchor="x2",
                        title=dict(text="corruption pair"), autorange="reversed",
                        automargin=True))
        data.append(_legend_swatch("redundant by both", _BOTH_COLOUR))
    title = f"Most redundant corruption pairs (top {len(rows)}, rank 1 = most similar)"
    if with_geometry:
        title = ("Most redundant corruption pairs by accuracy (top, rank 1 = most similar) and by "
                 "geometry (bottom, rank 1 = shortest distance)")
    layout.update(
        title=dict(text=title, x=0, xanchor="left"), showlegend=True,
        legend=dict(orientation="h", y=-0.12 if with_geometry else -0.25),
        height=200 + 24 * n_rows + (100 if with_geometry else 0),
        margin=dict(l=10, r=10, t=60, b=90))
    return go.Figure(dict(data=data, layout=layout))
