"""The geometric similarity view: a placement of every (model, benchmark) — stress placement of
the true geometry distances by default, UMAP or CKA on request — with coincident models drawn as
one marker and the minimum spanning tree of the true distances drawn on the placement."""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from app.charts.overview._shared import (
    DIMMED_OPACITY,
    HIGHLIGHT_LINE,
    method_colour,
    method_rank,
    nullable,
)
from app.charts.selectable import SELECT_BY_CLICK
from app.charts.trace_types import WEBGL_THRESHOLD, scatter_type

__all__ = ["SELECTED_NAME", "COINCIDENT_NAME", "WEBGL_THRESHOLD", "MAX_SCATTER_POINTS",
           "PLACEMENT_LABELS", "MEMBER_SEPARATOR", "sample_points", "coincident_markers",
           "marker_models", "mst_segments", "placement_quality_line", "embedding_figure"]

SELECTED_NAME = "selected models"
COINCIDENT_NAME = "coincident models (×count)"
ARCH_SYMBOLS = ("circle", "square", "diamond", "triangle-up", "cross", "x", "pentagon", "star")
MST_DASHES = ("solid", "dot", "dash", "longdash", "dashdot")
# Above this many markers a scatter is sampled.
MAX_SCATTER_POINTS = 20_000
# Joins the model ids of one marker in its customdata (a newline cannot be part of a model id
# that names a file).
MEMBER_SEPARATOR = "\n"
# Tooltips list at most this many members of a coincident group.
_LISTED_MEMBERS = 12
# Placements of the true geometry distances (the minimum spanning tree is drawn on these).
GEOMETRY_SPACES = ("geometry", "geometry_umap")
# (panel title, axis name, axis unit) per `embeddings.space`.
PLACEMENT_LABELS = {
    "geometry": ("stress placement of the true geometry distances", "stress placement",
                 "standardised distance units"),
    "geometry_umap": ("UMAP of the true geometry distances", "UMAP", "arbitrary units"),
    "cka": ("placement by linear CKA of features", "CKA placement", "1 − CKA units"),
}


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


def coincident_markers(points: pd.DataFrame) -> pd.DataFrame:
    """One row per drawn marker: the models of a benchmark placed at exactly the same (x, y)
    share one (the placement gives coincident models the very same point, see
    docs/definitions.md).

    Args:
        points: (model_id, benchmark_id, x, y, arch, method, ratio, retrained).

    Returns:
        The columns of ``points`` for the marker's first model (smallest id), plus ``members``
        (tuple of the sorted model ids at that point) and ``n_models`` (their count), sorted by
        (benchmark_id, model_id).
    """
    ordered = points.sort_values(["benchmark_id", "model_id"], kind="stable",
                                 ignore_index=True)
    group = ordered.groupby(["benchmark_id", "x", "y"], sort=False, dropna=False).ngroup()
    members = ordered.groupby(group)["model_id"].agg(tuple)
    is_first = ~group.duplicated()
    first = ordered[is_first].copy()
    first["members"] = members.loc[group[is_first]].to_numpy()
    first["n_models"] = first["members"].map(len)
    return first.reset_index(drop=True)


def marker_models(keys: Iterable[str]) -> list[str]:
    """Model ids behind the selected markers' keys (a marker's customdata[0] joins the ids of
    its coincident models with `MEMBER_SEPARATOR`), in order of first appearance."""
    return list(dict.fromkeys(m for key in keys for m in str(key).split(MEMBER_SEPARATOR)))


def mst_segments(points: pd.DataFrame, edges: pd.DataFrame) -> pd.DataFrame:
    """Segments that draw minimum-spanning-tree edges on a placement.

    Args:
        points: the placement (model_id, benchmark_id, x, y).
        edges: (benchmark_id, model_a, model_b, distance) — trees computed in the real geometry
            space (``core.analysis.geometry_mst`` per benchmark).

    Returns:
        (benchmark_id, model_a, model_b, distance, x0, y0, x1, y1): one row per edge whose two
        models are placed, endpoints at their placed points; an edge between coincident models
        has zero drawn length.
    """
    where = points[["benchmark_id", "model_id", "x", "y"]]
    columns = ["benchmark_id", "model_a", "model_b", "distance", "x0", "y0", "x1", "y1"]
    if edges.empty or where.empty:
        return pd.DataFrame(columns=columns)
    out = edges.merge(where.rename(columns={"model_id": "model_a", "x": "x0", "y": "y0"}),
                      on=["benchmark_id", "model_a"]).merge(
        where.rename(columns={"model_id": "model_b", "x": "x1", "y": "y1"}),
        on=["benchmark_id", "model_b"])
    return out[columns].sort_values(["benchmark_id", "model_a", "model_b"], ignore_index=True)


def _share(value: float) -> str:
    return "n/a" if not np.isfinite(value) else f"{100 * value:.0f} %"


def _rho(value: float) -> str:
    return "n/a" if not np.isfinite(value) else f"{value:.2f}".replace("-", "−")


