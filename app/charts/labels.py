"""Axis and column labels that never run into each other, at any page width."""

from __future__ import annotations

import plotly.graph_objects as go

__all__ = ["parcoords_label_angle", "upright_axis_titles", "column_label"]

# Parallel-coordinate axes share the plot's width; from this many on, horizontal titles of
# typical length ("∠ T-shirt/top (°)") touch at 1,024 px, so they stand upright instead.
UPRIGHT_FROM = 5


def parcoords_label_angle(n_axes: int) -> int:
    """Title angle (degrees) for ``n_axes`` parallel-coordinate axes: 0, or −90 (upright, one
    title per axis width, never overlapping) when the axes are many."""
    return -90 if n_axes >= UPRIGHT_FROM else 0


# Pixels per character of a parcoords axis title (12 px font), an upper estimate.
_CHAR_PX = 7


def upright_axis_titles(fig: go.Figure | dict) -> go.Figure | dict:
    """Stand the axis titles of ``fig``'s parallel coordinates upright when the axes are many
    (see `parcoords_label_angle`), growing the top margin and the height by the longest title so
    that no title reaches the chart's own title. ``fig``: a Figure, or a plain figure dict
    (``{"data": [parcoords trace], "layout": {...}}``), changed in place and returned."""
    if isinstance(fig, dict):
        trace, layout = fig["data"][0], fig["layout"]
        if parcoords_label_angle(len(trace["dimensions"])) == 0:
            return fig
        longest = max(len(str(d.get("label") or "")) for d in trace["dimensions"]) * _CHAR_PX
        trace["labelangle"] = -90
        margin = layout.setdefault("margin", {})
        margin["t"] = margin.get("t", 100) + longest
        layout["height"] = layout.get("height", 450) + longest
        return fig
    dimensions = fig.data[0].dimensions
    if parcoords_label_angle(len(dimensions)) == 0:
        return fig
    longest = max(len(str(d.label or "")) for d in dimensions) * _CHAR_PX
    top = fig.layout.margin.t if fig.layout.margin.t is not None else 100
    fig.update_traces(labelangle=-90)
    fig.update_layout(margin_t=top + longest, height=(fig.layout.height or 450) + longest)
    return fig


def column_label(name: str) -> str:
    """A column's identifier as a one-line label (``gaussian_noise`` → ``gaussian noise``)."""
    return name.replace("_", " ")
