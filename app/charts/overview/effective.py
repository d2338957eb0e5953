"""Effective robustness on the Overview: corrupted against clean accuracy on logit axes with
the population's fit or one per architecture (the refit is computed in the query layer,
`app.queries.overview.effective_robustness_per_arch`), and its reading."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from app.charts.overview._shared import method_colour, method_rank, ordered

__all__ = ["effective_robustness_figure", "effective_robustness_reading",
           "fits_per_arch_by_default", "method_label"]

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