def _summary(values: pd.Series, fmt) -> str:
    """One value, or the median with the range over several benchmarks."""
    values = values.dropna().astype(float)
    if values.empty:
        return "n/a"
    if len(values) == 1:
        return fmt(values.iat[0])
    return f"{fmt(values.median())} (median; {fmt(values.min())}–{fmt(values.max())})"


def placement_quality_line(quality: pd.DataFrame, *, space: str) -> str:
    """One line on how faithful the shown placement is, from ``placement_quality`` rows.

    Args:
        quality: (benchmark_id, n_neighbors, trustworthiness, spearman) of the shown benchmarks
            in ``space``.

    Returns:
        "Distances kept: ρ = 0.93; 5-nearest neighbours kept: 91 %", with the median and range
        over several benchmarks, or a sentence saying that no quality was measured.
    """
    name = PLACEMENT_LABELS.get(space, (space,))[0]
    if quality.empty:
        return (f"No quality measured for the {name} (it is measured against the true geometry "
                "distances when the analysis step places the models).")
    k = quality["n_neighbors"].dropna()
    k = k[k > 0]
    neighbours = (f"{int(k.iat[0])}-nearest" if k.nunique() == 1 else
                  f"{int(k.min())}–{int(k.max())}-nearest" if len(k) else "nearest")
    scope = ("" if len(quality) == 1 else f" over {len(quality)} benchmarks")
    return (f"How faithful the {name} is{scope}: distances kept: ρ = "
            f"{_summary(quality['spearman'], _rho)}; {neighbours} neighbours kept: "
            f"{_summary(quality['trustworthiness'], _share)} (ρ: Spearman of drawn vs true "
            "distances; neighbours: trustworthiness).")


def _symbols(markers: pd.DataFrame, archs: Sequence[str]) -> list[str]:
    base = markers["arch"].map({a: ARCH_SYMBOLS[i % len(ARCH_SYMBOLS)]
                                for i, a in enumerate(archs)})
    return np.where(markers["retrained"].to_numpy(dtype=bool), base, base + "-open").tolist()


def _keys(markers: pd.DataFrame) -> list[list[str]]:
    """customdata of each marker: (member ids joined, benchmark_id)."""
    return [[MEMBER_SEPARATOR.join(m), b] for m, b in zip(markers["members"],
                                                          markers["benchmark_id"])]


def _group_text(markers: pd.DataFrame, facts: pd.DataFrame, selected: set[str]) -> list[str]:
    texts = []
    for members, benchmark in zip(markers["members"], markers["benchmark_id"]):
        lines = [f"{'● ' if m in selected else ''}{m} ({facts.at[m, 'method']}, "
                 f"{100 * facts.at[m, 'ratio']:.0f}%)" for m in members[:_LISTED_MEMBERS]]
        if len(members) > _LISTED_MEMBERS:
            lines.append(f"… and {len(members) - _LISTED_MEMBERS} more")
        texts.append(f"<b>{len(members)} coincident models</b> on {benchmark}<br>"
                     + "<br>".join(lines))
    return texts


