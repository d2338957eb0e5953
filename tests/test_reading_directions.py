"""Every reading sentence that states a direction ("rises", "more", "goes with" …), built from
values of both signs: its words must follow the sign of the numbers it reads."""

import numpy as np
import pandas as pd
import pytest

from app.charts import guide as guide_charts
from app.charts import overview as charts


@pytest.mark.parametrize("target", ["robustness", "pv"])
@pytest.mark.parametrize("metric", ["angle", "l2", "margin"])
def test_guide_correlation_sentence_follows_the_sign(metric, target):
    positive = guide_charts.correlation_sentence(metric, target, 0.4, 12)
    negative = guide_charts.correlation_sentence(metric, target, -0.4, 12)
    assert ", the more " in positive and "fewer" not in positive
    assert ", the fewer " in negative and "more" not in negative
    assert "+0.40" in positive and "-0.40" in negative
    flat = guide_charts.correlation_sentence(metric, target, float("nan"), 12)
    assert "no monotone link" in flat and "more" not in flat and "fewer" not in flat


def test_guide_pv_reads_as_correct_classifications():
    # PV counts the pruned models that classify the sample correctly (docs/analysis.md).
    text = guide_charts.correlation_sentence("margin", "pv", 0.3, 5)
    assert "classify it correctly" in text and "misclassif" not in text


def _trained(means, stds):
    return pd.DataFrame({"kind": "trained", "dim": [2, 8, 32], "mean": means, "std": stds,
                         "model_id": ["a", "b", "c"]})


def test_dimension_trend_words_follow_the_change():
    rising = charts.dimension_reading(_trained([40.0, 50.0, 60.0], [12.0, 10.0, 8.0]))
    falling = charts.dimension_reading(_trained([60.0, 50.0, 40.0], [8.0, 10.0, 12.0]))
    assert "rises steadily from 40.0°" in rising and "spread shrinks" in rising
    assert "falls steadily from 60.0°" in falling and "spread grows" in falling
    wobbly = charts.dimension_reading(_trained([40.0, 70.0, 60.0], [8.0, 8.5, 9.0]))
    assert "rises from 40.0°" in wobbly and "steadily" not in wobbly


def _spread_rows(pooled_r: float, within_r: float) -> pd.DataFrame:
    return pd.DataFrame({"stat": "angle_spread", "target": "corrupted_accuracy",
                         "scope": ["pooled", "within", "between"],
                         "pearson": [pooled_r, within_r, pooled_r],
                         "spearman": [pooled_r, within_r, pooled_r], "n": [20, 20, 4]})


@pytest.mark.parametrize("target, sign", [("corrupted_accuracy", -1.0), ("drop", 1.0)])
def test_spread_reading_goes_with_or_against_by_sign(target, sign):
    # Robust = high corrupted accuracy or a small drop: a small spread goes with robustness
    # when r < 0 against the accuracy and r > 0 against the drop.
    def reading(r):
        rows = _spread_rows(r, r).assign(target=target)
        return charts.spread_reading(rows, stat="angle_spread", target=target)

    assert "goes with robustness" in reading(0.6 * sign)
    assert "goes against robustness" in reading(-0.6 * sign)
    assert "does not clearly go with" in reading(0.1)
    assert "holds within methods too" in reading(0.6 * sign)
    opposite = _spread_rows(0.6 * sign, -0.6 * sign).assign(target=target)
    assert "does not hold" in charts.spread_reading(opposite, stat="angle_spread",
                                                    target=target)
