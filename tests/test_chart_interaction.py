"""How charts are drawn and selected, without a browser: SVG or WebGL by point count, and the
layout every selectable chart needs for a click to select (see app/charts/selectable.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app.charts import geometry, overview
from app.charts.selectable import SELECT_BY_CLICK
from app.charts.trace_types import WEBGL_THRESHOLD, scatter_type
from app.compare import CATEGORIES


def test_scatter_type_switches_to_webgl_above_the_threshold():
    assert scatter_type(0) == "scatter"
    assert scatter_type(WEBGL_THRESHOLD) == "scatter"
    assert scatter_type(WEBGL_THRESHOLD + 1) == "scattergl"
    with pytest.raises(ValueError, match="`n_points` must be ≥ 0. Got -1 instead."):
        scatter_type(-1)


def _samples(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "sample_id": np.arange(n), "label": np.arange(n) % 3, "pred": rng.integers(0, 3, n),
        "correct": rng.random(n) < 0.7, "angle": rng.uniform(0, 90, n), "l2": rng.random(n),
        "margin": rng.normal(size=n), "prob": rng.random(n)})


def _paired(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    columns = {"sample_id": np.arange(n), "label": np.arange(n) % 3}
    for name in ("angle", "l2", "margin"):
        columns |= {f"{name}_a": rng.random(n), f"{name}_b": rng.random(n),
                    f"d_{name}": rng.normal(size=n)}
    return pd.DataFrame(columns)


def _figures(n: int) -> dict:
    """Every selectable per-sample figure of the Geometry page over ``n`` samples, with the
    number of points it draws in all."""
    paired = _paired(n)
    codes = np.arange(n) % len(CATEGORIES)
    counts = pd.Series(np.bincount(codes, minlength=len(CATEGORIES)), index=list(CATEGORIES))
    return {
        "class panels": (geometry.class_panels(_samples(n), ["a", "b", "c"], [0, 1, 2],
                                               title="t"), n),
        "comparison": (geometry.comparison_scatter(paired, codes, counts, label_a="A",
                                                   label_b="B"), 3 * n),
        "overlaid": (geometry.overlaid_scatter_matrix(paired, label_a="A", label_b="B"), 6 * n),
    }


@pytest.mark.parametrize("n", [100, 400, 2_000])
def test_geometry_scatters_use_webgl_only_for_many_points(n):
    for name, (fig, points) in _figures(n).items():
        drawn = sum(len(t.x) for t in fig.data)
        assert drawn == points, name
        expected = "scattergl" if points > WEBGL_THRESHOLD else "scatter"
        assert {t.type for t in fig.data} == {expected}, name


def _selectable_figures() -> dict:
    figures = {name: fig for name, (fig, _) in _figures(50).items()}
    bars = pd.DataFrame(
        [("lenet5", method, False, ratio, "clean", acc, [f"m-{method}-{ratio}"], ["clean"])
         for method, ratio, acc in (("dense", 0.0, 0.9), ("magnitude", 0.5, 0.8))],
        columns=["arch", "method", "retrained", "ratio", "corruption", "accuracy",
                 "model_ids", "benchmark_ids"])
    figures["evaluation table"] = overview.evaluation_table_figure(bars, title="t")
    points = pd.DataFrame({"model_id": ["m0", "m1"], "benchmark_id": "clean", "x": [0.0, 1.0],
                           "y": [0.0, 1.0], "arch": "lenet5", "method": "magnitude",
                           "ratio": [0.2, 0.5], "retrained": False})
    figures["similarity"] = overview.embedding_figure(points)[0]
    return figures


def test_selectable_charts_select_on_click():
    # Streamlit turns clicks into selections only when clickmode includes "select", and it
    # forces clickmode "event" while dragmode is "select" or "lasso".
    for name, fig in _selectable_figures().items():
        assert fig.layout.clickmode == "event+select", name
        assert fig.layout.dragmode not in ("select", "lasso"), name
        assert {k: fig.layout[k] for k in SELECT_BY_CLICK} == SELECT_BY_CLICK, name