def embedding_figure(points: pd.DataFrame, *, space: str = "geometry",
                     mst_edges: pd.DataFrame | None = None, selected_models: Iterable[str] = (),
                     max_points: int = MAX_SCATTER_POINTS) -> tuple[go.Figure, str | None]:
    """Scatter of (model, benchmark) placements: colour = method, symbol = arch (open = not
    retrained), size = pruning ratio; models placed at the same point are one white marker
    labelled "×n" (size growing with n) whose tooltip lists them; grey lines = the minimum
    spanning tree of the true geometry distances, one per benchmark.

    Args:
        points: (model_id, benchmark_id, x, y, arch, method, ratio, retrained) in ``space``.
        space: an `embeddings.space` of `PLACEMENT_LABELS` (titles and axis units).
        mst_edges: (benchmark_id, model_a, model_b, distance), e.g. ``geometry_mst`` per
            benchmark; edges are drawn between the placed points of their models, on the
            placements of the geometry distances only (`GEOMETRY_SPACES`, not CKA).
        selected_models: markers holding one are ringed black (trace `SELECTED_NAME`); the rest
            is dimmed.
        max_points: cap on markers; above it markers are sampled (selected ones kept).

    Returns (figure, note): note says how many markers were drawn when some were left out.
    Every marker's ``customdata`` is (its model ids joined by `MEMBER_SEPARATOR`, benchmark_id):
    `marker_models` turns selected markers back into model ids.
    """
    selected = set(selected_models)
    title, axis, unit = PLACEMENT_LABELS.get(space, (space, space, "arbitrary units"))
    markers = coincident_markers(points)
    facts = points.drop_duplicates("model_id").set_index("model_id")[["method", "ratio"]]
    holds_selected = np.fromiter((bool(selected.intersection(m)) for m in markers["members"]),
                                 dtype=bool, count=len(markers))
    drawn = sample_points(markers, max_points, keep=holds_selected)
    note = (f"Showing {len(drawn):,} of {len(markers):,} markers (random sample; selected models "
            "always shown)" if len(drawn) < len(markers) else None)
    chosen_mask = holds_selected[drawn.index.to_numpy()] if len(drawn) else np.zeros(0, bool)
    drawn = drawn.reset_index(drop=True)
    kind = scatter_type(len(drawn))
    archs = sorted(set(points["arch"]))
    data: list[dict] = []
    # The tree is that of the geometry distances: drawn only on placements of those distances
    # (on the CKA placement its edges would join points placed by another measure).
    tree = mst_edges if mst_edges is not None and space in GEOMETRY_SPACES else pd.DataFrame()
    segments = mst_segments(points, tree)
    for b, (benchmark, edges) in enumerate(segments.groupby("benchmark_id", sort=True)):
        xs = np.column_stack([edges["x0"], edges["x1"], np.full(len(edges), np.nan)])
        ys = np.column_stack([edges["y0"], edges["y1"], np.full(len(edges), np.nan)])
        data.append(dict(
            type=kind, x=nullable(xs.ravel().astype(float)), y=nullable(ys.ravel().astype(float)),
            mode="lines", name=f"MST · {benchmark}", hoverinfo="skip",
            line=dict(color="#a0a0a0", width=1, dash=MST_DASHES[b % len(MST_DASHES)])))
    dim = np.where(chosen_mask | (not selected), 0.9, DIMMED_OPACITY)
    single = (drawn["n_models"] == 1).to_numpy()
    for method in sorted(set(drawn.loc[single, "method"]), key=method_rank):
        is_part = single & (drawn["method"] == method).to_numpy()
        part = drawn[is_part]
        data.append(dict(
            type=kind, x=part["x"].tolist(), y=part["y"].tolist(), mode="markers",
            name=method, legendgroup=method,
            marker=dict(color=method_colour(method), symbol=_symbols(part, archs),
                        size=(6 + 14 * part["ratio"].to_numpy(dtype=float)).tolist(),
                        opacity=dim[is_part].tolist(),
                        line=dict(width=1, color=method_colour(method))),
            customdata=_keys(part),
            text=[f"<b>{m}</b><br>benchmark {b}<br>{a} · ratio {100 * r:.0f}% · "
                  f"{'retrained' if t else 'not retrained'}"
                  for m, b, a, r, t in part[["model_id", "benchmark_id", "arch", "ratio",
                                             "retrained"]].itertuples(index=False)],
            hovertemplate="%{text}<br>(%{x:.2f}, %{y:.2f})<extra></extra>"))
    if (~single).any():
        groups = drawn[~single]
        counts = groups["n_models"].to_numpy(dtype=float)
        data.append(dict(
            type=kind, x=groups["x"].tolist(), y=groups["y"].tolist(), mode="markers+text",
            name=COINCIDENT_NAME,
            marker=dict(color="white", symbol="circle", size=(14 + 6 * np.log2(counts)).tolist(),
                        opacity=dim[~single].tolist(), line=dict(width=2, color="#444444")),
            text=[f"×{n}" for n in groups["n_models"]], textposition="middle center",
            textfont=dict(size=10, color="#222222"), customdata=_keys(groups),
            hovertext=_group_text(groups, facts, selected),
            hovertemplate="%{hovertext}<br>(%{x:.2f}, %{y:.2f})<extra></extra>"))
    chosen = drawn[chosen_mask]
    if len(chosen):
        counts = chosen["n_models"].to_numpy(dtype=float)
        data.append(dict(
            type=kind, x=chosen["x"].tolist(), y=chosen["y"].tolist(), mode="markers",
            name=SELECTED_NAME, hoverinfo="skip",
            marker=dict(symbol="circle-open", color=HIGHLIGHT_LINE,
                        size=np.where(counts > 1, 20 + 6 * np.log2(counts),
                                      14 + 14 * chosen["ratio"].to_numpy(dtype=float)).tolist(),
                        line=dict(width=2, color=HIGHLIGHT_LINE)),
            customdata=_keys(chosen)))
    for i, arch in enumerate(archs):
        data.append(dict(type="scatter", x=[None], y=[None], mode="markers",
                         name=f"{arch} (open = not retrained)", hoverinfo="skip",
                         marker=dict(symbol=ARCH_SYMBOLS[i % len(ARCH_SYMBOLS)], color="#555555",
                                     size=9)))
    layout: dict[str, Any] = dict(
        title=dict(text=f"Geometric similarity: {title} — size = pruning ratio"
                        + (", grey lines = minimum spanning tree of the true distances"
                           if len(segments) else ""), x=0, xanchor="left"),
        xaxis=dict(title=dict(text=f"{axis} 1 ({unit})"), zeroline=False),
        yaxis=dict(title=dict(text=f"{axis} 2 ({unit})"), zeroline=False),
        height=560, showlegend=True, legend=dict(title=dict(text="method / structure")),
        **SELECT_BY_CLICK, hovermode="closest", plot_bgcolor="white",
        margin=dict(l=60, r=20, t=60, b=60))
    if space == "geometry":
        # Stress placement: one unit on x is one unit on y, so drawn distances read true.
        layout["yaxis"]["scaleanchor"] = "x"
    return go.Figure(dict(data=data, layout=layout), _validate=False), note
