import warnings

import numpy as np
import pandas as pd
import pytest

from app.compare import (
    CATEGORIES,
    count_transitions,
    default_partner,
    rank_class_axes,
    stratified_sample,
    transition_codes,
)


def test_transitions_hand_made_case():
    # sample:      0     1      2      3      4      5      6
    correct_a = [True, True, False, False, True, False, True]
    correct_b = [True, False, True, False, False, False, True]
    codes = transition_codes(correct_a, correct_b)
    assert [CATEGORIES[c] for c in codes] == [
        "correct in both", "correct → wrong", "wrong → correct", "wrong in both",
        "correct → wrong", "wrong in both", "correct in both"]
    counts = count_transitions(correct_a, correct_b)
    assert counts.to_dict() == {"correct in both": 2, "correct → wrong": 2,
                                "wrong → correct": 1, "wrong in both": 2}


def test_counts_include_empty_categories_and_sum_to_n():
    counts = count_transitions(np.ones(5, bool), np.ones(5, bool))
    assert list(counts.index) == list(CATEGORIES)
    assert counts.tolist() == [5, 0, 0, 0]


def test_transitions_reject_misaligned_inputs():
    with pytest.raises(ValueError, match="same length"):
        transition_codes([True, False], [True])


def _models():
    rows = [("lenet5-dense", "lenet5", "dense", 0.0, False, 0),
            ("lenet5-mag-0.5", "lenet5", "magnitude", 0.5, False, 0),
            ("lenet5-mag-0.5-rt", "lenet5", "magnitude", 0.5, True, 0),
            ("lenet5-snip-0.9", "lenet5", "snip", 0.9, False, 0),
            ("vgg16-dense", "vgg16", "dense", 0.0, False, 0),
            ("vgg16-mpt-0.5", "vgg16", "mpt", 0.5, False, 0)]
    return pd.DataFrame(rows, columns=["model_id", "arch", "method", "ratio", "retrained", "seed"])


def test_default_partner_pairs_what_a_pruning_researcher_compares():
    models = _models()
    assert default_partner(models, "lenet5-dense") == "lenet5-mag-0.5"  # first pruned, same arch
    assert default_partner(models, "lenet5-mag-0.5") == "lenet5-mag-0.5-rt"  # retrained twin
    assert default_partner(models, "lenet5-mag-0.5-rt") == "lenet5-mag-0.5"
    assert default_partner(models, "lenet5-snip-0.9") == "lenet5-dense"  # no twin: dense
    assert default_partner(models, "vgg16-mpt-0.5") == "vgg16-dense"
    assert default_partner(models.iloc[:1], "lenet5-dense") is None
    assert default_partner(models, "unknown") == "lenet5-dense"


def test_rank_confused_counts_predictions_and_pins_the_selected_class():
    angles = np.full((4, 5), 90.0)
    predictions = [2, 2, 4, 4, 4, 0, 1, 1]
    order = rank_class_axes("confused", selected_class=2, k=5, predictions=predictions,
                            reference_angles=angles, compared_angles=angles)
    # counts: class 4 → 3, class 1 → 2, class 0 → 1, class 3 → 0 (class 2 pinned first)
    assert order.tolist() == [2, 4, 1, 0, 3]
    assert rank_class_axes("confused", selected_class=2, k=2, predictions=predictions,
                           reference_angles=angles, compared_angles=angles).tolist() == [2, 4]


def test_rank_ties_prefer_the_closer_class_direction():
    reference = np.array([[10.0, 80.0, 40.0, 60.0]])
    compared = np.array([[20.0, 70.0, 50.0, 60.0]])
    # No prediction outside class 0: every other class ties at 0, so mean angle decides.
    order = rank_class_axes("confused", selected_class=0, k=4, predictions=[0, 0],
                            reference_angles=reference, compared_angles=compared)
    assert order.tolist() == [0, 2, 3, 1]


def test_rank_changed_uses_the_shift_of_mean_angles():
    rng = np.random.default_rng(0)
    reference = rng.uniform(60, 120, size=(50, 6))
    shift = np.array([0.0, 5.0, -30.0, 1.0, 12.0, 0.0])
    compared = reference + shift
    order = rank_class_axes("changed", selected_class=5, k=4, predictions=np.zeros(100, int),
                            reference_angles=reference, compared_angles=compared)
    expected = [5] + [int(c) for c in np.argsort(-np.abs(shift[:5]), kind="stable")][:3]
    assert order.tolist() == expected == [5, 2, 4, 1]


