"""Pure figure builders of the Overview page, the selection parsing of its charts and the ROC
curves of its vulnerable-sample view, without a browser."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from scipy.sparse.csgraph import minimum_spanning_tree as scipy_mst
from scipy.spatial.distance import cdist
from sklearn.metrics import roc_auc_score

from app import selection
from app.charts import overview as charts
from core.analysis import geometry_mst
from core.analysis.roc import roc_curves


def _bars() -> pd.DataFrame:
    """Two archs: lenet5 dense + magnitude (2 ratios, 2 seeds at 0.5), vgg16 snip retrained;
    corruptions clean and gaussian_noise (averaged over severities 1 and 2)."""
    rows = []
    for corruption, benches, drop in (("clean", ["clean"], 0.0),
                                      ("gaussian_noise", ["gaussian_noise-1",
                                                          "gaussian_noise-2"], 0.2)):
        rows += [
            ("lenet5", "dense", False, 0.0, corruption, 0.9 - drop, ["lenet5-dense"], benches),
            ("lenet5", "magnitude", False, 0.5, corruption, 0.85 - drop,
             ["lenet5-mag-0.5-s0", "lenet5-mag-0.5-s1"], benches),
            ("lenet5", "magnitude", False, 0.9, corruption, 0.6 - drop, ["lenet5-mag-0.9"],
             benches),
            ("vgg16", "snip", True, 0.5, corruption, 0.8 - drop, ["vgg16-snip-0.5-rt"], benches),
        ]
    return pd.DataFrame(rows, columns=["arch", "method", "retrained", "ratio", "corruption",
                                       "accuracy", "model_ids", "benchmark_ids"])


def _event(*customdata) -> dict:
    return {"selection": {"points": [{"customdata": c} for c in customdata],
                          "point_indices": list(range(len(customdata))), "box": [],
                          "lasso": []}}


def _valid(fig: go.Figure) -> go.Figure:
    """Re-validate a figure built without validation (raises on any invalid property)."""
    return go.Figure(fig.to_dict())


def _main_bars(fig: go.Figure) -> list:
    return [t for t in fig.data if t.type == "bar" and t.width == 7]


# --------------------------------------------------------------------------- selection logic

def test_bar_highlight_needs_a_selected_model_and_benchmark():
    bars = _bars()
    assert not charts.bar_highlight(bars, [], []).any()
    by_model = charts.bar_highlight(bars, ["lenet5-mag-0.5-s1"], [])
    assert by_model.tolist() == [False, True, False, False] * 2
    both = charts.bar_highlight(bars, ["lenet5-mag-0.5-s1", "vgg16-snip-0.5-rt"],
                                ["gaussian_noise-2"])
    assert both.tolist() == [False] * 4 + [False, True, False, True]
    by_bench = charts.bar_highlight(bars, [], ["clean"])
    assert by_bench.tolist() == [True] * 4 + [False] * 4


def test_bar_selection_maps_bar_keys_to_ids_in_order():
    bars = _bars()
    key = selection.bar_key("lenet5", "magnitude", False, 0.5, "gaussian_noise")
    other = selection.bar_key("vgg16", "snip", True, 0.5, "clean")
    models, benchmarks = selection.bar_selection(_event([key, 1.0], [other, 2.0], ["unknown"]),
                                              bars)
    assert models == ["lenet5-mag-0.5-s0", "lenet5-mag-0.5-s1", "vgg16-snip-0.5-rt"]
    assert benchmarks == ["gaussian_noise-1", "gaussian_noise-2", "clean"]
    assert selection.bar_selection(None, bars) == ([], [])
    assert selection.bar_selection(_event(), bars) == ([], [])


def test_point_selection_reads_model_ids():
    event = _event(["m1", "clean"], ["m2", "clean"], ["m1", "gaussian_noise-1"])
    assert selection.point_selection(event) == ["m1", "m2"]


def test_with_subset_delta_is_subset_minus_whole():
    bars = _bars()
    subset = bars.iloc[[1, 5]][["arch", "method", "retrained", "ratio", "corruption"]].assign(
        subset_accuracy=[0.95, 0.40], n_samples=10)
    merged = charts.with_subset(bars, subset)
    assert merged["delta"].iloc[1] == pytest.approx(0.95 - 0.85)
    assert merged["delta"].iloc[5] == pytest.approx(0.40 - 0.65)
    assert merged["delta"].drop(index=[1, 5]).isna().all()


# --------------------------------------------------------------------------- evaluation table

def test_table_rows_blocks_reference_lines_and_keys():
    fig = _valid(charts.evaluation_table_figure(_bars(), title="t"))
    layout = fig.to_dict()["layout"]
    block = charts.TABLE_BLOCK
    # Rows (facets): lenet5·magnitude, vgg16·snip; column blocks: clean, gaussian_noise.
    assert {k for k in layout if k.startswith("xaxis")} == {"xaxis", "xaxis2"}
    assert {k for k in layout if k.startswith("yaxis")} == {"yaxis", "yaxis2"}
    assert layout["xaxis2"]["matches"] == "x" and layout["yaxis2"]["matches"] == "y"
    main = _main_bars(fig)
    assert [(t.xaxis, t.yaxis, t.name) for t in main] == [("x", "y", "magnitude"),
                                                          ("x2", "y2", "snip")]
    lenet = main[0]
    assert list(lenet.x) == pytest.approx([50, 90, block + 50, block + 90])
    assert list(lenet.y) == pytest.approx([85, 60, 65, 40])
    assert [c[0] for c in lenet.customdata] == [
        selection.bar_key("lenet5", "magnitude", False, r, c)
        for c in ("clean", "gaussian_noise") for r in (0.5, 0.9)]
    assert [c[7] for c in lenet.customdata] == pytest.approx([90, 90, 70, 70])
    assert lenet.customdata[0][4] == 2  # two seeds behind the 0.5 bar
    # Dense reference only for the arch that has a dense model (lenet5, not vgg16).
    dense = [t for t in fig.data if t.name == "dense model (reference)"]
    assert len(dense) == 1 and dense[0].yaxis == "y"
    assert list(dense[0].x) == [0, 100, None, block, block + 100, None]
    assert list(dense[0].y) == pytest.approx([90, 90, None, 70, 70, None])
    texts = [a.text for a in fig.layout.annotations]
    assert "clean" in texts and "gaussian noise" in texts and "accuracy (%)" in texts
    assert any(t.startswith("pruning ratio (%") for t in texts)
    assert fig.layout.title.text == "t" and fig.layout.showlegend
    assert {t.name for t in fig.data if t.showlegend is not False} >= {
        "magnitude", "snip", "dense model (reference)"}


def test_table_highlights_selected_bars_and_dims_the_rest():
    fig = charts.evaluation_table_figure(_bars(), selected_models=["lenet5-mag-0.9"],
                                         selected_benchmarks=["clean"], title="t")
    for trace in _main_bars(fig):
        for key, width, opacity in zip([c[0] for c in trace.customdata],
                                       trace.marker.line.width, trace.marker.opacity):
            chosen = key == selection.bar_key("lenet5", "magnitude", False, 0.9, "clean")
            assert width == (1 if chosen else 0)
            assert opacity == (1.0 if chosen else charts.DIMMED_OPACITY)


def test_table_subset_bars_show_subset_and_coloured_delta():
    bars = _bars()
    subset = bars[["arch", "method", "retrained", "ratio", "corruption"]].assign(
        subset_accuracy=bars["accuracy"] + np.array([0.05, 0.1, -0.2, 0.0, -0.1, 0.02, 0.3, -0.05]),
        n_samples=5)
    fig = _valid(charts.evaluation_table_figure(charts.with_subset(bars, subset), title="t"))
    main = _main_bars(fig)
    deltas = [t for t in fig.data if t.type == "bar" and t.width == 3]
    assert [(t.xaxis, t.yaxis) for t in deltas] == [(t.xaxis, t.yaxis) for t in main]
    # lenet5 magnitude: clean 0.5, clean 0.9, noise 0.5, noise 0.9.
    assert list(deltas[0].base) == pytest.approx([85, 60, 65, 40])
    assert list(deltas[0].y) == pytest.approx([10, -20, 2, 30])
    assert list(deltas[0].marker.color) == [charts.GAIN_COLOUR, charts.LOSS_COLOUR,
                                            charts.GAIN_COLOUR, charts.GAIN_COLOUR]
    assert list(main[0].y) == pytest.approx([95, 40, 67, 70])
    # The dense reference follows the subset too: clean 0.9 + 0.05, noise 0.7 − 0.1.
    dense = next(t for t in fig.data if t.name == "dense model (reference)")
    assert list(dense.y) == pytest.approx([95, 95, None, 60, 60, None])
    assert {"gain on selected samples", "loss on selected samples"} <= {t.name for t in fig.data}


def test_table_needs_a_pruned_model():
    bars = _bars()
    with pytest.raises(ValueError, match="at least one pruned"):
        charts.evaluation_table_figure(bars[bars["method"] == "dense"], title="t")


def test_table_csv_has_one_row_per_bar_with_ids():
    frame = charts.table_csv_frame(_bars())
    assert len(frame) == 8
    assert frame["model_ids"].iloc[1] == "lenet5-mag-0.5-s0 lenet5-mag-0.5-s1"


# --------------------------------------------------------------------------- similarity view

def _points(n_models: int, benchmarks=("clean", "fog-1"), seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = [pd.DataFrame({
        "model_id": [f"m{i}" for i in range(n_models)], "benchmark_id": b,
        "x": rng.normal(size=n_models), "y": rng.normal(size=n_models),
        "arch": np.where(np.arange(n_models) % 2, "vgg16", "lenet5"),
        "method": np.array(["magnitude", "snip", "mpt"])[np.arange(n_models) % 3],
        "ratio": (np.arange(n_models) % 9 + 1) / 10, "retrained": np.arange(n_models) % 4 == 0})
        for b in benchmarks]
    return pd.concat(frames, ignore_index=True)


def _distances(points: pd.DataFrame) -> pd.DataFrame:
    """True distances standing in for `geometry_distances`: Euclidean between the placed points
    (so the tree's drawn lengths can be checked against them)."""
    frames = []
    for benchmark, group in points.groupby("benchmark_id"):
        ids, xy = group["model_id"].to_numpy(), group[["x", "y"]].to_numpy()
        i, j = np.triu_indices(len(ids), k=1)
        a, b = np.where(ids[i] < ids[j], ids[i], ids[j]), np.where(ids[i] < ids[j], ids[j], ids[i])
        frames.append(pd.DataFrame({"benchmark_id": benchmark, "model_a": a, "model_b": b,
                                    "distance": cdist(xy, xy)[i, j]}))
    return pd.concat(frames, ignore_index=True)


def _trees(distances: pd.DataFrame, among=None) -> pd.DataFrame:
    return pd.concat([geometry_mst(rows, among=among).assign(benchmark_id=b)
                      for b, rows in distances.groupby("benchmark_id")], ignore_index=True)


def test_mst_segments_join_the_placed_points_of_each_edge():
    points = _points(12)
    edges = _trees(_distances(points))
    segments = charts.mst_segments(points, edges)
    for benchmark, group in points.groupby("benchmark_id"):
        xy = group[["x", "y"]].to_numpy()
        drawn = segments[segments["benchmark_id"] == benchmark]
        assert len(drawn) == len(xy) - 1
        assert drawn["distance"].sum() == pytest.approx(scipy_mst(cdist(xy, xy)).sum())
        assert np.hypot(drawn["x1"] - drawn["x0"], drawn["y1"] - drawn["y0"]).to_numpy() == (
            pytest.approx(drawn["distance"].to_numpy()))
    # Edges of models that are not placed (another benchmark, a missing model) are not drawn.
    assert charts.mst_segments(points[points["model_id"] != "m3"], edges)[
        ["model_a", "model_b"]].isin(["m3"]).sum().sum() == 0


def test_mst_follows_among_and_is_drawn_only_between_those_models():
    points = _points(10, benchmarks=("clean",))
    among = ["m1", "m4", "m7", "m8"]
    edges = _trees(_distances(points), among=among)
    assert len(edges) == 3 and set(edges["model_a"]) | set(edges["model_b"]) == set(among)
    fig, _ = charts.embedding_figure(points, mst_edges=edges, selected_models=among)
    mst = [t for t in _valid(fig).data if t.name.startswith("MST")]
    assert len(mst) == 1
    place = dict(zip(points["model_id"], zip(points["x"], points["y"])))
    ends = {(x, y) for x, y in zip(mst[0].x, mst[0].y) if x is not None}
    assert ends == {place[m] for m in among}


def test_coincident_models_are_one_marker_with_a_count_and_a_listing_tooltip():
    points = _points(6, benchmarks=("clean",))
    points.loc[points["model_id"].isin(["m0", "m2", "m5"]), ["x", "y"]] = [0.25, -1.5]
    markers = charts.coincident_markers(points)
    assert len(markers) == 4
    group = markers[markers["n_models"] == 3].iloc[0]
    assert group["members"] == ("m0", "m2", "m5") and group["model_id"] == "m0"
    fig, _ = charts.embedding_figure(points, selected_models=["m2"])
    fig = _valid(fig)
    coincident = [t for t in fig.data if t.name == charts.COINCIDENT_NAME]
    assert len(coincident) == 1 and list(coincident[0].x) == [0.25]
    assert list(coincident[0].text) == ["×3"]
    assert coincident[0].marker.size[0] > 14  # larger than a lone 0 % model
    tooltip = coincident[0].hovertext[0]
    assert "3 coincident models" in tooltip and all(m in tooltip for m in ("m0", "m2", "m5"))
    assert "● m2" in tooltip  # the selected member is marked
    # The three models are drawn nowhere else, and the marker stands for all of them.
    singles = [c[0] for t in fig.data if t.name in ("magnitude", "snip", "mpt")
               for c in t.customdata]
    assert sorted(singles) == ["m1", "m3", "m4"]
    key = coincident[0].customdata[0][0]
    assert charts.marker_models(selection.point_selection(_event([key, "clean"]))) == [
        "m0", "m2", "m5"]
    ring = [t for t in fig.data if t.name == charts.SELECTED_NAME]
    assert [c[0] for c in ring[0].customdata] == [key]


def test_placement_quality_line_reads_one_or_several_benchmarks():
    one = pd.DataFrame({"benchmark_id": ["clean"], "n_models": [30], "n_neighbors": [5],
                        "trustworthiness": [0.912], "spearman": [0.934]})
    text = charts.placement_quality_line(one, space="geometry")
    assert "distances kept: ρ = 0.93" in text and "5-nearest neighbours kept: 91 %" in text
    several = pd.DataFrame({"benchmark_id": ["a", "b", "c"], "n_models": 30,
                            "n_neighbors": 5, "trustworthiness": [0.8, 0.9, 0.95],
                            "spearman": [0.7, 0.9, 0.8]})
    text = charts.placement_quality_line(several, space="geometry_umap")
    assert "over 3 benchmarks" in text and "ρ = 0.80 (median; 0.70–0.90)" in text
    assert "90 % (median; 80 %–95 %)" in text and "UMAP" in text
    assert "No quality measured" in charts.placement_quality_line(one.iloc[:0], space="cka")


def test_sample_points_keeps_flagged_rows_and_caps():
    points = _points(100, benchmarks=("clean",))
    keep = np.zeros(100, bool)
    keep[[3, 50, 97]] = True
    sampled = charts.sample_points(points, 20, keep=keep, seed=1)
    assert len(sampled) == 20 and {3, 50, 97} <= set(sampled.index)
    assert sampled.index.is_monotonic_increasing
    assert charts.sample_points(points, 20, keep=keep, seed=1).equals(sampled)
    assert charts.sample_points(points, 500) is points
    with pytest.raises(ValueError, match="max_points"):
        charts.sample_points(points, 0)


def test_embedding_figure_encodes_and_highlights():
    points = _points(9)
    fig, note = charts.embedding_figure(points, selected_models=["m1", "m4"],
                                        mst_edges=_trees(_distances(points)))
    fig = _valid(fig)
    assert note is None
    ring = [t for t in fig.data if t.name == charts.SELECTED_NAME]
    assert len(ring) == 1 and sorted(c[0] for c in ring[0].customdata) == ["m1", "m1", "m4", "m4"]
    snip = next(t for t in fig.data if t.name == "snip" and t.mode == "markers")
    assert all(c[0] in {"m1", "m4", "m7"} for c in snip.customdata)
    assert snip.marker.color == charts.METHOD_COLOURS["snip"]
    by_model = {c[0]: (s, o, z) for c, s, o, z in zip(snip.customdata, snip.marker.symbol,
                                                      snip.marker.opacity, snip.marker.size)}
    # m4: lenet5 (circle), retrained (filled), ratio 0.5; m7: vgg16, not retrained, ratio 0.8.
    assert by_model["m4"] == ("circle", 0.9, pytest.approx(13.0))
    assert by_model["m7"] == ("square-open", charts.DIMMED_OPACITY, pytest.approx(17.2))
    assert sum(1 for t in fig.data if t.name.startswith("MST")) == 2
    assert "standardised distance units" in fig.layout.xaxis.title.text
    assert fig.layout.yaxis.scaleanchor == "x" and fig.layout.title.text
    umap, _ = charts.embedding_figure(points, space="geometry_umap")
    assert "UMAP 1" in umap.layout.xaxis.title.text and umap.layout.yaxis.scaleanchor is None
    assert not any(t.name.startswith("MST") for t in umap.data)


def test_embedding_figure_uses_webgl_and_notes_sampling():
    points = _points(300, benchmarks=[f"b{i}" for i in range(10)])
    fig, note = charts.embedding_figure(points, space="cka", selected_models=["m5"],
                                        max_points=2000)
    assert {t.type for t in fig.data if t.name in ("magnitude", "snip", "mpt")} == {"scattergl"}
    drawn = [c for t in fig.data if t.name in ("magnitude", "snip", "mpt") for c in t.customdata]
    assert len(drawn) == 2000 and sum(c[0] == "m5" for c in drawn) == 10
    assert "Showing 2,000 of 3,000 markers" in note
    assert "CKA placement 1" in fig.layout.xaxis.title.text


# --------------------------------------------------------------------------- insights

def _correlations() -> pd.DataFrame:
    rows = [("a", "robustness", "angle", -0.7), ("b", "robustness", "angle", -0.5),
            ("a", "robustness", "l2", 0.1), ("b", "robustness", "l2", 0.0),
            ("a", "robustness", "margin", 0.3), ("b", "robustness", "margin", 0.4),
            ("a", "pv", "angle", -0.2), ("b", "pv", "angle", -0.2)]
    return pd.DataFrame(rows, columns=["model_id", "target", "metric", "pearson"]).assign(
        spearman=0.0, n=100)


def test_strength_thresholds():
    assert [charts.strength(r) for r in (-0.62, 0.5, 0.49, -0.3, 0.29, 0.0)] == [
        "strong", "strong", "moderate", "moderate", "weak", "weak"]


def test_correlation_reading_averages_over_models():
    text = charts.correlation_reading(_correlations(), ["a", "b"])
    assert text.startswith("Robustness correlates with angle at r = −0.60 (strong), margin at "
                           "r = 0.35 (moderate), l2 at r = 0.05 (weak).")
    assert "PV correlates with angle at r = −0.20 (weak)." in text
    assert "mean over 2 shown models" in text
    assert "−0.70" in charts.correlation_reading(_correlations(), ["a"])


def test_correlation_figure_is_annotated_per_target():
    fig = charts.correlation_figure(_correlations(), ["b", "a"])
    _valid(fig)
    heatmaps = [t for t in fig.data if t.type == "heatmap"]
    assert [list(t.x) for t in heatmaps] == [["angle", "l2", "margin"]] * 2
    assert [list(t.y) for t in heatmaps] == [["b", "a"]] * 2
    assert np.asarray(heatmaps[0].z, float)[0] == pytest.approx([-0.5, 0.0, 0.4])
    assert np.asarray(heatmaps[1].z, float)[0] == pytest.approx([-0.2, np.nan, np.nan],
                                                                nan_ok=True)
    assert heatmaps[0].texttemplate and fig.layout.coloraxis.colorbar.title.text
    assert fig.layout.xaxis.title.text and fig.layout.yaxis.title.text


def test_correlation_models_prefers_selected_and_caps():
    available = [f"m{i}" for i in range(30)]
    assert charts.correlation_models(available, ["m3", "zz", "m1"]) == (["m1", "m3"], None)
    shown, note = charts.correlation_models(available, [], limit=10)
    assert shown == available[:10] and "10 of 30" in note


def test_redundancy_reading_and_figure():
    similarity = pd.DataFrame({
        "corruption_a": ["fog", "gaussian_noise", "brightness", "contrast"],
        "corruption_b": ["snow", "shot_noise", "clean", "pixelate"],
        "similarity": [0.91, 0.97, 0.95, 0.2], "measure": "accuracy_pearson",
        "rank": [3, 1, 2, 4]})
    text = charts.redundancy_reading(similarity, measure="accuracy_pearson")
    assert text.startswith("Most redundant: gaussian_noise ~ shot_noise (r = 0.97) and "
                           "brightness ~ clean (r = 0.95); least alike: contrast ~ pixelate")
    assert "3 of 4 pairs have r ≥ 0.9" in text
    fig = _valid(charts.redundancy_figure(similarity, measure="accuracy_pearson", top=2))
    assert list(fig.data[0].y) == ["gaussian_noise ~ shot_noise", "brightness ~ clean"]
    assert fig.layout.showlegend and fig.layout.xaxis.title.text


def _both_measures() -> pd.DataFrame:
    """12 pairs of corruptions c0..c4 and clean ranked by accuracy r (c0~c1 most alike) and by
    geometry distance, which agree on c0~c1 and c2~c3 (in the top 3 of both) but not on c0~c2
    (top by accuracy, last by geometry) nor on c3~c4 (top by geometry, last by accuracy)."""
    pairs = [("c0", "c1"), ("c0", "c2"), ("c3", "c2"), ("c1", "c3"), ("c0", "c3"), ("c1", "c2"),
             ("c0", "c4"), ("c1", "c4"), ("c2", "c4"), ("c4", "clean"), ("c0", "clean"),
             ("c3", "c4")]
    r = np.linspace(0.99, 0.2, len(pairs))
    d = dict(zip(pairs, np.linspace(0.3, 0.9, len(pairs))))
    d[("c0", "c2")], d[("c3", "c4")] = 2.0, 0.1
    d[("c3", "c2")], d[("c0", "c1")] = 0.15, 0.2
    accuracy = pd.DataFrame({"corruption_a": [a for a, _ in pairs],
                             "corruption_b": [b for _, b in pairs], "similarity": r,
                             "measure": "accuracy_pearson", "rank": np.arange(1, 13)})
    # The geometry table writes each pair sorted (corruption_a < corruption_b).
    geometry = pd.DataFrame([(*sorted(p), v) for p, v in d.items()],
                            columns=["corruption_a", "corruption_b", "similarity"])
    geometry["rank"] = geometry["similarity"].rank(method="min").astype(int)
    return pd.concat([accuracy, geometry.assign(measure=charts.GEOMETRY_MEASURE)],
                     ignore_index=True)


def test_redundant_by_both_applies_the_stated_top_k_rule():
    similarity = _both_measures()
    pairs, k = charts.redundant_by_both(similarity, measure="accuracy_pearson")
    assert k == 3  # a quarter of the 12 pairs, fewer than REDUNDANT_TOP_K
    assert list(zip(pairs["corruption_a"], pairs["corruption_b"])) == [("c0", "c1"),
                                                                       ("c2", "c3")]
    assert pairs["distance"].tolist() == pytest.approx([0.2, 0.15])
    wide, k = charts.redundant_by_both(similarity, measure="accuracy_pearson", top_k=2)
    assert k == 2 and wide.empty  # c0~c1 is third by geometry, c2~c3 third by accuracy
    text = charts.redundant_by_both_reading(similarity, measure="accuracy_pearson")
    assert text.startswith("Redundant by both accuracy and geometry: c0 ≈ c1 (r = 0.99, "
                           "d = 0.20), c2 ≈ c3 (r = ")
    assert "c0 ≈ c2" not in text and "c3 ≈ c4" not in text and "3 most redundant" in text
    # Geometry ranking the reverse of accuracy's: the most alike by accuracy move the most.
    accuracy = similarity[similarity["measure"] == "accuracy_pearson"]
    disagree = pd.concat([accuracy, accuracy.assign(measure=charts.GEOMETRY_MEASURE,
                                                    rank=accuracy["rank"].to_numpy()[::-1])])
    assert charts.redundant_by_both_reading(disagree, measure="accuracy_pearson").startswith(
        "No corruption pair is redundant by both")
    accuracy_only = similarity[similarity["measure"] == "accuracy_pearson"]
    assert charts.redundant_by_both_reading(accuracy_only, measure="accuracy_pearson") == ""


def test_redundancy_figure_ranks_both_measures_and_marks_pairs_redundant_by_both():
    fig = _valid(charts.redundancy_figure(_both_measures(), measure="accuracy_pearson", top=4))
    accuracy, geometry = (t for t in fig.data if t.y is not None and None not in t.y)
    assert list(accuracy.y) == ["c0 ~ c1", "c0 ~ c2", "c2 ~ c3", "c1 ~ c3"]
    assert list(geometry.y) == ["c3 ~ c4", "c2 ~ c3", "c0 ~ c1", "c1 ~ c3"]  # shortest first
    assert geometry.xaxis == "x2" and fig.layout.xaxis2.title.text
    orange = charts.METHOD_COLOURS["snip"]
    assert [c == orange for c in accuracy.marker.color] == [True, False, True, False]
    assert [c == orange for c in geometry.marker.color] == [False, True, True, False]
    # The legend: three entries, each one swatch of one colour, three different colours; the
    # entries' colours are the bars' own (not the first bar's, which may be orange).
    legend = {t.name: t.marker.color for t in fig.data if t.showlegend is not False}
    assert list(legend) == [accuracy.name, geometry.name, "redundant by both"]
    assert all(isinstance(c, str) for c in legend.values()) and len(set(legend.values())) == 3
    assert legend[accuracy.name] in accuracy.marker.color
    assert legend[geometry.name] in geometry.marker.color
    assert legend["redundant by both"] == orange
    alone = charts.redundancy_figure(_both_measures().query("measure != 'geometry_distance'"),
                                     measure="accuracy_pearson")
    assert [t.name for t in alone.data if t.showlegend is not False] == [accuracy.name]


def test_dimension_reading_and_figure():
    dims = pd.DataFrame({"kind": ["random", "random", "trained", "trained"],
                         "dim": [4, 256, 84, 84], "mean": [90.0, 90.0, 40.0, 50.0],
                         "std": [28.6, 3.6, 10.0, 12.0], "model_id": [None, None, "a", "b"]})
    text = charts.dimension_reading(dims)
    assert "90.0° ± 28.6° at d = 4, narrowing to 90.0° ± 3.6° at d = 256" in text
    assert "45.0° from their true class direction on average (model means 40.0–50.0°, 2 models)" \
        in text
    fig = _valid(charts.dimension_figure(dims))
    assert fig.layout.xaxis.type == "log" and "degrees" in fig.layout.yaxis.title.text
    assert {t.name for t in fig.data if t.name} >= {"random vectors: mean", "random: ± 1 std"}


def _vulnerable(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    score = rng.random(n)
    pie = pd.array(score + rng.normal(scale=0.3, size=n) > 0.8, dtype="boolean")
    low = pd.array(score + rng.normal(scale=0.3, size=n) > 0.5, dtype="boolean")
    low[:10] = pd.NA
    return pd.DataFrame({"sample_id": np.arange(n), "pie": pie, "low_pv": low,
                         "geometric_score": score})


def test_roc_curves_integrate_to_sklearn_auc():
    samples = _vulnerable()
    curves = roc_curves(samples)
    assert set(curves["target"]) == {"pie", "low_pv"}
    for target, curve in curves.groupby("target"):
        known = samples[samples[target].notna()]
        area = np.trapezoid(curve["tpr"], curve["fpr"])
        assert area == pytest.approx(roc_auc_score(known[target].astype(bool),
                                                   known["geometric_score"]))
    one_class = samples.assign(pie=True, low_pv=pd.array([pd.NA] * len(samples), "boolean"))
    assert roc_curves(one_class).empty
    with pytest.raises(ValueError, match="`samples` must have the columns geometric_score"):
        roc_curves(samples.drop(columns="low_pv"))


def test_roc_figure_and_reading_use_the_stored_auc():
    auc = pd.DataFrame({"arch": "lenet5", "target": ["pie", "low_pv", "pie"],
                        "score": ["geometric", "geometric", "neg_margin"],
                        "auc": [0.81, 0.74, 0.86], "n_positive": [40, 120, 40], "n": 400})
    fig = _valid(charts.roc_figure(roc_curves(_vulnerable()), auc, arch="lenet5"))
    names = [t.name for t in fig.data]
    assert any("AUC 0.81" in n for n in names) and any("AUC 0.74" in n for n in names)
    assert "chance (AUC 0.5)" in names
    text = charts.roc_reading(auc, arch="lenet5")
    assert text == ("The geometric score finds AUC 0.81 for samples where the dense model "
                    "disagrees with the other pruned models (40 of 400) and AUC 0.74 for "
                    "low-PV samples (120 of 400) (0.5 = chance). For the disagreeing samples "
                    "the single score neg_margin does better (AUC 0.86).")
    assert charts.roc_reading(auc, arch="vgg16") == ""


def test_top_flagged_orders_by_score_then_id():
    samples = pd.DataFrame({"sample_id": [5, 2, 9, 1], "geometric_score": [0.5, 0.9, 0.5, np.nan],
                            "pie": True, "low_pv": False})
    assert charts.top_flagged(samples, 2) == [2, 5]
    assert charts.top_flagged(samples, 10) == [2, 5, 9]
    with pytest.raises(ValueError, match="`k` must be >= 1"):
        charts.top_flagged(samples, 0)


def test_plotly_config_downloads_png():
    config = charts.plotly_config("table")
    assert config["toImageButtonOptions"] == {"format": "png", "filename": "table", "scale": 2}


def _pie_rows():
    counts = pd.DataFrame({"method": "magnitude", "ratio": [0.5, 0.9, 0.5, 0.9],
                           "retrained": [False, False, True, True], "n_pie": [3, 40, 2, 9],
                           "n": 1000, "n_seeds": 5})
    auc = pd.DataFrame([("magnitude", r, t, s, a, n, 1000) for r, t, n, scores in [
        (0.5, False, 3, {"geometric": 0.9, "angle": 0.8, "neg_margin": 0.95, "neg_l2": 0.6}),
        (0.9, False, 40, {"geometric": 0.85, "angle": 0.8, "neg_margin": 0.7, "neg_l2": 0.6})]
        for s, a in scores.items()],
        columns=["method", "ratio", "retrained", "score", "auc", "n_positive", "n"])
    return counts, auc


def test_pie_count_figure_has_a_bar_per_ratio_and_retraining():
    counts, _ = _pie_rows()
    fig = _valid(charts.pie_count_figure(counts, arch="lenet5"))
    assert [t.name for t in fig.data] == ["without retraining", "with retraining"]
    assert list(fig.data[0].x) == ["50 %", "90 %"] and list(fig.data[0].y) == [3, 40]
    assert list(fig.data[1].y) == [2, 9]
    assert float(fig.data[0].customdata[1][0]) == pytest.approx(4.0)    # 40 of 1000 in %


def test_pie_auc_table_and_reading():
    _, auc = _pie_rows()
    table = charts.pie_auc_table(auc)
    assert table.columns.tolist() == ["population", "PIEs", "geometric score", "angle",
                                      "−margin", "−l2"]
    assert table["population"].tolist() == ["magnitude 50 %", "magnitude 90 %"]
    assert table["PIEs"].tolist() == [3, 40]
    assert table["−margin"].tolist() == [0.95, 0.7]
    assert charts.pie_reading(auc) == (
        "The dense model's geometry alone against the seed population's PIEs (ROC AUC, 0.5 = "
        "chance; best score per population): magnitude 50 %: −margin 0.95 (geometric 0.90); "
        "magnitude 90 %: geometric score 0.85.")
    assert charts.pie_reading(auc.iloc[:0]) == ""
    assert charts.pie_auc_table(auc.iloc[:0]).empty


def test_table_tooltips_name_the_evaluation_subset_and_its_size():
    assert charts.evaluated_images(500) == "evaluation subset (500 images)"
    assert charts.evaluated_images(10_000) == "evaluation subset (10,000 images)"
    assert charts.evaluated_images(None) == charts.evaluated_images(float("nan")) == \
        "evaluation subset"
    bars = _bars()
    subset = bars.assign(subset_accuracy=bars["accuracy"] - 0.1)[
        ["arch", "method", "retrained", "ratio", "corruption", "subset_accuracy"]]
    fig = charts.evaluation_table_figure(charts.with_subset(bars, subset), title="t",
                                         n_images=500)
    templates = [t.hovertemplate for t in fig.data if t.type == "bar" and t.hovertemplate]
    assert templates and all("evaluation subset (500 images): %{customdata[1]:.1f}%" in t
                             for t in templates)
    assert not any("whole test set" in (t.hovertemplate or "") + (t.name or "")
                   for t in fig.data)
    assert any(t.name == "Δ vs evaluation subset (500 images)" for t in fig.data)


def test_saturate_note_on_grey_images_states_what_the_corruption_does():
    import torch

    from core.corruptions.digital import saturate
    from core.corruptions.parameters import CIFAR_PARAMETERS

    # The claim the note makes, checked on the corruption itself: a grey image is unchanged
    # at severities 1–3 and changed at 4–5.
    grey = torch.rand(4, 1, 8, 8)
    params = CIFAR_PARAMETERS["saturate"]
    for severity, p in enumerate(params, start=1):
        changed = (saturate(grey, p, None) - grey).abs().max().item() > 1e-5
        assert changed == (severity >= 4), severity
    pairs = pd.DataFrame({"corruption_a": ["saturate", "fog"], "corruption_b": ["clean", "snow"],
                          "similarity": [0.99, 0.9], "measure": "accuracy_pearson",
                          "rank": [1, 2]})
    note = charts.saturate_note(pairs, channels=1)
    assert "unchanged at severities 1–3" in note and "artefact" in note
    assert charts.saturate_note(pairs, channels=3) == ""
    assert charts.saturate_note(pairs[pairs.corruption_a == "fog"], channels=1) == ""


def test_the_geometry_tree_is_drawn_on_geometry_placements_only():
    points = _points(9)
    edges = _trees(_distances(points))
    for space in ("geometry", "geometry_umap", "cka"):
        fig, _ = charts.embedding_figure(points, space=space, mst_edges=edges)
        tree = [t for t in fig.data if t.name.startswith("MST")]
        assert bool(tree) == (space != "cka"), space
        assert ("minimum spanning tree" in fig.layout.title.text) == (space != "cka"), space
