"""Figures of the Overview's insights: correlation heat maps, benchmark redundancy, curse of
dimensionality, the spread hypothesis, the ROC curves of the vulnerable-sample finder (their prose
is in `readings`), and effective robustness (figure and reading)."""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from app.charts.overview._shared import (
    MEASURE_LABELS,
    METHOD_COLOURS,
    TARGET_LABELS,
    geometric_auc,
    method_colour,
    method_rank,
    ordered,
)

__all__ = ["GEOMETRY_MEASURE", "REDUNDANT_TOP_K", "correlation_models", "correlation_figure",
           "redundant_by_both", "redundancy_figure", "dimension_figure", "SPREAD_LABELS",
           "spread_figure", "roc_figure", "top_flagged", "effective_robustness_figure",
           "effective_robustness_reading", "effective_robustness_per_arch",
           "fits_per_arch_by_default", "method_label"]

# Axis titles of the spread chart's statistics and targets, with their units.
SPREAD_LABELS = {
    "angle_spread": "angle spread: per-class std of the angle, mean over classes (degrees)",
    "l2_spread": "l2 spread: per-class std of ‖X‖, mean over classes (feature units)",
    "mean_angle": "mean angle to the true class direction (degrees)",
    "corrupted_accuracy": "mean accuracy on the corrupted benchmarks (fraction)",
    "drop": "accuracy drop from clean to corrupted (fraction)"}


def correlation_models(available: Sequence[str], selected: Iterable[str], *, limit: int = 24
                       ) -> tuple[list[str], str | None]:
    """Models whose correlations the heat map shows: the selected ones that have correlations,
    else the first ``limit`` available (dense first); with a note when some are left out."""
    chosen = [m for m in available if m in set(selected)] or list(available)
    if len(chosen) <= limit:
        return chosen, None
    return chosen[:limit], (f"Showing {limit} of {len(chosen)} models; select models in the "
                            "table or the similarity view to choose which.")


def correlation_figure(corr: pd.DataFrame, model_ids: Sequence[str]) -> go.Figure:
    """Annotated heat maps of Pearson r, one per target (robustness, PV): rows = models, columns =
    clean-data metrics (angle, l2, margin)."""
    corr = corr[corr["model_id"].isin(model_ids)]
    targets = ordered(corr["target"], ("robustness", "pv"))
    metrics = ordered(corr["metric"], ("angle", "l2", "margin"))
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


GEOMETRY_MEASURE = "geometry_distance"
_GEOMETRY_LABEL = "normalised geometry distance"
# A pair is redundant by both measures when it is among the k most redundant pairs of each
# ranking, k = this or a quarter of the pairs ranked by both, whichever is smaller (so that with
# few pairs "top k" does not take in most of them).
REDUNDANT_TOP_K = 10
_BOTH_COLOUR = METHOD_COLOURS["snip"]


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