def test_rank_ignores_undefined_angles_without_warning():
    reference = np.array([[np.nan, 30.0, 50.0], [np.nan, 40.0, 50.0]])
    compared = np.array([[np.nan, 60.0, 55.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        order = rank_class_axes("changed", selected_class=0, k=3, predictions=[0],
                                reference_angles=reference, compared_angles=compared)
    assert order.tolist() == [0, 1, 2]  # class 1 moves by 25°, class 2 by 5°


@pytest.mark.parametrize("kwargs, message", [
    (dict(rule="nearest"), "`rule` must be one of"),
    (dict(selected_class=3), r"`selected_class` must be in \[0, 3\)"),
    (dict(k=0), "`k` must be >= 1"),
])
def test_rank_validates_its_arguments(kwargs, message):
    arguments = dict(rule="confused", selected_class=0, k=2, predictions=[0],
                     reference_angles=np.zeros((1, 3)), compared_angles=np.zeros((1, 3)))
    arguments.update(kwargs)
    rule = arguments.pop("rule")
    with pytest.raises(ValueError, match=message):
        rank_class_axes(rule, **arguments)


def _strata_frame():
    sizes = {("clean", True): 900, ("clean", False): 7, ("noise", True): 500,
             ("noise", False): 93}
    parts = [pd.DataFrame({"benchmark_id": b, "correct": c, "value": np.arange(n)})
             for (b, c), n in sizes.items()]
    return pd.concat(parts, ignore_index=True), sizes


def test_stratified_sample_is_proportional_and_keeps_every_stratum():
    frame, sizes = _strata_frame()
    sample = stratified_sample(frame, by=["benchmark_id", "correct"], n_max=100, seed=3)
    assert len(sample) == 100
    assert sample.index.is_monotonic_increasing and sample.index.isin(frame.index).all()
    got = sample.groupby(["benchmark_id", "correct"]).size().to_dict()
    total = sum(sizes.values())
    for stratum, size in sizes.items():
        exact = 100 * size / total
        assert got[stratum] >= 1
        assert abs(got[stratum] - exact) <= 1
    again = stratified_sample(frame, by=["benchmark_id", "correct"], n_max=100, seed=3)
    pd.testing.assert_frame_equal(sample, again)


def test_stratified_sample_gives_rare_strata_one_row_when_there_is_room():
    frame = pd.DataFrame({"group": ["a"] * 1000 + ["b", "c", "d"]})
    sample = stratified_sample(frame, by="group", n_max=4)
    assert sorted(sample["group"]) == ["a", "b", "c", "d"]


def test_stratified_sample_returns_small_frames_whole_and_validates():
    frame, _ = _strata_frame()
    assert stratified_sample(frame, by="correct", n_max=len(frame)) is frame
    with pytest.raises(ValueError, match="`n_max` must be >= 1"):
        stratified_sample(frame, by="correct", n_max=0)


def test_selected_customdata_reads_the_browser_form_of_numeric_arrays():
    from app.selection import selected_customdata

    event = {"selection": {"points": [{"customdata": {"0": 12.0, "1": 3.5}},
                                      {"customdata": [7, "x"]}, {"customdata": 12},
                                      {"customdata": None}]}}
    assert selected_customdata(event) == [12, 7]
    assert selected_customdata(event, position=1) == [3.5, "x", 12]
    assert selected_customdata(None) == [] and selected_customdata({"selection": {}}) == []


# --- brushing ranges → samples ------------------------------------------------------------------

def test_constraint_ranges_accepts_plotly_forms():
    from app.compare import constraint_ranges

    assert constraint_ranges(None).shape == (0, 2)
    assert constraint_ranges([]).shape == (0, 2)
    np.testing.assert_array_equal(constraint_ranges([5, 2]), [[2, 5]])  # ends in either order
    np.testing.assert_array_equal(constraint_ranges([[0, 1], [4, 3]]), [[0, 1], [3, 4]])
    with pytest.raises(ValueError, match="must be \\[low, high\\]"):
        constraint_ranges([1, 2, 3])


def test_brushed_mask_hand_worked():
    from app.compare import brushed_mask

    values = {"a": [10.0, 20.0, 30.0, 40.0, np.nan], "b": [1.0, 2.0, 3.0, 4.0, 5.0]}
    # No brush: every line is inside (the intersection of no constraints).
    assert brushed_mask(values, {}).tolist() == [True] * 5
    # Ends included; NaN never inside.
    assert brushed_mask(values, {"a": [20, 30]}).tolist() == [False, True, True, False, False]
    # Several ranges on one axis: their union.
    assert brushed_mask(values, {"a": [[5, 10], [35, 45]]}).tolist() == [
        True, False, False, True, False]
    # Several axes: every brushed axis must hold the line.
    assert brushed_mask(values, {"a": [[5, 10], [35, 45]], "b": [3.5, 9]}).tolist() == [
        False, False, False, True, False]
    # An "open" range reaching past the data on one side.
    assert brushed_mask(values, {"b": [-np.inf, 2]}).tolist() == [True, True, False, False, False]
    assert brushed_mask(values, {"b": [4.5, 1e9]}).tolist() == [False] * 4 + [True]
    # An axis present with an empty constraint is not brushed.
    assert brushed_mask(values, {"a": None, "b": [2, 2]}).tolist() == [
        False, True, False, False, False]
    with pytest.raises(ValueError, match="lacks: c"):
        brushed_mask(values, {"c": [0, 1]})


def test_brushed_sample_ids_unions_the_lines_of_each_sample():
    from app.compare import brushed_sample_ids

    # Samples 7 and 3 each have a line per model; one line of a sample inside is enough.
    ids = [7, 3, 9, 7, 3, 9]
    values = {"angle": [10.0, 50.0, 90.0, 60.0, 55.0, 95.0]}
    assert brushed_sample_ids(ids, values, {"angle": [40, 70]}) == [3, 7]
    assert brushed_sample_ids(ids, values, {"angle": [[0, 5], [91, 99]]}) == [9]
    assert brushed_sample_ids(ids, values, {"angle": [0, 1]}) == []
    # Clearing every brush clears the selection (not "everything").
    assert brushed_sample_ids(ids, values, {}) == []
    assert brushed_sample_ids(ids, values, {"angle": []}) == []
    with pytest.raises(ValueError, match="must label every line"):
        brushed_sample_ids([1, 2], values, {"angle": [0, 100]})
