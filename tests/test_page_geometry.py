"""AppTest tests of the Geometry page, checked against independent SQL on the synthetic DB."""

import base64
import io
import json
import shutil

import duckdb
import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from app.pages import geometry as page
from app.widgets import placed


@pytest.fixture
def app(run_page):
    """``app(db_path, **preset)``: the Geometry page after its first run, without exception."""
    def run(db_path, **preset) -> AppTest:
        at = run_page("geometry", db_path, **preset)
        assert not at.exception, at.exception
        return at

    return run


def _query(db_path, sql, params=()):
    with duckdb.connect(str(db_path), read_only=True) as con:
        return con.execute(sql, list(params)).df()


def _chart(at, key):
    charts = [c for c in at.get("plotly_chart") if c.proto.id.endswith(key)]
    assert len(charts) == 1, [c.proto.id for c in at.get("plotly_chart")]
    return charts[0]


def _decoded(value):
    """A Plotly JSON array: plain list or base64 typed array."""
    if isinstance(value, dict) and "bdata" in value:
        shape = [int(s) for s in str(value.get("shape", "-1")).split(",")]
        return np.frombuffer(base64.b64decode(value["bdata"]), value["dtype"]).reshape(shape)
    return np.asarray(value)


def _spec(at, key):
    return json.loads(_chart(at, key).proto.spec)


def _parcoords(at):
    """The global view's parallel-coordinates component and the figure it was given."""
    elements = at.get("component_instance")
    assert len(elements) == 1, [e.proto.component_name for e in elements]
    return elements[0], json.loads(elements[0].proto.json_args)["figure"]


def _brush(at, ranges):
    """What the browser sends after a brush on the parallel coordinates: the component's value."""
    element, _ = _parcoords(at)
    states = at._tree.get_widget_states()
    widget = states.widgets.add()
    widget.id = element.proto.id
    widget.json_value = json.dumps({"ranges": ranges})
    at._run(states)
    assert not at.exception, at.exception


def _texts(elements):
    return [e.value for e in elements]


def _lowest_clean_accuracy_model(db_path):
    return _query(db_path, "SELECT model_id, accuracy FROM evaluations WHERE benchmark_id = "
                           "'clean' ORDER BY accuracy, model_id LIMIT 1").iloc[0]


def test_empty_selections_explain_and_default_to_dense_and_clean(synth_db, app):
    at = app(synth_db)
    infos = " ".join(_texts(at.info))
    assert "No model is selected" in infos and "No benchmark is selected" in infos
    assert "No samples are selected" in infos
    dense = _query(synth_db, "SELECT model_id FROM models WHERE method = 'dense' ORDER BY arch "
                             "LIMIT 1").model_id[0]
    assert at.selectbox(key="geometry_selected_models_0").value == dense
    assert at.selectbox(key="geometry_selected_benchmarks_0").value == "clean"
    # Choosing writes the app-owned keys.
    other = _lowest_clean_accuracy_model(synth_db).model_id
    at.selectbox(key="geometry_selected_models_0").select(other).run()
    at.selectbox(key="geometry_selected_class").select(4).run()
    assert not at.exception
    assert at.session_state["selected_models"] == [other]
    assert at.session_state["selected_class"] == 4
    assert at.selectbox(key="geometry_selected_models_0").value == other


