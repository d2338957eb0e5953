"""The Guide: its networks in the plan and the experiment file, the pure geometry of a sample in
the plane, the upright labels, and the page on the tiny build (a chosen sample's drawn angle,
length and margin equal its row in sample_metrics)."""

import math

import duckdb
import numpy as np
import pandas as pd
import pytest

from app.charts import guide as charts
from app.charts.labels import column_label, parcoords_label_angle
from core.pipeline.experiment import GuideSpec, load_experiment, preset_path
from core.pipeline.plan import DataShape, guide_jobs, plan_build

SHAPE = DataShape(num_classes=10, in_channels=1, input_size=28)
GUIDE_2D_CE = "lenet5-m2-ce-dense-r0.0-s0"


# --- plan and experiment -----------------------------------------------------------------------

def test_demo_plans_the_guide_networks_as_dense_models():
    e = load_experiment(preset_path("demo"))
    jobs = guide_jobs(e, SHAPE)
    assert [j.model_id for j in jobs] == [
        "lenet5-m2-ce-dense-r0.0-s0", "lenet5-m2-label_smoothing-dense-r0.0-s0",
        "lenet5-m2-center-dense-r0.0-s0", "lenet5-ce-dense-r0.0-s0",
        "lenet5-label_smoothing-dense-r0.0-s0", "lenet5-center-dense-r0.0-s0"]
    assert {j.method for j in jobs} == {"dense"}
    planned = [j.model_id for j in plan_build(e, SHAPE).models]
    assert planned[-len(jobs):] == [j.model_id for j in jobs]
    assert len(set(planned)) == len(planned)
    # Only the 2-D network drops the ReLU on its features.
    assert '"linear_features": true' in jobs[0].config
    assert "linear_features" not in jobs[3].config


def test_guide_off_plans_nothing_and_bad_losses_are_refused(tmp_path):
    e = load_experiment(preset_path("demo"))
    from dataclasses import replace
    assert guide_jobs(replace(e, guide=GuideSpec()), SHAPE) == ()
    path = tmp_path / "x.toml"
    path.write_text('[guide]\nenabled = true\nlosses = ["ce", "hinge"]\n')
    with pytest.raises(ValueError,
                       match=r"\[guide\]: `losses` must be a list of distinct names from"):
        load_experiment(path)
    path.write_text('[guide]\nenabled = true\nepoch = 2\n')
    with pytest.raises(ValueError, match=r"\[guide\]: unknown key\(s\) \['epoch'\]"):
        load_experiment(path)


# --- pure geometry -------------------------------------------------------------------------------

WEIGHT = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
BIAS = np.zeros(3)


def test_sample_geometry_by_hand_correct_sample():
    g = charts.sample_geometry([2.0, 1.0], WEIGHT, BIAS, 0)
    assert g.pred == 0 and g.correct
    assert g.angle == pytest.approx(math.degrees(math.atan(0.5)))
    assert g.length == pytest.approx(math.sqrt(5))
    # Nearest boundary of class 0 is the one with class 1 (x = y), at (2 − 1)/√2.
    assert g.rival == 1
    assert g.margin == pytest.approx(1 / math.sqrt(2))
    assert np.allclose(g.foot, [1.5, 1.5])


def test_sample_geometry_by_hand_wrong_sample_has_negative_margin():
    g = charts.sample_geometry([2.0, 1.0], WEIGHT, np.array([0.0, 0.0, 0.0]), 1)
    assert g.pred == 0 and not g.correct
    assert g.angle == pytest.approx(90 - math.degrees(math.atan(0.5)))
    assert g.margin == pytest.approx(-1 / math.sqrt(2))


def test_decision_regions_are_the_heads_argmax():
    axis, classes = charts.decision_regions(WEIGHT, np.array([0.0, 0.5, 0.0]), 2.0, n=41)
    assert axis[0] == -2.0 and axis[-1] == 2.0 and classes.shape == (41, 41)
    iy, ix = 30, 35                        # the point (axis[35], axis[30]) = (1.5, 1.0)
    z = np.array([axis[ix], axis[iy]])
    assert classes[iy, ix] == np.argmax(WEIGHT @ z + np.array([0.0, 0.5, 0.0]))
    assert set(np.unique(classes)) == {0, 1, 2}


def test_labels_are_upright_and_one_line():
    assert parcoords_label_angle(13) == -90 and parcoords_label_angle(3) == 0
    assert column_label("gaussian_noise") == "gaussian noise"


def test_many_parcoords_titles_stand_upright_with_room_above():
    import plotly.graph_objects as go

    from app.charts.labels import upright_axis_titles

    def figure(n):
        dims = [dict(label=f"∠ class number {i} (°)", values=[0, 1]) for i in range(n)]
        return go.Figure(go.Parcoords(dimensions=dims),
                         layout=dict(height=520, margin=dict(t=130)))

    many, few = upright_axis_titles(figure(8)), upright_axis_titles(figure(3))
    assert many.data[0].labelangle == -90
    assert many.layout.margin.t == 130 + 7 * len("∠ class number 0 (°)")
    assert many.layout.height == 520 + 7 * len("∠ class number 0 (°)")
    assert few.data[0].labelangle is None and few.layout.margin.t == 130


