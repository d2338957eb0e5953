"""The geometric similarity view: a placement of every (model, benchmark) — stress placement of
the true geometry distances by default, UMAP or CKA on request — with coincident models drawn as
one marker and the minimum spanning tree of the true distances drawn on the placement."""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from app.charts.overview.numbering import (
    MAX_NUMBERED,
    benchmark_colours,
    method_symbol,
    numbered,
)
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
# Placements of the true geometry distances (the minimum spanning tree is drawn on these), by
# the Overview's placement choice: the shared one and the per-benchmark ones, not CKA.
GEOMETRY_SPACES = ("shared", "geometry", "geometry_umap")
# (panel title, axis name, axis unit) per `embeddings.space`.
PLACEMENT_LABELS = {
    "shared": ("shared stress placement of every benchmark's true geometry distances",
               "shared placement", "standardised distance units"),
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


def coincident_markers(points: pd.DataFrame, *, across_benchmarks: bool = False
                       ) -> pd.DataFrame:
    """One row per drawn marker: the models of a benchmark placed at exactly the same (x, y)
    share one (the placement gives coincident models the very same point, see
    docs/definitions.md); with ``across_benchmarks`` (the shared placement) so do results of
    different benchmarks at one point.

    Args:
        points: (model_id, benchmark_id, x, y, arch, method, ratio, retrained).

    Returns:
        The columns of ``points`` for the marker's first result (smallest (benchmark, model)),
        plus ``members`` (tuple of the sorted distinct model ids at that point), ``benchmarks``
        (tuple of its distinct benchmark ids, in order) and ``n_models`` (the number of results
        at the point), sorted by (benchmark_id, model_id).
    """
    ordered = points.sort_values(["benchmark_id", "model_id"], kind="stable",
                                 ignore_index=True)
    keys = ["x", "y"] if across_benchmarks else ["benchmark_id", "x", "y"]
    group = ordered.groupby(keys, sort=False, dropna=False).ngroup()
    grouped = ordered.groupby(group)
    members = grouped["model_id"].agg(lambda ids: tuple(sorted(set(ids))))
    benchmarks = grouped["benchmark_id"].agg(lambda ids: tuple(dict.fromkeys(ids)))
    is_first = ~group.duplicated()
    first = ordered[is_first].copy()
    first["members"] = members.loc[group[is_first]].to_numpy()
    first["benchmarks"] = benchmarks.loc[group[is_first]].to_numpy()
    first["n_models"] = grouped.size().loc[group[is_first]].to_numpy()
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


def placement_quality_line(quality: pd.DataFrame, *, space: str,
                           overall: pd.DataFrame | None = None) -> str:
    """One line on how faithful the shown placement is, from ``placement_quality`` rows.

    Args:
        quality: (benchmark_id, n_neighbors, trustworthiness, spearman) of the shown benchmarks
            in ``space`` (for the shared placement: each benchmark's points alone).
        overall: the shared placement's row over all its points (n_models = points), if any.

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
    if overall is not None and len(overall):
        row = overall.iloc[0]
        scope = " within each shown benchmark" if len(quality) > 1 else " within this benchmark"
        lead = (f"How faithful the {name} is: over all its {int(row['n_models']):,} points, "
                f"distances kept: ρ = {_rho(row['spearman'])} (sampled pairs), "
                f"{int(row['n_neighbors'])}-nearest neighbours kept: "
                f"{_share(row['trustworthiness'])}; ")
    else:
        lead = f"How faithful the {name} is{scope}: "
        scope = ""
    return (f"{lead}distances kept{scope}: ρ = "
            f"{_summary(quality['spearman'], _rho)}; {neighbours} neighbours kept: "
            f"{_summary(quality['trustworthiness'], _share)} (ρ: Spearman of drawn vs true "
            "distances; neighbours: trustworthiness).")


def _symbols(markers: pd.DataFrame, archs: Sequence[str]) -> list[str]:
    base = markers["arch"].map({a: ARCH_SYMBOLS[i % len(ARCH_SYMBOLS)]
                                for i, a in enumerate(archs)})
    return np.where(markers["retrained"].to_numpy(dtype=bool), base, base + "-open").tolist()


def _keys(markers: pd.DataFrame) -> list[list[str]]:
    """customdata of each marker: (member ids joined, benchmark ids joined)."""
    return [[MEMBER_SEPARATOR.join(m), MEMBER_SEPARATOR.join(b)]
            for m, b in zip(markers["members"], markers["benchmarks"])]


def _group_text(markers: pd.DataFrame, facts: pd.DataFrame, selected: set[str],
                numbers: Mapping[str, int]) -> list[str]:
    texts = []
    for members, benchmarks, n in zip(markers["members"], markers["benchmarks"],
                                      markers["n_models"]):
        lines = [f"{'● ' if m in selected else ''}{numbered(m, numbers)} "
                 f"({facts.at[m, 'method']}, {100 * facts.at[m, 'ratio']:.0f}%)"
                 for m in members[:_LISTED_MEMBERS]]
        if len(members) > _LISTED_MEMBERS:
            lines.append(f"… and {len(members) - _LISTED_MEMBERS} more")
        where = ", ".join(benchmarks[:_LISTED_MEMBERS]) + (" …" if len(benchmarks) >
                                                           _LISTED_MEMBERS else "")
        what = "models" if len(benchmarks) == 1 else "results (model, benchmark)"
        texts.append(f"<b>{n} coincident {what}</b> on {where}<br>" + "<br>".join(lines))
    return texts


def _tree_traces(segments: pd.DataFrame, kind: str, colours: Mapping[str, str] | None
                 ) -> list[dict]:
    """One line trace per benchmark's tree: in its benchmark's colour (``colours``), else grey
    with a dash per benchmark."""
    data = []
    for b, (benchmark, edges) in enumerate(segments.groupby("benchmark_id", sort=True)):
        xs = np.column_stack([edges["x0"], edges["x1"], np.full(len(edges), np.nan)])
        ys = np.column_stack([edges["y0"], edges["y1"], np.full(len(edges), np.nan)])
        line = (dict(color=colours[benchmark], width=1.5) if colours else
                dict(color="#a0a0a0", width=1, dash=MST_DASHES[b % len(MST_DASHES)]))
        data.append(dict(
            type=kind, x=nullable(xs.ravel().astype(float)), y=nullable(ys.ravel().astype(float)),
            mode="lines", name=f"MST · {benchmark}", hoverinfo="skip", line=line,
            legendgroup=f"benchmark {benchmark}" if colours else None, showlegend=not colours))
    return data


def _single_text(part: pd.DataFrame, numbers: Mapping[str, int]) -> list[str]:
    return [f"<b>{numbered(m, numbers)}</b><br>benchmark {b}<br>{a} · {method} · ratio "
            f"{100 * r:.0f}% · {'retrained' if t else 'not retrained'}"
            for m, b, a, method, r, t in part[["model_id", "benchmark_id", "arch", "method",
                                               "ratio", "retrained"]].itertuples(index=False)]


def _number_labels(part: pd.DataFrame, numbers: Mapping[str, int], show: bool) -> dict:
    if not show:
        return dict(mode="markers")
    return dict(mode="markers+text", text=[str(numbers.get(m, "")) for m in part["model_id"]],
                textposition="top right", textfont=dict(size=10, color="#222222"))


def _by_method(drawn, single, dim, kind, archs, numbers, show_numbers) -> list[dict]:
    data = []
    for method in sorted(set(drawn.loc[single, "method"]), key=method_rank):
        is_part = single & (drawn["method"] == method).to_numpy()
        part = drawn[is_part]
        data.append(dict(
            type=kind, x=part["x"].tolist(), y=part["y"].tolist(), name=method,
            legendgroup=method,
            marker=dict(color=method_colour(method), symbol=_symbols(part, archs),
                        size=(6 + 14 * part["ratio"].to_numpy(dtype=float)).tolist(),
                        opacity=dim[is_part].tolist(),
                        line=dict(width=1, color=method_colour(method))),
            customdata=_keys(part), hovertext=_single_text(part, numbers),
            hovertemplate="%{hovertext}<br>(%{x:.2f}, %{y:.2f})<extra></extra>",
            **_number_labels(part, numbers, show_numbers)))
    for i, arch in enumerate(archs):
        data.append(dict(type="scatter", x=[None], y=[None], mode="markers",
                         name=f"{arch} (open = not retrained)", hoverinfo="skip",
                         marker=dict(symbol=ARCH_SYMBOLS[i % len(ARCH_SYMBOLS)], color="#555555",
                                     size=9)))
    return data


def _by_benchmark(drawn, single, dim, kind, colours, numbers, show_numbers) -> list[dict]:
    """Colour = benchmark, symbol = method, size = ratio, black outline = retrained; legend:
    one entry per benchmark (its markers and its tree), then one grey symbol per method."""
    data = []
    for benchmark, colour in colours.items():
        is_part = single & (drawn["benchmark_id"] == benchmark).to_numpy()
        part = drawn[is_part]
        retrained = part["retrained"].to_numpy(dtype=bool)
        data.append(dict(
            type=kind, x=part["x"].tolist(), y=part["y"].tolist(), name=benchmark,
            legendgroup=f"benchmark {benchmark}",
            marker=dict(color=colour, symbol=[method_symbol(m) for m in part["method"]],
                        size=(7 + 14 * part["ratio"].to_numpy(dtype=float)).tolist(),
                        opacity=dim[is_part].tolist(),
                        line=dict(width=np.where(retrained, 2.0, 0.0).tolist(),
                                  color=HIGHLIGHT_LINE)),
            customdata=_keys(part), hovertext=_single_text(part, numbers),
            hovertemplate="%{hovertext}<br>(%{x:.2f}, %{y:.2f})<extra></extra>",
            **_number_labels(part, numbers, show_numbers)))
    for method in sorted(set(drawn["method"]), key=method_rank):
        data.append(dict(type="scatter", x=[None], y=[None], mode="markers",
                         name=f"{method}", legendgroup="methods", hoverinfo="skip",
                         legendgrouptitle=dict(text="symbol = method"),
                         marker=dict(symbol=method_symbol(method), color="#777777", size=9)))
    data.append(dict(type="scatter", x=[None], y=[None], mode="markers", hoverinfo="skip",
                     name="retrained (black outline)", legendgroup="methods",
                     marker=dict(symbol="circle", color="#777777", size=9,
                                 line=dict(width=2, color=HIGHLIGHT_LINE))))
    return data


def embedding_figure(points: pd.DataFrame, *, space: str = "geometry",
                     mst_edges: pd.DataFrame | None = None, selected_models: Iterable[str] = (),
                     max_points: int = MAX_SCATTER_POINTS, colour_by: str = "method",
                     numbers: Mapping[str, int] | None = None
                     ) -> tuple[go.Figure, str | None]:
    """Scatter of (model, benchmark) placements with the minimum spanning tree of the true
    geometry distances of each benchmark drawn on it.

    Encodings, by ``colour_by``:

    - ``"method"`` (one benchmark's own placement): colour = method, symbol = arch (open = not
      retrained), size = pruning ratio; grey trees, a dash per benchmark.
    - ``"benchmark"`` (the shared placement): colour = benchmark, symbol = method, size =
      pruning ratio, black outline = retrained; each tree in its benchmark's colour.
      Coincident results of different benchmarks share one marker.

    Models placed at the same point are one white marker labelled "×n" (size growing with n)
    whose tooltip lists them.

    Args:
        points: (model_id, benchmark_id, x, y, arch, method, ratio, retrained) in ``space``.
        space: an `embeddings.space` of `PLACEMENT_LABELS` (titles and axis units).
        mst_edges: (benchmark_id, model_a, model_b, distance), e.g. ``geometry_mst`` per
            benchmark; edges are drawn between the placed points of their models, on the
            placements of the geometry distances only (`GEOMETRY_SPACES`, not CKA).
        selected_models: markers holding one are ringed black (trace `SELECTED_NAME`); the rest
            is dimmed.
        max_points: cap on markers; above it markers are sampled (selected ones kept).
        numbers: {model_id: number} (`model_numbers`): in the tooltips, and beside each marker
            when at most `MAX_NUMBERED` models are numbered.

    Returns (figure, note): note says how many markers were drawn when some were left out.
    Every marker's ``customdata`` is (its model ids joined by `MEMBER_SEPARATOR`, its benchmark
    ids joined the same way): `marker_models` turns selected markers back into model ids.
    """
    if colour_by not in ("method", "benchmark"):
        raise ValueError(f"`colour_by` must be 'method' or 'benchmark'. Got {colour_by!r} "
                         "instead.")
    numbers = dict(numbers or {})
    by_benchmark = colour_by == "benchmark"
    selected = set(selected_models)
    title, axis, unit = PLACEMENT_LABELS.get(space, (space, space, "arbitrary units"))
    markers = coincident_markers(points, across_benchmarks=by_benchmark)
    facts = points.drop_duplicates("model_id").set_index("model_id")[["method", "ratio"]]
    holds_selected = np.fromiter((bool(selected.intersection(m)) for m in markers["members"]),
                                 dtype=bool, count=len(markers))
    drawn = sample_points(markers, max_points, keep=holds_selected)
    note = (f"Showing {len(drawn):,} of {len(markers):,} markers (random sample; selected models "
            "always shown)" if len(drawn) < len(markers) else None)
    chosen_mask = holds_selected[drawn.index.to_numpy()] if len(drawn) else np.zeros(0, bool)
    drawn = drawn.reset_index(drop=True)
    kind = scatter_type(len(drawn))
    colours = benchmark_colours(sorted(set(points["benchmark_id"]))) if by_benchmark else None
    # The tree is that of the geometry distances: drawn only on placements of those distances
    # (on the CKA placement its edges would join points placed by another measure).
    tree = mst_edges if mst_edges is not None and space in GEOMETRY_SPACES else pd.DataFrame()
    segments = mst_segments(points, tree)
    data: list[dict] = _tree_traces(segments, kind, colours)
    dim = np.where(chosen_mask | (not selected), 0.9, DIMMED_OPACITY)
    single = (drawn["n_models"] == 1).to_numpy()
    show_numbers = 0 < len(numbers) <= MAX_NUMBERED
    if by_benchmark:
        data += _by_benchmark(drawn, single, dim, kind, colours, numbers, show_numbers)
    else:
        data += _by_method(drawn, single, dim, kind, sorted(set(points["arch"])), numbers,
                           show_numbers)
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
            hovertext=_group_text(groups, facts, selected, numbers),
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
    drawn_tree = len(segments) > 0
    encoding = (f"colour = benchmark{' (its tree in its colour)' if drawn_tree else ''}, "
                "symbol = method, size = pruning ratio, black outline = retrained" if by_benchmark
                else "size = pruning ratio" + (", grey lines = minimum spanning tree of the true "
                                               "distances" if drawn_tree else ""))
    layout: dict[str, Any] = dict(
        title=dict(text=f"Geometric similarity: {title} — {encoding}", x=0, xanchor="left",
                   font=dict(size=14)),
        xaxis=dict(title=dict(text=f"{axis} 1 ({unit})"), zeroline=False),
        yaxis=dict(title=dict(text=f"{axis} 2 ({unit})"), zeroline=False),
        height=600, showlegend=True,
        legend=dict(title=dict(text="benchmark / method" if by_benchmark else
                               "method / structure"), groupclick="togglegroup"),
        **SELECT_BY_CLICK, hovermode="closest", plot_bgcolor="white",
        margin=dict(l=60, r=20, t=60, b=60))
    if space in ("geometry", "shared"):
        # Stress placements: one unit on x is one unit on y, so drawn distances read true.
        layout["yaxis"]["scaleanchor"] = "x"
    return go.Figure(dict(data=data, layout=layout), _validate=False), note