def test_local_view_panels_and_comparison_counts_match_sql(synth_db, app):
    model_a = _lowest_clean_accuracy_model(synth_db).model_id
    model_b = _query(synth_db, "SELECT model_id FROM models WHERE method = 'dense' LIMIT 1"
                     ).model_id[0]
    at = app(synth_db, selected_models=[model_a, model_b],
              selected_benchmarks=["clean"], selected_class=3)
    spec = _spec(at, "geometry_local_scatter")
    accuracy = _query(synth_db, "SELECT label, avg(correct::DOUBLE) AS acc FROM sample_metrics "
                                "WHERE model_id = ? AND benchmark_id = 'clean' GROUP BY label "
                                "ORDER BY label", [model_a])
    titles = [a["text"] for a in spec["layout"]["annotations"]]
    assert [t.split(" — ")[0] for t in titles] == [f"class {c}" for c in accuracy.label]
    assert [t.split("acc ")[1].split(" ")[0] for t in titles] == [f"{a:.1%}"
                                                                  for a in accuracy.acc]
    # Every sample of the benchmark is drawn once, red exactly when misclassified.
    red = [int(i) for t in spec["data"] if t["name"] == "incorrect"
           for i in _decoded(t["customdata"]).reshape(-1, 4)[:, 0]]
    wrong = _query(synth_db, "SELECT sample_id FROM sample_metrics WHERE model_id = ? AND "
                             "benchmark_id = 'clean' AND NOT correct ORDER BY 1", [model_a])
    assert sorted(red) == wrong.sample_id.tolist()
    # Few points: SVG, which holds no WebGL context (app/charts/trace_types.py).
    assert all(t["type"] == "scatter" for t in spec["data"])

    counts = _query(synth_db, """
        SELECT count(*) FILTER (a.correct AND b.correct) AS both,
               count(*) FILTER (a.correct AND NOT b.correct) AS lost,
               count(*) FILTER (NOT a.correct AND b.correct) AS gained,
               count(*) FILTER (NOT a.correct AND NOT b.correct) AS neither
        FROM sample_metrics a JOIN sample_metrics b USING (sample_id)
        WHERE a.model_id = ? AND b.model_id = ? AND a.benchmark_id = 'clean'
          AND b.benchmark_id = 'clean' AND a.label = 3""", [model_a, model_b]).iloc[0]
    metrics = {m.label: int(m.value.replace(",", "")) for m in at.metric}
    assert metrics == {"correct in both": counts.both, "correct → wrong": counts.lost,
                       "wrong → correct": counts.gained, "wrong in both": counts.neither}
    assert counts.gained > 0  # the hand-picked pair really differs
    assert at.selectbox(key="geometry_selected_models_1").value == model_b
    # A and B overlaid: exactly class 3's samples, each under both models, at their own metrics.
    class_3 = _query(synth_db, "SELECT model_id, sample_id, angle, l2, margin FROM sample_metrics "
                               "WHERE benchmark_id = 'clean' AND label = 3 AND model_id IN (?, ?) "
                               "ORDER BY sample_id", [model_a, model_b])
    overlay = _spec(at, "geometry_compare_overlay")["data"]
    for side, model in (("A", model_a), ("B", model_b)):
        traces = [t for t in overlay if t["legendgroup"] == side.lower()]
        # Models are named with their number: the place in the sorted selection (A, B).
        number = sorted([model_a, model_b]).index(model) + 1
        assert len(traces) == 3 and traces[0]["name"].startswith(f"{side}: #{number} {model}")
        expected = class_3[class_3.model_id == model]
        for trace in traces:
            ids = _decoded(trace["customdata"]).reshape(-1, 2)[:, 0].astype(int)
            assert ids.tolist() == expected.sample_id.tolist()
        np.testing.assert_allclose(_decoded(traces[0]["x"]), expected.angle, rtol=1e-5)
        np.testing.assert_allclose(_decoded(traces[2]["y"]), expected.margin, rtol=1e-5)
    delta = _spec(at, "geometry_compare_scatter")["data"]
    delta_ids = {int(i) for t in delta for i in _decoded(t["customdata"]).reshape(-1, 2)[:, 0]}
    assert delta_ids == set(class_3.sample_id)
    assert "Margin and probability of class 3" in _spec(
        at, "geometry_class_distributions")["layout"]["title"]["text"]


def test_benchmark_comparison_mode_counts_reference_vs_compared(synth_db, app):
    model = _lowest_clean_accuracy_model(synth_db).model_id
    compared = _query(synth_db, "SELECT benchmark_id FROM benchmarks WHERE corruption <> 'clean' "
                                "ORDER BY benchmark_id DESC LIMIT 1").benchmark_id[0]
    at = app(synth_db, selected_models=[model], reference_benchmark="clean",
              compared_benchmark=compared)
    at.radio(key="geometry_compare_mode").set_value(page._COMPARE_BENCHMARKS).run()
    assert not at.exception
    lost = _query(synth_db, """
        SELECT count(*) AS n FROM sample_metrics a JOIN sample_metrics b USING (sample_id)
        WHERE a.model_id = ? AND b.model_id = a.model_id AND a.benchmark_id = 'clean'
          AND b.benchmark_id = ? AND a.correct AND NOT b.correct AND a.label = 0""",
                  [model, compared]).n[0]
    metrics = {m.label: int(m.value.replace(",", "")) for m in at.metric}
    assert metrics["correct → wrong"] == lost
    assert compared in _spec(at, "geometry_compare_scatter")["layout"]["title"]["text"]


