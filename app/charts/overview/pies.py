"""The vulnerable-sample finder against Hooker et al.'s PIEs of a seed population: PIEs per
pruned population (a bar chart), the finder's AUCs as a table, and their reading."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from app import escape
from app.charts.overview._shared import METHOD_COLOURS

__all__ = ["PIE_SCORE_LABELS", "population_label", "pie_count_figure", "pie_auc_table",
           "pie_reading"]

PIE_SCORE_LABELS = {"geometric": "geometric score", "angle": "angle", "neg_margin": "−margin",
                    "neg_l2": "−l2"}
_RETRAINED_COLOURS = {False: METHOD_COLOURS["magnitude"], True: "#aec7e8"}


def population_label(method: str, ratio: float, retrained: bool) -> str:
    """``magnitude 90 % + retrain``: one pruned seed population."""
    return f"{method} {100 * float(ratio):g} %{' + retrain' if retrained else ''}"


def pie_count_figure(counts: pd.DataFrame, *, arch: str) -> go.Figure:
    """PIEs per (ratio, retrained) of the seed population: bars of ``n_pie`` over the ratio,
    one colour per retraining, hover with the share of samples and the number of seeds.
    ``counts``: ``core.store.pies.pie_counts`` rows."""
    fig = go.Figure()
    for retrained, rows in counts.groupby("retrained", sort=True):
        rows = rows.sort_values("ratio")
        share = 100 * rows["n_pie"] / rows["n"].where(rows["n"] > 0)
        fig.add_trace(go.Bar(
            x=[f"{100 * r:g} %" for r in rows["ratio"]], y=rows["n_pie"].tolist(),
            name="with retraining" if retrained else "without retraining",
            marker_color=_RETRAINED_COLOURS[bool(retrained)], text=rows["n_pie"].tolist(),
            textposition="outside",
            customdata=[[float(p), int(n), int(k), m] for p, n, k, m in zip(
                share, rows["n"], rows["n_seeds"], rows["method"])],
            hovertemplate="%{customdata[3]} at %{x}: %{y} PIEs of %{customdata[1]} samples "
                          "(%{customdata[0]:.1f} %)<br>%{customdata[2]} seeds per "
                          "population<extra></extra>"))
    fig.update_layout(
        title=dict(text=f"PIEs (Hooker et al.) of {arch}: modal label of the pruned seeds ≠ "
                        "modal label of the dense seeds", x=0, xanchor="left"),
        barmode="group", xaxis=dict(title=dict(text="pruning ratio (magnitude)")),
        yaxis=dict(title=dict(text="PIEs (samples)")), height=380,
        legend=dict(orientation="h", y=-0.25), margin=dict(l=10, r=10, t=60, b=90))
    return fig


def pie_auc_table(auc: pd.DataFrame) -> pd.DataFrame:
    """The finder's AUCs as a table: one row per pruned population (``population_label``, with
    its PIE count), one column per score of ``PIE_SCORE_LABELS``. ``auc``:
    ``core.store.pies.pie_auc_rows`` rows."""
    if auc.empty:
        return pd.DataFrame(columns=["population", "PIEs", *PIE_SCORE_LABELS.values()])
    rows = auc.assign(population=[population_label(m, r, t) for m, r, t in zip(
        auc["method"], auc["ratio"], auc["retrained"])])
    order = rows.sort_values(["method", "retrained", "ratio"])["population"].unique()
    table = rows.pivot_table(index="population", columns="score", values="auc",
                             aggfunc="first", dropna=False).reindex(order)
    table = table.reindex(columns=[s for s in PIE_SCORE_LABELS if s in table.columns])
    pies = rows.groupby("population")["n_positive"].max().reindex(order)
    table.insert(0, "PIEs", pies.astype(int))
    return table.rename(columns=PIE_SCORE_LABELS).reset_index()


def pie_reading(auc: pd.DataFrame) -> str:
    """Which score finds the PIEs best, per population, in one sentence."""
    rows = auc.dropna(subset=["auc"])
    if rows.empty:
        return ""
    parts = []
    for (method, ratio, retrained), group in rows.groupby(["method", "ratio", "retrained"],
                                                          sort=True):
        best = group.sort_values(["auc", "score"], ascending=[False, True]).iloc[0]
        geometric = group.loc[group["score"] == "geometric", "auc"]
        # The method comes from the database: plain text in the Markdown reading.
        parts.append(f"{population_label(escape.plain(method), ratio, retrained)}: "
                     f"{PIE_SCORE_LABELS.get(best['score'], best['score'])} {best['auc']:.2f}"
                     + (f" (geometric {geometric.iat[0]:.2f})" if len(geometric)
                        and best["score"] != "geometric" else ""))
    return ("The dense model's geometry alone against the seed population's PIEs (ROC AUC, "
            "0.5 = chance; best score per population): " + "; ".join(parts) + ".")
