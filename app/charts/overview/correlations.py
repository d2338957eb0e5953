"""The correlation heat map of the Overview: per model, how robustness and pruning
vulnerability correlate with the clean angle, l2 and margin (its prose is in `readings`)."""

from __future__ import annotations

from typing import Iterable, Sequence

import pandas as pd
import plotly.graph_objects as go

from app.charts.overview._shared import TARGET_LABELS, ordered

__all__ = ["correlation_models", "correlation_figure"]

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