def test_evaluation_table_column_labels_stand_upright():
    import pandas as pd

    from app.charts.overview.table import evaluation_table_figure

    bars = pd.DataFrame({
        "arch": "lenet5", "method": ["magnitude", "magnitude", "dense", "dense"],
        "retrained": False, "ratio": [0.5, 0.5, 0.0, 0.0],
        "corruption": ["spatter", "brightness", "spatter", "brightness"],
        "accuracy": [0.5, 0.6, 0.7, 0.8], "model_ids": [["a"], ["a"], ["d"], ["d"]],
        "benchmark_ids": [["s"], ["b"], ["s"], ["b"]]})
    fig = evaluation_table_figure(bars, title="t")
    columns = [a for a in fig.layout.annotations if a.text in ("spatter", "brightness")]
    assert len(columns) == 2 and {a.textangle for a in columns} == {-90}


# --- the page on the tiny build ---------------------------------------------------------------

def _row(db, sample_id):
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(
            "SELECT m.angle, m.l2, m.margin, m.correct, m.label, f.feature FROM sample_metrics m "
            "JOIN features f USING (model_id, benchmark_id, sample_id) WHERE m.model_id = ? "
            "AND m.benchmark_id = 'clean' AND m.sample_id = ?", [GUIDE_2D_CE, sample_id]
        ).fetchone()


def test_tiny_build_has_the_guide_networks(tiny_db):
    with duckdb.connect(str(tiny_db), read_only=True) as con:
        models = dict(con.execute("SELECT model_id, feature_dim FROM models WHERE arch LIKE "
                                  "'lenet5-m2-%'").fetchall())
        n_benchmarks = con.execute("SELECT count(*) FROM benchmarks").fetchone()[0]
        evaluated = con.execute("SELECT count(*) FROM evaluations WHERE model_id = ?",
                                [GUIDE_2D_CE]).fetchone()[0]
    assert models == {GUIDE_2D_CE: 2, "lenet5-m2-center-dense-r0.0-s0": 2}
    assert evaluated == n_benchmarks


def test_guide_renders_without_a_chosen_sample(run_page, tiny_db):
    at = run_page("guide", tiny_db)
    assert not at.exception
    assert at.selectbox(key="guide_model").value == GUIDE_2D_CE
    assert len(at.metric) == 0
    assert any("Click a point" in info.value for info in at.info)
    assert len(at.get("plotly_chart")) >= 3       # the plane, the loss planes, the bars
    assert len(at.dataframe) == 1 and len(at.dataframe[0].value) == 2


def test_chosen_sample_draws_its_metrics_as_stored(run_page, tiny_db):
    with duckdb.connect(str(tiny_db), read_only=True) as con:
        sample_id = con.execute("SELECT min(sample_id) FROM sample_metrics WHERE model_id = ? "
                                "AND benchmark_id = 'clean' AND NOT correct",
                                [GUIDE_2D_CE]).fetchone()[0]
    angle, l2, margin, correct, label, feature = _row(tiny_db, sample_id)
    at = run_page("guide", tiny_db, guide_sample=sample_id)
    assert not at.exception
    shown = {m.label: m.value for m in at.metric}
    assert shown["Angle to the class direction"] == f"{angle:.2f}°"
    assert shown["Length (L2 norm)"] == f"{l2:.3f}"
    assert shown["Signed margin"] == f"{margin:.3f}"
    assert margin < 0 and not correct
    assert any("wrong — predicted" in m.value for m in at.markdown)
    # The drawing, from the stored feature and the checkpoint's head, matches the stored row.
    import json

    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    traces = {t.get("name"): t for t in spec["data"]}
    ray = traces["length ‖X‖"]
    assert math.hypot(ray["x"][1], ray["y"][1]) == pytest.approx(l2, rel=1e-4)
    seg = traces["margin"]
    drawn = math.hypot(seg["x"][1] - seg["x"][0], seg["y"][1] - seg["y"][0])
    assert drawn == pytest.approx(abs(margin), rel=1e-3, abs=1e-4)
    assert np.allclose([ray["x"][1], ray["y"][1]], feature, rtol=1e-5)
    assert any(name.startswith("chosen: wrong") for name in traces if name)


def test_the_angle_arc_is_no_class_colour_and_sits_on_a_white_casing():
    from plotly.colors import hex_to_rgb

    rng = np.random.default_rng(0)
    points = pd.DataFrame({"sample_id": np.arange(300), "x": rng.normal(size=300),
                           "y": rng.normal(size=300), "label": np.arange(300) % 3,
                           "pred": np.arange(300) % 3, "correct": True})
    chosen = charts.sample_geometry([2.0, 1.0], WEIGHT, BIAS, 0)
    fig = charts.feature_plane(points, WEIGHT, BIAS, ["a", "b", "c"], chosen=chosen)
    names = [t.name for t in fig.data]
    arc = names.index("angle to the class direction")
    colour = np.array(hex_to_rgb(fig.data[arc].line.color))
    for n in (3, 10, 24):  # the D3 palette up to 10 classes, Light24 beyond
        for class_colour in charts.class_colors(n):
            assert np.linalg.norm(colour - np.array(hex_to_rgb(class_colour))) > 100, class_colour
    # Drawn after every class point, right above a wider white line along the same path.
    casing = fig.data[arc - 1]
    assert arc > max(i for i, t in enumerate(fig.data) if t.type == "scatter" and
                     t.customdata is not None)
    assert casing.line.color == "white" and casing.line.width > fig.data[arc].line.width
    np.testing.assert_array_equal(casing.x, fig.data[arc].x)
    np.testing.assert_array_equal(casing.y, fig.data[arc].y)