def _ranked_bars(rows: pd.DataFrame, *, label: str, highlighted: set, axis: int) -> dict:
    labels = [f"{a} ~ {b}" for a, b in _pair_keys(rows)]
    suffix = "" if axis == 1 else str(axis)
    return dict(
        type="bar", x=rows["similarity"].tolist(), y=labels, orientation="h", name=label,
        xaxis=f"x{suffix}", yaxis=f"y{suffix}",
        marker=dict(color=[_BOTH_COLOUR if p in highlighted else METHOD_COLOURS["magnitude"]
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
    data = [_ranked_bars(rows, label=label, highlighted=both, axis=1)]
    n_rows = len(rows) + (len(geometry) if with_geometry else 0)
    # With geometry the panels are stacked (accuracy on top), each as tall as its bars.
    split = len(geometry) / n_rows if with_geometry and n_rows else 0.0
    gap = 0.12 if with_geometry else 0.0
    layout = dict(
        xaxis=dict(anchor="y", title=dict(text=f"{label} across models × severities (unitless)"),
                   range=[min(0.0, float(rows["similarity"].min())) if len(rows) else 0, 1]),
        yaxis=dict(domain=[min(split + gap / 2, 1.0), 1], anchor="x",
                   title=dict(text="corruption pair"), autorange="reversed", automargin=True))
    if with_geometry:
        data.append(_ranked_bars(geometry, label=_GEOMETRY_LABEL, highlighted=both, axis=2))
        layout.update(
            xaxis2=dict(anchor="y2", range=[0, max(1.0, float(geometry["similarity"].max()))],
                        title=dict(text=f"{_GEOMETRY_LABEL} across models × severities "
                                        "(0 = same geometry, 1 = as far as unrelated results)")),
            yaxis2=dict(domain=[0, max(split - gap / 2, 0.0)], anchor="x2",
                        title=dict(text="corruption pair"), autorange="reversed",
                        automargin=True))
        data.append(dict(type="bar", x=[None], y=[None], name="redundant by both",
                         marker=dict(color=_BOTH_COLOUR), hoverinfo="skip"))
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


# Colours of the networks of the dimension study.
_KIND_COLOURS = {"untrained": METHOD_COLOURS["taylor2"], "trained": METHOD_COLOURS["magnitude"]}
_KIND_NAMES = {"untrained": "untrained LeNet-5", "trained": "trained LeNet-5"}


def dimension_figure(dims: pd.DataFrame) -> go.Figure:
    """Mean ± std angle (degrees) against feature dimension (log axis): a band for random
    Gaussian vectors; for untrained and trained networks, the angle of clean features to their
    true class direction, with error bars (one point per network; a line through them when each
    width has one network, as in the dimension study)."""
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
    for kind in ("untrained", "trained"):
        rows = dims[dims["kind"] == kind].sort_values(["dim", "model_id"])
        if rows.empty:
            continue
        one_per_width = not rows["dim"].duplicated().any()
        fig.add_trace(go.Scatter(
            x=rows["dim"], y=rows["mean"], mode="lines+markers" if one_per_width else "markers",
            error_y=dict(type="data", array=rows["std"], thickness=1),
            name=f"{_KIND_NAMES[kind]}: angle to true class (mean ± std)",
            line=dict(color=_KIND_COLOURS[kind]), marker=dict(color=_KIND_COLOURS[kind], size=8),
            customdata=np.column_stack([rows["model_id"].astype(str), rows["std"]]),
            hovertemplate=("%{customdata[0]}<br>m = %{x}<br>%{y:.1f}° ± %{customdata[1]:.1f}°"
                           f"<extra>{kind}</extra>")))
    fig.update_layout(
        title=dict(text="Curse of dimensionality: angles concentrate near 90° as the dimension "
                        "grows", x=0, xanchor="left"),
        xaxis=dict(type="log", title=dict(text="feature dimension d = m (count, log scale)")),
        yaxis=dict(title=dict(text="angle (degrees)"), range=[0, 180]),
        showlegend=True, legend=dict(orientation="h", y=-0.25), height=440,
        margin=dict(l=10, r=10, t=60, b=110))
    return fig


def spread_figure(spread: pd.DataFrame, correlations: pd.DataFrame, *, stat: str,
                  target: str) -> go.Figure:
    """Scatter of one geometry statistic (x) against one robustness target (y), one point per
    model coloured by method; the title gives the pooled and within-method correlations.

    ``spread``: (model_id, method, ratio, ``stat``, ``target``); ``correlations``: the frame of
    ``core.analysis.spread_correlations``.
    """
    fig = go.Figure()
    for method in sorted(spread["method"].dropna().unique(), key=method_rank):
        rows = spread[spread["method"] == method]
        fig.add_trace(go.Scatter(
            x=rows[stat], y=rows[target], mode="markers", name=method,
            marker=dict(color=method_colour(method), size=9, line=dict(width=0.5,
                                                                         color="#ffffff")),
            customdata=np.column_stack([rows["model_id"].astype(str), rows["ratio"]]),
            hovertemplate=("%{customdata[0]} (ratio %{customdata[1]})<br>"
                           f"{stat} %{{x:.3f}}, {target} %{{y:.3f}}<extra>{method}</extra>")))
    pair = correlations[(correlations["stat"] == stat) & (correlations["target"] == target)]
    parts = []
    for scope, label in (("pooled", "all models"), ("within", "within methods")):
        row = pair[pair["scope"] == scope]
        if len(row) and np.isfinite(row["pearson"].iat[0]):
            parts.append(f"{label}: r = {row['pearson'].iat[0]:.2f}, "
                         f"ρ = {row['spearman'].iat[0]:.2f} (n = {int(row['n'].iat[0])})")
    fig.update_layout(
        title=dict(text="Spread hypothesis: clean geometry vs robustness"
                        + (f"<br><sup>{'; '.join(parts)}</sup>" if parts else ""),
                   x=0, xanchor="left"),
        xaxis=dict(title=dict(text=SPREAD_LABELS.get(stat, stat))),
        yaxis=dict(title=dict(text=SPREAD_LABELS.get(target, target))),
        showlegend=True, legend=dict(orientation="h", y=-0.25, title=dict(text="method")),
        height=460, margin=dict(l=10, r=10, t=80, b=110))
    return fig


def roc_figure(curves: pd.DataFrame, auc: pd.DataFrame, *, arch: str) -> go.Figure:
    """ROC curves of the geometric score against PIE and low PV, AUCs from ``vulnerability_auc``
    in the legend, and the chance diagonal."""
    fig = go.Figure()
    colours = {"pie": METHOD_COLOURS["magnitude"], "low_pv": METHOD_COLOURS["snip"]}
    for target, curve in curves.groupby("target", sort=False):
        value = geometric_auc(auc, arch, target)
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


def top_flagged(samples: pd.DataFrame, k: int) -> list[int]:
    """The ``k`` samples with the largest geometric score (ties: smaller sample id first)."""
    if k < 1:
        raise ValueError(f"`k` must be >= 1. Got {k} instead.")
    ranked = samples.dropna(subset=["geometric_score"]).sort_values(
        ["geometric_score", "sample_id"], ascending=[False, True])
    return [int(s) for s in ranked["sample_id"].head(k)]


# --------------------------------------------------------------------------- effective robustness

_ARCH_SYMBOLS = ("circle", "square", "diamond", "triangle-up", "cross", "x", "star",
                 "triangle-down", "pentagon", "hexagon", "star-triangle-up", "hourglass")
# Candidate accuracy ticks (percent) of the logit-scaled axes; those inside the data range show.
_PERCENT_TICKS = (1, 2, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 98, 99, 99.5, 99.9)


def _logit(p) -> np.ndarray:
    from core.analysis.effective import logit

    return logit(p)


def method_label(method: str, retrained: bool) -> str:
    """A pruning family as the effective-robustness chart names it (``magnitude + retrain``)."""
    return f"{method} + retrain" if bool(retrained) else method


def _logit_ticks(values: np.ndarray) -> tuple[list[float], list[str]]:
    low, high = float(np.nanmin(values)), float(np.nanmax(values))
    pad = 0.1 * max(high - low, 0.2)
    ticks = [t for t in _PERCENT_TICKS if low - pad <= _logit(t / 100) <= high + pad]
    return [float(_logit(t / 100)) for t in ticks], [f"{t:g} %" for t in ticks]


def effective_robustness_per_arch(effective: pd.DataFrame, *, min_models: int = 3
                                  ) -> pd.DataFrame:
    """``effective`` (rows of the ``effective_robustness`` table with ``arch`` and the models'
    other labels, which are kept) refitted within each architecture
    (:func:`core.analysis.effective.effective_robustness_within`), with a ``group`` column (the
    arch). Architectures of fewer than ``min_models`` models have NaN effective robustness."""
    from core.analysis.effective import EFFECTIVE_COLUMNS, effective_robustness_within

    refit = effective_robustness_within(effective, effective["arch"], min_models=min_models)
    labels = effective.drop(columns=[c for c in EFFECTIVE_COLUMNS if c != "model_id"])
    return refit.merge(labels, on="model_id", how="left")


def fits_per_arch_by_default(effective: pd.DataFrame, *, min_models: int = 3) -> bool:
    """Whether the per-architecture fit is the fair default: two or more architectures have a
    population of their own (``min_models`` models or more)."""
    counts = effective["arch"].value_counts()
    return int((counts >= min_models).sum()) >= 2


def _fits(rows: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """(line name, its models) of each fit in ``rows``: one per group, or the population's."""
    if "group" not in rows:
        return [("population fit", rows)] if len(rows) else []
    return [(f"fit · {group}", part) for group, part in rows.groupby("group", sort=False)
            if np.isfinite(part["slope"].iloc[0])]


def effective_robustness_figure(effective: pd.DataFrame) -> go.Figure:
    """Mean corrupted accuracy against clean accuracy, both logit-scaled (tick labels in %), one
    marker per model coloured by pruning family and shaped by architecture, with the
    logit-linear fit: the population's, or, when ``effective`` has a ``group`` column
    (:func:`effective_robustness_per_arch`), one line per group over its models' range (models
    of groups without a fit are left out). ``effective``: rows of the ``effective_robustness``
    table with ``arch``, ``method`` and ``retrained``."""
    rows = effective.dropna(subset=["clean_accuracy", "corrupted_accuracy"])
    if "group" in rows:
        rows = rows.dropna(subset=["effective_robustness"])
    x, y = _logit(rows["clean_accuracy"]), _logit(rows["corrupted_accuracy"])
    rows = rows.assign(_x=x, _y=y, _family=[method_label(m, r) for m, r in
                                            zip(rows["method"], rows["retrained"])])
    archs = ordered(rows["arch"], ())
    fig = go.Figure()
    families = sorted(set(rows["_family"]), key=lambda f: (method_rank(f.split(" + ")[0]), f))
    for family in families:
        for k, arch in enumerate(archs):
            part = rows[(rows["_family"] == family) & (rows["arch"] == arch)]
            if part.empty:
                continue
            fig.add_trace(go.Scatter(
                x=part["_x"], y=part["_y"], mode="markers", name=f"{family} · {arch}",
                legendgroup=family,
                marker=dict(color=method_colour(family.split(" + ")[0]), size=9,
                            symbol=_ARCH_SYMBOLS[k % len(_ARCH_SYMBOLS)],
                            line=dict(width=1.5 if " + retrain" in family else 0,
                                      color="#000000")),
                customdata=np.column_stack([part["model_id"], 100 * part["clean_accuracy"],
                                            100 * part["corrupted_accuracy"],
                                            100 * part["effective_robustness"]]),
                hovertemplate=("%{customdata[0]}<br>clean %{customdata[1]:.1f} %, corrupted "
                               "%{customdata[2]:.1f} %<br>effective robustness "
                               "%{customdata[3]:+.1f} points<extra></extra>")))
    dashes = ("dash", "dot", "dashdot", "longdash")
    for k, (name, part) in enumerate(_fits(rows)):
        slope, intercept = part["slope"].iloc[0], part["intercept"].iloc[0]
        if not (np.isfinite(slope) and np.isfinite(intercept)):
            continue
        line_x = np.linspace(part["_x"].min(), part["_x"].max(), 2)
        fig.add_trace(go.Scatter(
            x=line_x, y=slope * line_x + intercept, mode="lines", name=name,
            line=dict(color="#000000", dash=dashes[k % len(dashes)], width=1.5),
            hoverinfo="skip"))
        # Named at its upper end too: with several fits the legend entry alone is far away.
        fig.add_annotation(x=line_x[-1], y=slope * line_x[-1] + intercept, text=name,
                           showarrow=False, xanchor="left", yanchor="middle", xshift=4,
                           font=dict(size=11, color="#000000"))
    xticks, xtext = _logit_ticks(x) if len(rows) else ([], [])
    yticks, ytext = _logit_ticks(y) if len(rows) else ([], [])
    fig.update_layout(
        title=dict(text="Corrupted vs clean accuracy (logit axes): above the fit line = more "
                        "robust than its clean accuracy predicts", x=0, xanchor="left"),
        xaxis=dict(title=dict(text="clean accuracy (logit scale)"), tickvals=xticks,
                   ticktext=xtext),
        yaxis=dict(title=dict(text="mean corrupted accuracy (logit scale)"), tickvals=yticks,
                   ticktext=ytext),
        height=520, margin=dict(l=10, r=10, t=60, b=10), legend=dict(title=dict(
            text="family · architecture")))
    return fig


def _signed(value: float, digits: int) -> str:
    return f"{value:+.{digits}f}".replace("-", "−")


def _family_lines(rows: pd.DataFrame) -> list[str]:
    families = rows.assign(family=[method_label(m, r) for m, r in
                                   zip(rows["method"], rows["retrained"])])
    means = families.groupby("family")["effective_robustness"].agg(["mean", "count"])
    lines = []
    for family, (mean, count) in means.sort_values("mean", ascending=False).iterrows():
        points = 100 * mean
        side = "above" if points >= 0 else "below"
        lines.append(f"- **{family}**: {_signed(points, 1)} points {side} the fit at equal clean "
                     f"accuracy ({int(count)} model{'s' if count != 1 else ''})")
    return lines


def _fit_equation(first: pd.Series) -> str:
    return (f"fit over {int(first['n_fit'])} models: logit(corrupted) = "
            f"{first['slope']:.2f} · logit(clean) {_signed(first['intercept'], 2)}.")


def effective_robustness_reading(effective: pd.DataFrame) -> str:
    """One line per pruning family, best first: its mean effective robustness in accuracy points
    ("mpt: +2.1 points above the fit at equal clean accuracy"), after the fit itself; with a
    ``group`` column, the same under each group's own fit."""
    rows = effective.dropna(subset=["effective_robustness"])
    if rows.empty:
        return ""
    if "group" not in rows:
        equation = _fit_equation(rows.iloc[0])
        return "\n".join([equation[0].upper() + equation[1:], *_family_lines(rows)])
    lines = []
    for group, part in rows.groupby("group", sort=False):
        # Blank lines around the heading: Markdown would otherwise continue the previous
        # group's last bullet with it (and read the bullets after it as its text).
        lines += ["", f"**{group}** — {_fit_equation(part.iloc[0])}", ""]
        lines += _family_lines(part)
    return "\n".join(lines[1:])