def _line_groups(figure):
    """Per parcoords line: its group code (colour), and every dimension's values by label."""
    trace = figure["data"][0]
    assert trace["type"] == "parcoords"
    return (_decoded(trace["line"]["color"]).astype(int),
            {d["label"]: _decoded(d["values"]) for d in trace["dimensions"]})


def test_global_view_compares_benchmarks_one_line_per_sample_and_n_plus_3_axes(synth_db, app):
    model = _lowest_clean_accuracy_model(synth_db).model_id
    compared = _query(synth_db, "SELECT benchmark_id FROM benchmarks WHERE corruption <> 'clean' "
                                "ORDER BY benchmark_id LIMIT 1").benchmark_id[0]
    at = app(synth_db, selected_models=[model], selected_class=2,
             reference_benchmark="clean", compared_benchmark=compared)
    at.radio(key="geometry_global_mode").set_value(page._COMPARE_BENCHMARKS).run()
    assert not at.exception
    codes, dimensions = _line_groups(_parcoords(at)[1])
    assert len(dimensions) == 10 + 3
    rows = _query(synth_db, "SELECT benchmark_id, angles[1] AS to_class_0 FROM sample_metrics "
                            "WHERE model_id = ? AND label = 2 AND benchmark_id IN ('clean', ?)",
                  [model, compared])
    assert len(codes) == len(rows)
    # Each benchmark's lines (reference = 0, compared = 1) carry exactly its samples' angles.
    for code, benchmark in ((1, compared), (0, "clean")):
        np.testing.assert_allclose(
            np.sort(dimensions["∠ class 0 (°)"][codes == code]),
            np.sort(rows.loc[rows.benchmark_id == benchmark, "to_class_0"]), rtol=1e-6)
    assert any("Showing all" in c for c in _texts(at.caption))


def test_global_view_draws_one_group_per_model_with_a_density_on_every_axis(synth_db, app):
    models = _query(synth_db, "SELECT model_id FROM models ORDER BY model_id LIMIT 3").model_id
    at = app(synth_db, selected_models=list(models), selected_benchmarks=["clean"],
             selected_class=4)
    assert at.multiselect(key="geometry_global_models").value == list(models)
    figure = _parcoords(at)[1]
    codes, dimensions = _line_groups(figure)
    rows = _query(synth_db, "SELECT model_id, sample_id, l2 FROM sample_metrics WHERE label = 4 "
                            "AND benchmark_id = 'clean' AND model_id IN (?, ?, ?)", list(models))
    assert sorted(np.unique(codes)) == [0, 1, 2]
    for code, model in enumerate(models):  # the group codes follow the chosen order
        np.testing.assert_allclose(
            np.sort(dimensions["L2 norm of features"][codes == code]),
            np.sort(rows.loc[rows.model_id == model, "l2"]), rtol=1e-6)
    # Three distinct colours, and a density per (model, axis) drawn beside the axis.
    scale = figure["data"][0]["line"]["colorscale"]
    assert len({colour for _, colour in scale}) == 3
    shapes = [shape["name"] for shape in figure["layout"]["shapes"]]
    assert len(shapes) == 2 * 3 * len(dimensions)  # a fill and an outline each
    assert set(shapes) == {f"density {m} {label}" for m in models for label in dimensions}
    # The title with its colour legend stands above the chart (not in it).
    assert not figure["layout"]["title"]["text"]
    above = " ".join(md.value for md in at.markdown)
    assert all(m in above for m in models)
    # Choosing writes the selected models.
    at.multiselect(key="geometry_global_models").unselect(models[1]).run()
    assert at.session_state["selected_models"] == [models[0], models[2]]
    assert sorted(np.unique(_line_groups(_parcoords(at)[1])[0])) == [0, 1]


