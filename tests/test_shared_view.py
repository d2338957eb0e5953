"""The shared similarity view's figure (benchmark colours, trees in their benchmark's colour,
model numbers, coincident results across benchmarks), its tree-overlap reading and the Geometry
page's locked panel ranges, without a browser."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from app.charts import geometry as geometry_charts
from app.charts import overview as charts


def _points(benchmarks=("clean", "fog-3"), n=6, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.concat([pd.DataFrame({
        "model_id": [f"m{i}" for i in range(n)], "benchmark_id": b,
        "x": rng.normal(size=n), "y": rng.normal(size=n),
        "arch": "lenet5", "method": np.array(["dense", "magnitude", "mpt"])[np.arange(n) % 3],
        "ratio": np.arange(n) / 10, "retrained": np.arange(n) % 2 == 0}) for b in benchmarks],
        ignore_index=True)


def _edges(points: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([pd.DataFrame({"benchmark_id": b, "model_a": ids[:-1].to_numpy(),
                                    "model_b": ids[1:].to_numpy(), "distance": 1.0})
                      for b, ids in points.groupby("benchmark_id")["model_id"]],
                     ignore_index=True)


def test_benchmarks_have_their_own_colour_and_their_tree_takes_it():
    points = _points()
    fig, _ = charts.embedding_figure(points, space="shared", mst_edges=_edges(points),
                                     colour_by="benchmark")
    fig = go.Figure(fig.to_dict())                        # validates every property
    markers = {t.name: t for t in fig.data if t.name in ("clean", "fog-3")}
    trees = {t.name: t for t in fig.data if (t.name or "").startswith("MST · ")}
    assert markers["clean"].marker.color != markers["fog-3"].marker.color
    for benchmark in ("clean", "fog-3"):
        assert trees[f"MST · {benchmark}"].line.color == markers[benchmark].marker.color
    # symbol = method, outline = retrained
    clean = points[points.benchmark_id == "clean"]
    assert list(markers["clean"].marker.symbol) == [charts.method_symbol(m)
                                                    for m in clean["method"]]
    assert list(markers["clean"].marker.line.width) == [2.0 if r else 0.0
                                                        for r in clean["retrained"]]
    assert "colour = benchmark" in fig.layout.title.text
    legend = [t.name for t in fig.data if t.showlegend is not False and t.name]
    assert {"clean", "fog-3", "dense", "magnitude", "mpt", "retrained (black outline)"} <= set(
        legend)


def test_coincident_results_of_two_benchmarks_are_one_marker():
    points = _points()
    points.loc[(points.benchmark_id == "fog-3") & (points.model_id == "m1"), ["x", "y"]] = (
        points.loc[(points.benchmark_id == "clean") & (points.model_id == "m1"), ["x", "y"]]
        .to_numpy())
    shared = charts.coincident_markers(points, across_benchmarks=True)
    alone = charts.coincident_markers(points)
    assert len(shared) == len(points) - 1 and len(alone) == len(points)
    group = shared[shared["n_models"] == 2].iloc[0]
    assert group["members"] == ("m1",) and group["benchmarks"] == ("clean", "fog-3")
    fig, _ = charts.embedding_figure(points, space="shared", colour_by="benchmark")
    coincident = [t for t in fig.data if t.name == charts.COINCIDENT_NAME][0]
    assert list(coincident.text) == ["×2"] and "clean, fog-3" in coincident.hovertext[0]


def test_model_numbers_are_positions_in_the_sorted_selection():
    assert charts.model_numbers(["b", "a"], ["a", "b", "c"]) == {"a": 1, "b": 2}
    assert charts.model_numbers([], ["c", "a", "b"]) == {"a": 1, "b": 2, "c": 3}
    assert charts.numbered("b", {"b": 2}) == "#2 b" and charts.numbered("z", {}) == "z"
    key = charts.number_key({"a": 1, "b": 2}, pd.Series({"b": 0.8}))
    assert key["number"].tolist() == [1, 2] and key["model"].tolist() == ["a", "b"]
    assert np.isnan(key["clean accuracy"].iat[0]) and key["clean accuracy"].iat[1] == 0.8


def test_numbers_are_drawn_beside_markers_only_when_few():
    points = _points()
    numbers = charts.model_numbers([], points["model_id"])
    fig, _ = charts.embedding_figure(points, space="shared", colour_by="benchmark",
                                     numbers=numbers)
    clean = [t for t in fig.data if t.name == "clean"][0]
    assert clean.mode == "markers+text" and list(clean.text) == [str(i) for i in range(1, 7)]
    many = {f"m{i}": i + 1 for i in range(charts.MAX_NUMBERED + 1)}
    fig, _ = charts.embedding_figure(points, space="shared", colour_by="benchmark",
                                     numbers=many)
    assert [t for t in fig.data if t.name == "clean"][0].mode == "markers"


def test_tree_overlap_by_hand():
    # Two models, three benchmarks. On a: (0,0), (2,0); on b: each model moved by 0.2; on c by 2.
    points = pd.DataFrame({
        "model_id": ["p", "q"] * 3, "benchmark_id": ["a", "a", "b", "b", "c", "c"],
        "x": [0.0, 2.0, 0.2, 2.2, 0.0, 2.0], "y": [0.0, 0.0, 0.0, 0.0, 2.0, 2.0]})
    overlap = charts.tree_overlap(points).set_index(["benchmark_a", "benchmark_b"])
    # median distance between two models on one benchmark: 2
    assert overlap.loc[("a", "b"), "overlap"] == pytest.approx(0.2 / 2)
    assert overlap.loc[("a", "c"), "overlap"] == pytest.approx(2 / 2)
    assert overlap.loc[("b", "c"), "overlap"] == pytest.approx(np.hypot(0.2, 2) / 2)
    assert overlap.index[0] == ("a", "b")
    corruption_of = {"a": "fog", "b": "frost", "c": "snow"}
    agree = pd.DataFrame({"corruption_a": ["fog", "fog", "frost"],
                          "corruption_b": ["frost", "snow", "snow"],
                          "similarity": [0.1, 0.5, 0.6]})
    text = charts.tree_overlap_reading(charts.tree_overlap(points), corruption_of, agree)
    assert text.startswith("Trees overlapping most: `a` and `b`") and "agrees" in text
    disagree = agree.assign(similarity=[0.9, 0.2, 0.6])
    text = charts.tree_overlap_reading(charts.tree_overlap(points), corruption_of, disagree)
    assert "disagrees" in text and "`fog` ~ `snow` most redundant" in text


def test_panel_ranges_are_shared_and_never_shrink_for_a_class():
    a = {"∠ cat (°)": np.array([10.0, 50.0]), "∠ dog (°)": np.array([20.0, 30.0]),
         "L2": np.array([1.0, 2.0])}
    b = {"∠ cat (°)": np.array([5.0, 40.0]), "∠ dog (°)": np.array([60.5, 70.0]),
         "L2": np.array([0.5, 3.0])}
    ranges = geometry_charts.locked_ranges(None, [a, b], num_angles=2)
    assert ranges["∠ cat (°)"] == ranges["∠ dog (°)"] == [5.0, 70.0]
    assert ranges["L2"] == [0.5, 3.0]
    later = geometry_charts.locked_ranges(ranges, [{k: v[:1] for k, v in a.items()}],
                                          num_angles=2)
    assert later == ranges                                 # narrower data: the range holds


def test_panel_title_names_the_model_and_both_accuracies():
    title = geometry_charts.model_panel_title("#2 lenet5-mpt", "cat", "clean", "jpeg-5",
                                              (0.9, 0.5), (0.95, 0.6))
    assert title == ("#2 lenet5-mpt — cat: 90.0 % on clean, 50.0 % on jpeg-5; overall "
                     "95.0 % → 60.0 %")


def test_reference_lines_are_drawn_last():
    frame = pd.DataFrame({"group": ["ref", "cmp"] * 20, "l2": 1.0, "margin": 0.0,
                          "prob": 0.5, "correct": True})
    angles = np.zeros((40, 2))
    fig = geometry_charts.parallel_coordinates(
        frame, angles, [0, 1], ["a", "b"], groups=["cmp", "ref"], group_labels=["c", "r"],
        colors=["#f0b400", "#8c8c8c"], title="t", on_top="ref",
        ranges={"∠ a (°)": [0.0, 180.0]})
    codes = np.asarray(fig["data"][0]["line"]["color"])
    assert (codes[:20] == 0).all() and (codes[20:] == 1).all()   # compared first, then ref
    assert fig["data"][0]["dimensions"][0]["range"] == [0.0, 180.0]
