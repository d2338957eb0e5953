"""Which Plotly trace type draws a scatter: SVG for few points, WebGL for many.

A browser keeps about 16 WebGL contexts per page and drops the oldest beyond that (the chart
goes blank), and every WebGL figure holds its own; SVG costs one DOM node per point instead.
Up to `WEBGL_THRESHOLD` points SVG draws as fast and holds no context.
"""

from __future__ import annotations

__all__ = ["WEBGL_THRESHOLD", "scatter_type"]

WEBGL_THRESHOLD = 1_500


def scatter_type(n_points: int) -> str:
    """``"scattergl"`` when a figure draws more than `WEBGL_THRESHOLD` scatter points in all,
    else ``"scatter"`` (SVG). ``n_points``: the figure's total point count (≥ 0)."""
    if n_points < 0:
        raise ValueError(f"`n_points` must be ≥ 0. Got {n_points} instead.")
    return "scattergl" if n_points > WEBGL_THRESHOLD else "scatter"