def test_brushing_the_axes_selects_the_samples_inside_every_range(synth_db, app):
    models = _query(synth_db, "SELECT model_id FROM models ORDER BY model_id LIMIT 3").model_id
    at = app(synth_db, selected_models=list(models), selected_benchmarks=["clean"],
             selected_class=1)
    rows = _query(synth_db, "SELECT sample_id, angles[2] AS to_1, margin FROM sample_metrics "
                            "WHERE label = 1 AND benchmark_id = 'clean' AND model_id IN (?, ?, ?)",
                  list(models))
    low, high = np.percentile(rows.to_1, [20, 60])
    _brush(at, {"∠ class 1 (°)": [high, low]})
    inside = rows[(rows.to_1 >= low) & (rows.to_1 <= high)]
    expected = sorted(set(inside.sample_id))
    assert 0 < len(expected) < rows.sample_id.nunique()
    assert at.session_state["selected_samples"] == expected
    assert f"**{len(expected):,} samples**" in " ".join(_texts(at.caption))
    assert len(at.get("image")) == min(len(expected), page.MAX_THUMBNAILS)
    # The brush stays drawn in the figure sent back to the browser.
    dimension = next(d for d in _parcoords(at)[1]["data"][0]["dimensions"]
                     if d["label"] == "∠ class 1 (°)")
    assert dimension["constraintrange"] == [high, low]
    # A second axis with two ranges narrows the selection; clearing every brush clears it.
    margins = [[-10.0, 0.0], [0.5, 10.0]]
    _brush(at, {"∠ class 1 (°)": [low, high], "margin": margins})
    narrowed = inside[((inside.margin >= -10) & (inside.margin <= 0))
                      | ((inside.margin >= 0.5) & (inside.margin <= 10))]
    assert at.session_state["selected_samples"] == sorted(set(narrowed.sample_id))
    _brush(at, {})
    assert at.session_state["selected_samples"] == []


def test_parallel_coordinates_sample_is_stratified_and_announced(synth_db, app, monkeypatch):
    monkeypatch.setattr(page, "MAX_LINES", 25)
    at = app(synth_db, selected_class=1, reference_benchmark="clean")
    codes, _ = _line_groups(_parcoords(at)[1])
    assert len(codes) == 25 and set(codes) == {0, 1}  # both models keep lines
    shown = at.multiselect(key="geometry_global_models").value
    total = _query(synth_db, "SELECT count(*) AS n FROM sample_metrics WHERE label = 1 AND "
                             "benchmark_id = 'clean' AND model_id IN (?, ?)", shown).n[0]
    assert f"Showing 25 of {total:,} lines" in " ".join(_texts(at.caption))


@pytest.fixture(scope="module")
def many_classes_db(tmp_path_factory):
    from core.pipeline.synth import write_synthetic_db

    path = tmp_path_factory.mktemp("many") / "many.duckdb"
    return write_synthetic_db(path, n_models=2, n_benchmarks=2, n_samples=360, num_classes=15,
                              progress=False)


def test_many_classes_show_ranked_axes_and_state_the_rule(many_classes_db, app, monkeypatch):
    monkeypatch.setattr(page, "MAX_PANELS", 6)
    at = app(many_classes_db, selected_class=4)
    # Scatter panels: the selected class, then the five lowest accuracies.
    accuracy = _query(many_classes_db, "SELECT label, avg(correct::DOUBLE) AS acc FROM "
                                       "sample_metrics WHERE model_id = ? AND benchmark_id = "
                                       "'clean' AND label <> 4 GROUP BY label ORDER BY acc, label",
                      [at.session_state["geometry_selected_models_0"]])
    titles = [a["text"].split(" — ")[0]
              for a in _spec(at, "geometry_local_scatter")["layout"]["annotations"]]
    assert titles == ["class 4"] + [f"class {c}" for c in accuracy.label[:5]]
    assert "Showing 6 of 15 classes" in " ".join(_texts(at.caption))
    trace = _parcoords(at)[1]["data"][0]
    assert len(trace["dimensions"]) == page.MAX_ALL_AXES + 3
    assert trace["dimensions"][0]["label"] == "∠ class 4 (°)"
    captions = " ".join(_texts(at.caption))
    assert f"Showing {page.MAX_ALL_AXES} of 15 class directions" in captions
    assert "most often predicted" in captions
    at.radio(key="geometry_axis_rule").set_value("changed").run()
    at.slider(key="geometry_axis_count").set_value(4).run()
    assert not at.exception
    assert len(_parcoords(at)[1]["data"][0]["dimensions"]) == 4 + 3
    assert "changes most" in " ".join(_texts(at.caption))


