"""Effective robustness against a logit-linear population fit, checked by hand-built populations."""

import warnings

import numpy as np
import pandas as pd
import pytest

from core.analysis.effective import effective_robustness, effective_robustness_by_group, expit, logit


def _population(clean, corrupted):
    return pd.DataFrame({"model_id": [f"m{i}" for i in range(len(clean))],
                         "clean_accuracy": clean, "corrupted_accuracy": corrupted})


def test_models_on_the_fit_have_zero_effective_robustness():
    clean = np.array([0.5, 0.6, 0.7, 0.8, 0.9])
    corrupted = expit(0.8 * logit(clean) - 0.3)          # exactly on a logit-linear line
    out = effective_robustness(_population(clean, corrupted))
    np.testing.assert_allclose(out.slope, 0.8, atol=1e-9)
    np.testing.assert_allclose(out.intercept, -0.3, atol=1e-9)
    np.testing.assert_allclose(out.effective_robustness, 0.0, atol=1e-12)


def test_a_model_above_the_fit_is_positive_by_its_distance_in_accuracy():
    clean = np.array([0.5, 0.6, 0.7, 0.8, 0.9, 0.75])
    corrupted = expit(1.0 * logit(clean) - 1.0)
    corrupted[-1] += 0.05                                  # the outlier is 5 points above
    # Fit on the others only: the line is exact, the outlier's distance is exactly 0.05.
    out = effective_robustness(_population(clean, corrupted), fit_on=[f"m{i}" for i in range(5)])
    assert out.effective_robustness.iloc[-1] == pytest.approx(0.05, abs=1e-12)
    assert out.n_fit.iloc[0] == 5
    np.testing.assert_allclose(out.effective_robustness.iloc[:5], 0.0, atol=1e-12)


def test_fit_is_ordinary_least_squares_on_logit_axes():
    rng = np.random.default_rng(0)
    clean = rng.uniform(0.3, 0.95, 40)
    corrupted = np.clip(clean - rng.uniform(0.05, 0.3, 40), 0.01, 0.99)
    out = effective_robustness(_population(clean, corrupted))
    slope, intercept = np.polyfit(logit(clean), logit(corrupted), 1)
    assert out.slope.iloc[0] == pytest.approx(slope) and out.intercept.iloc[0] == pytest.approx(intercept)
    # Residuals in logit space sum to zero for an OLS fit with intercept.
    assert (logit(corrupted) - (slope * logit(clean) + intercept)).sum() == pytest.approx(0, abs=1e-9)


def test_one_clean_accuracy_gives_nan_with_a_warning():
    with pytest.warns(RuntimeWarning, match="at least two different clean accuracies"):
        out = effective_robustness(_population([0.8, 0.8], [0.5, 0.6]))
    assert out.effective_robustness.isna().all()


def test_extreme_accuracies_are_clipped_not_infinite():
    out = effective_robustness(_population([0.1, 0.5, 1.0], [0.0, 0.3, 0.9]))
    assert np.isfinite(out.effective_robustness).all()


def test_group_means():
    eff = pd.DataFrame({"model_id": ["a", "b", "c"], "effective_robustness": [0.02, 0.04, -0.01]})
    models = pd.DataFrame({"model_id": ["a", "b", "c"], "arch": "lenet5",
                           "method": ["mpt", "mpt", "random"]})
    out = effective_robustness_by_group(eff, models)
    assert out.method.tolist() == ["mpt", "random"]
    assert out["mean"].tolist() == pytest.approx([0.03, -0.01]) and out.n.tolist() == [2, 1]


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match="corrupted_accuracy"):
        effective_robustness(pd.DataFrame({"model_id": ["a"], "clean_accuracy": [0.5]}))


def test_a_fit_within_each_group_equals_fitting_that_group_alone():
    from core.analysis.effective import effective_robustness_within

    rng = np.random.default_rng(3)
    clean = rng.uniform(0.5, 0.95, 12)
    # Two families on different lines: the second loses far more under corruption.
    groups = np.array(["a", "b"] * 6)
    corrupted = np.where(groups == "a", expit(logit(clean) - 0.3), expit(0.7 * logit(clean) - 1.5))
    corrupted = corrupted + rng.normal(scale=0.01, size=12)
    accuracy = _population(clean, corrupted)
    out = effective_robustness_within(accuracy, groups)
    assert list(out.model_id) == list(accuracy.model_id) and list(out.group) == list(groups)
    for group in ("a", "b"):
        alone = effective_robustness(accuracy[groups == group])
        mine = out[out.group == group].reset_index(drop=True)
        pd.testing.assert_frame_equal(mine.drop(columns="group"), alone)
    # The population fit reads the second family's offset as lost robustness; within it, none.
    population = effective_robustness(accuracy)
    assert population.effective_robustness[groups == "b"].mean() < -0.02
    assert abs(out.effective_robustness[groups == "b"].mean()) < 0.01


def test_a_group_too_small_for_a_fit_gets_nan_without_a_warning():
    from core.analysis.effective import effective_robustness_within

    accuracy = _population([0.7, 0.8, 0.9, 0.6, 0.65], [0.6, 0.7, 0.85, 0.3, 0.4])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = effective_robustness_within(accuracy, ["x", "x", "x", "y", "y"])
    assert out.effective_robustness[:3].notna().all()
    assert out[["effective_robustness", "slope", "intercept"]][3:].isna().all().all()
    assert list(out.n_fit) == [3, 3, 3, 2, 2]
    assert effective_robustness_within(accuracy, ["x"] * 5, min_models=2).slope.notna().all()
    with pytest.raises(ValueError, match="`min_models` must be an integer >= 2. Got 1 instead."):
        effective_robustness_within(accuracy, ["x"] * 5, min_models=1)
    with pytest.raises(ValueError, match="one entry per row of `accuracy` \\(5\\). Got 2"):
        effective_robustness_within(accuracy, ["x", "y"])
