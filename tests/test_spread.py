"""The spread hypothesis: per-model spread of the clean geometry against robustness, pooled,
within methods and between them (core.analysis.spread), its chart and its reading."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app.charts import overview as charts
from core import analysis

# Within every method x and y vary independently (their offsets are uncorrelated, exactly);
# the methods' means line up: low x with high y.
_OFFSETS_X = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
_OFFSETS_Y = np.array([1.0, -2.0, 0.0, 2.0, -1.0]) * 0.01


def _population(*, within: bool) -> pd.DataFrame:
    """Three methods of five models: angle_spread against corrupted_accuracy. ``within``: y also
    falls with x inside each method; otherwise only the method means are related."""
    rows = []
    for k, method in enumerate(["magnitude", "snip", "mpt"]):
        x = 10.0 * (k + 1) + _OFFSETS_X
        y = 0.8 - 0.1 * k + (-0.01 * _OFFSETS_X if within else _OFFSETS_Y)
        rows += [dict(model_id=f"{method}-{i}", method=method, ratio=0.1 * (i + 1),
                      angle_spread=a, l2_spread=1.0, mean_angle=50.0, corrupted_accuracy=b,
                      drop=0.9 - b) for i, (a, b) in enumerate(zip(x, y))]
    return pd.DataFrame(rows)


def _row(corr: pd.DataFrame, scope: str, target: str = "corrupted_accuracy",
         stat: str = "angle_spread") -> pd.Series:
    return corr[(corr["stat"] == stat) & (corr["target"] == target)
                & (corr["scope"] == scope)].iloc[0]


def test_geometry_spread_per_class_std_mean_angle_and_accuracies():
    clean = pd.DataFrame({
        "model_id": ["a"] * 6 + ["b"] * 4,
        "label": [0, 0, 0, 1, 1, 1, 0, 0, 1, 1],
        "angle": [10.0, 20.0, 30.0, 40.0, 40.0, np.nan, 50.0, 70.0, 60.0, 60.0],
        "l2": [1.0, 1.0, 1.0, 2.0, 4.0, 6.0, 3.0, 3.0, 1.0, 5.0]})
    accuracy = pd.DataFrame({"model_id": ["a", "a", "a", "b", "b"],
                             "corruption": ["clean", "fog", "snow", "clean", "fog"],
                             "accuracy": [0.9, 0.6, 0.4, 0.8, 0.7]})
    out = analysis.geometry_spread(clean, accuracy).set_index("model_id")
    # a: class 0 angle std 10, class 1 (NaN ignored) std 0 → 5; l2 stds 0 and 2 → 1.
    assert out.loc["a", "angle_spread"] == pytest.approx(5.0)
    assert out.loc["a", "l2_spread"] == pytest.approx(1.0)
    assert out.loc["a", "mean_angle"] == pytest.approx(28.0)
    assert out.loc["a", "corrupted_accuracy"] == pytest.approx(0.5)
    assert out.loc["a", "drop"] == pytest.approx(0.4)
    assert out.loc["b", "angle_spread"] == pytest.approx(np.std([50, 70], ddof=1) / 2)
    assert out.loc["b", "l2_spread"] == pytest.approx(np.std([1, 5], ddof=1) / 2)
    assert out.loc["b", "drop"] == pytest.approx(0.1)
    assert list(out.columns) == ["angle_spread", "l2_spread", "mean_angle", "clean_accuracy",
                                 "corrupted_accuracy", "drop"]


def test_correlation_between_methods_but_not_within():
    corr = analysis.spread_correlations(_population(within=False))
    assert set(corr["scope"]) == set(analysis.SPREAD_SCOPES)
    pooled, within, between = (_row(corr, s) for s in ("pooled", "within", "between"))
    assert pooled["pearson"] < -0.9 and pooled["n"] == 15
    assert within["pearson"] == pytest.approx(0.0, abs=1e-12) and within["n"] == 15
    assert between["pearson"] == pytest.approx(-1.0) and between["n"] == 3
    # The drop mirrors the accuracy; constant columns have no correlation.
    assert _row(corr, "pooled", target="drop")["pearson"] == pytest.approx(-pooled["pearson"])
    assert np.isnan(_row(corr, "pooled", stat="l2_spread")["pearson"])
    text = charts.spread_reading(corr, stat="angle_spread", target="corrupted_accuracy")
    assert text.startswith("A thin angle spread goes with robustness here")
    assert "Within methods it does not hold (r = 0.00" in text
    assert "between method means r = −1.00 (3 methods)" in text


def test_correlation_within_methods():
    corr = analysis.spread_correlations(_population(within=True))
    assert _row(corr, "within")["pearson"] == pytest.approx(-1.0)
    assert _row(corr, "within")["spearman"] == pytest.approx(-1.0)
    text = charts.spread_reading(corr, stat="angle_spread", target="drop")
    assert "goes with robustness" in text and "It holds within methods too (r = 1.00" in text


def test_single_model_methods_leave_the_within_scope():
    population = _population(within=True)
    lone = population.iloc[[0]].assign(model_id="dense-0", method="dense", angle_spread=99.0,
                                       corrupted_accuracy=0.0)
    corr = analysis.spread_correlations(pd.concat([population, lone], ignore_index=True))
    assert _row(corr, "pooled")["n"] == 16
    assert _row(corr, "within")["n"] == 15
    assert _row(corr, "within")["pearson"] == pytest.approx(-1.0)
    assert _row(corr, "between")["n"] == 4


def test_spread_correlations_needs_the_method_column():
    with pytest.raises(ValueError, match="method"):
        analysis.spread_correlations(_population(within=True).drop(columns="method"))


def test_spread_figure_colours_by_method_and_states_the_correlations():
    population = _population(within=False)
    corr = analysis.spread_correlations(population)
    fig = charts.spread_figure(population, corr, stat="angle_spread",
                               target="corrupted_accuracy")
    assert [t.name for t in fig.data] == ["magnitude", "snip", "mpt"]
    assert fig.data[0].marker.color == charts.METHOD_COLOURS["magnitude"]
    assert len(fig.data[2].x) == 5
    assert "within methods: r = 0.00" in fig.layout.title.text
    assert "degrees" in fig.layout.xaxis.title.text
    assert "fraction" in fig.layout.yaxis.title.text


def _pooled(pearson: float, spearman: float) -> pd.DataFrame:
    return pd.DataFrame({"stat": "angle_spread", "target": "corrupted_accuracy",
                         "scope": ["pooled"], "pearson": [pearson], "spearman": [spearman],
                         "n": [20]})


@pytest.mark.parametrize("pearson, spearman, expected", [
    (-0.62, 0.17, "does not clearly go with robustness"),  # a few models pull r: ρ is weak
    (-0.62, -0.55, "goes with robustness here"),
    (-0.62, -0.40, "goes with robustness here"),
    (0.10, 0.80, "does not clearly go with robustness")])
def test_spread_reading_words_follow_the_weaker_of_r_and_rho(pearson, spearman, expected):
    text = charts.spread_reading(_pooled(pearson, spearman), stat="angle_spread",
                                 target="corrupted_accuracy")
    assert expected in text
    weaker = min(abs(pearson), abs(spearman))
    if weaker >= 0.3:
        assert f", {charts.strength(weaker)})." in text.split(" Too few")[0]
    assert "strong" not in text or weaker >= 0.5