def test_samples_show_thumbnails_and_link_the_chosen_sample(synth_db, app):
    ids = [3, 14, 15, 92, 10_000_000, "not-an-id"]
    at = app(synth_db, selected_samples=ids)
    assert not at.exception
    # Ids the database does not hold are dropped by the frame, with its one note.
    assert "2 of 6 selected sample id(s) (`10000000`, `not-an-id`)" in " ".join(_texts(at.info))
    assert at.session_state["selected_samples"] == [3, 14, 15, 92]
    assert len(at.get("image")) == 4  # images are stored for clean
    chooser = at.selectbox(key="geometry_selected_sample")
    assert chooser.options == ["#3 (class 3)", "#14 (class 4)", "#15 (class 5)", "#92 (class 2)"]
    chooser.select(15).run()
    assert at.session_state["selected_sample"] == 15
    links = at.get("page_link")
    assert len(links) == 1 and "#15" in links[0].proto.label
    assert links[0].proto.page == "pixel-attribution"  # the Attribution page's URL


def test_stale_selections_are_dropped_with_a_note(synth_db, app):
    at = app(synth_db, selected_models=["no-such-model"],
              selected_benchmarks=["no-such-benchmark"], reference_benchmark="gone",
              selected_class=99)
    infos = " ".join(_texts(at.info))
    assert "1 of 1 selected model id(s) (`no-such-model`)" in infos
    assert "1 of 1 selected benchmark id(s) (`no-such-benchmark`)" in infos
    assert "the reference benchmark `gone`" in infos and "the class `99`" in infos
    assert infos.count("Dropped what this database does not hold") == 1  # one note
    assert at.selectbox(key="geometry_selected_class").value == 0
    assert at.session_state["selected_models"] == [] and at.session_state["selected_class"] is None
    sidebar = " ".join(c.value for c in at.sidebar.caption)
    assert "selected models" not in sidebar and "selected class" not in sidebar


def test_missing_or_empty_database_explains(tmp_path, app):
    at = app(tmp_path / "absent.duckdb")
    assert "No database" in " ".join(_texts(at.info))
    from core import store

    path = tmp_path / "empty.duckdb"
    with store.connect(path) as con:
        store.create_schema(con, num_classes=10)
    at = app(path)
    assert "no per-sample metrics yet" in " ".join(_texts(at.info))


def _select(at, chart_key, ids):
    """What the browser sends after a box/lasso selection: the chart's widget value."""
    event = {"selection": {"points": [{"customdata": [i, 0, 0.0, 0.0]} for i in ids],
                           "point_indices": list(range(len(ids))), "box": [], "lasso": []}}
    states = at._tree.get_widget_states()
    widget = states.widgets.add()
    widget.id = _chart(at, chart_key).proto.id
    widget.string_value = json.dumps(event)
    at._run(states)
    assert not at.exception, at.exception


def test_scatter_selection_sets_selected_samples_and_changes_the_overview_subset(
        synth_db, app):
    from app.db import current_db
    from app.queries import overview

    row = _lowest_clean_accuracy_model(synth_db)
    at = app(synth_db, selected_models=[row.model_id])
    spec = _spec(at, "geometry_local_scatter")
    misclassified = [int(i) for t in spec["data"] if t["name"] == "incorrect"
                     for i in _decoded(t["customdata"]).reshape(-1, 4)[:, 0]]
    _select(at, "geometry_local_scatter", misclassified)
    assert at.session_state["selected_samples"] == misclassified
    assert len(at.get("image")) == min(len(misclassified), page.MAX_THUMBNAILS)

    model = _query(synth_db, "SELECT * FROM models WHERE model_id = ?", [row.model_id]).iloc[0]
    db = current_db()

    def clean_bar(frame, column):
        mask = ((frame.arch == model.arch) & (frame.method == model.method)
                & (frame.retrained == model.retrained) & np.isclose(frame.ratio, model.ratio)
                & (frame.corruption == "clean"))
        return float(frame.loc[mask, column].iloc[0])

    everything = clean_bar(overview.accuracy_bars(db, None), "accuracy")
    chosen = tuple(at.session_state["selected_samples"])
    assert clean_bar(overview.subset_accuracy_bars(db, None, chosen), "subset_accuracy") == 0.0
    assert everything == pytest.approx(row.accuracy)  # the bar is this one model
    assert 0.0 < everything < 1.0


def test_every_table_downloads_as_csv_and_parquet(synth_db, app, downloads):
    at = app(synth_db, selected_samples=[3, 14], reference_benchmark="clean")
    model = at.session_state["geometry_selected_models_0"]
    # The page's own downloads: not the frame's report download in the sidebar.
    stems = {name.rsplit(".", 1)[0] for name in downloads} - {"report_geometry"}
    assert {f"geometry_{model}_clean", "geometry_comparison_class_0",
            "geometry_class_0_clean_2_models", "geometry_selected_samples"} <= stems
    for stem in stems:
        from_csv = pd.read_csv(io.StringIO(downloads[f"{stem}.csv"]))
        from_parquet = pd.read_parquet(io.BytesIO(downloads[f"{stem}.parquet"]))
        assert len(from_parquet) > 0
        pd.testing.assert_frame_equal(from_parquet, from_csv, check_dtype=False, atol=1e-5)
    assert len(pd.read_parquet(io.BytesIO(downloads["geometry_selected_samples.parquet"]))) == 2


def test_placed_keeps_ids_unique_and_fills_earlier_positions():
    assert placed([], 0, "a") == ["a"]
    assert placed([], 1, "b", shown=("a",)) == ["a", "b"]
    assert placed(["a", "b", "c"], 0, "c") == ["c", "b", "a"]  # swap, no duplicate
    assert placed(["a"], 1, "a", shown=("a",)) == ["a"]
    assert placed(["a", "b"], 1, "x") == ["a", "x"]


def test_decode_pixels_round_trips_grey_and_colour_images():
    from app.queries.geometry import decode_pixels

    colour = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    np.testing.assert_array_equal(decode_pixels(colour.tobytes(), 2, 3, 3), colour)
    grey = np.arange(6, dtype=np.uint8).reshape(2, 3, 1)
    np.testing.assert_array_equal(decode_pixels(grey.tobytes(), 2, 3, 1), grey[..., 0])


def test_overview_table_follows_the_class_chosen_here(synth_db, app, run_page):
    from app.charts.overview import split_dense

    at = app(synth_db)
    at.selectbox(key="geometry_selected_class").select(6).run()
    overview = run_page("overview", synth_db, selected_class=at.session_state["selected_class"])
    assert not overview.exception
    toggle = overview.toggle(key="overview_class_accuracy")
    assert "class 6" in toggle.label and not toggle.value
    toggle.set_value(True).run()
    assert not overview.exception
    assert "accuracy on **class class 6**" in " ".join(_texts(overview.caption))
    # Every bar's subset accuracy is its models' mean accuracy on class 6 (clean here).
    expected = _query(synth_db, """
        SELECT m.arch, m.method, m.retrained, m.ratio, avg(acc) AS acc, avg(whole) AS whole
        FROM (SELECT s.model_id, avg(s.correct::DOUBLE) AS acc FROM sample_metrics s
              WHERE s.benchmark_id = 'clean' AND s.label = 6 GROUP BY ALL) c
        JOIN (SELECT model_id, accuracy AS whole FROM evaluations WHERE benchmark_id = 'clean') e
          USING (model_id) JOIN models m USING (model_id) GROUP BY ALL""")
    spec = json.loads(next(c for c in overview.get("plotly_chart")
                           if c.proto.id.endswith("overview_table")).proto.spec)
    heights = np.concatenate([_decoded(t["y"]).astype(float) for t in spec["data"]
                              if t["type"] == "bar"])
    from app.db import current_db
    from app.queries import overview as queries

    bars = queries.class_accuracy_bars(current_db(), None, 6)
    clean = bars[bars.corruption == "clean"].merge(expected, on=["arch", "method", "retrained",
                                                                  "ratio"])
    assert len(clean) == len(expected) > 1
    np.testing.assert_allclose(clean.subset_accuracy, clean.acc)
    pruned, _ = split_dense(clean)
    assert (pruned.subset_accuracy != pruned.whole).any()  # class 6 differs from the whole set
    for accuracy in pruned.subset_accuracy:  # the table draws those bars at those heights
        assert np.isclose(heights, 100 * accuracy).any()


def test_compared_models_of_different_feature_dimensions_get_a_note(synth_db, app, tmp_path):
    wider = tmp_path / "wider.duckdb"
    shutil.copy(synth_db, wider)
    with duckdb.connect(str(wider)) as con:
        first, second = [r[0] for r in con.execute(
            "SELECT model_id FROM models ORDER BY model_id LIMIT 2").fetchall()]
        con.execute("UPDATE models SET feature_dim = feature_dim * 2 WHERE model_id = ?", [first])

    def notes(at):
        return [c.value for c in at.caption if "different feature dimensions" in c.value]

    assert notes(app(wider, selected_models=[first, second]))[0].startswith(
        "These models have different feature dimensions")
    assert not notes(app(wider, selected_models=[second]))
