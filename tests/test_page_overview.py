"""The Overview page under Streamlit's AppTest, with the app-owned session-state keys preset.

AppTest cannot click a Plotly chart, so the tests set the keys a click would set and check what
the page draws (the chart specs) against independent computations on the database.
"""

from __future__ import annotations

import io
import json
import re
import shutil

import duckdb
import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from app.charts import overview as charts
from core import store

ANALYSIS_TABLES = ("embeddings", "correlations", "benchmark_similarity", "dimension_angles",
                   "vulnerable_samples", "vulnerability_auc", "robustness",
                   "pruning_vulnerability", "cka", "effective_robustness", "geometry_spread",
                   "pie_flags", "pie_auc")
CORRELATIONS = {"robustness": {"angle": -0.62, "l2": 0.08, "margin": 0.55},
                "pv": {"angle": -0.41, "l2": 0.02, "margin": 0.35}}
N_SAMPLES = 300


def _write_analysis(path) -> None:
    """Controlled analysis rows: random placements for two benchmarks in both spaces, fixed
    correlations, a few corruption pairs, random/trained angles, and vulnerability flags that
    follow a random score."""
    rng = np.random.default_rng(7)
    con = store.connect(path)
    models = con.execute("SELECT model_id, arch FROM models ORDER BY model_id").df()
    benches = ["clean", "gaussian_noise-1"]
    store.replace_rows(con, "embeddings", pd.concat([
        pd.DataFrame({"model_id": models["model_id"], "benchmark_id": b, "space": space,
                      "x": rng.normal(size=len(models)), "y": rng.normal(size=len(models))})
        for space in ("geometry", "cka") for b in benches]))
    store.replace_rows(con, "correlations", pd.DataFrame([
        (m, target, metric, r, r, N_SAMPLES) for m in models["model_id"]
        for target, values in CORRELATIONS.items() for metric, r in values.items()],
        columns=["model_id", "target", "metric", "pearson", "spearman", "n"]))
    store.replace_rows(con, "benchmark_similarity", pd.DataFrame({
        "corruption_a": ["gaussian_noise", "defocus_blur", "clean"],
        "corruption_b": ["shot_noise", "glass_blur", "impulse_noise"],
        "similarity": [0.97, 0.8, 0.1], "measure": "accuracy_pearson", "rank": [1, 2, 3]}))
    dims = np.array([2, 8, 32, 128])
    store.replace_rows(con, "dimension_angles", pd.concat([
        pd.DataFrame({"kind": "random", "dim": dims, "mean": 90.0, "std": 57.3 / np.sqrt(dims),
                      "model_id": None}),
        pd.DataFrame({"kind": "trained", "dim": 16, "mean": [50.0, 55.0], "std": [10.0, 12.0],
                      "model_id": models["model_id"][:2].to_list()})]))
    frames = []
    for arch in sorted(models["arch"].unique()):
        score = rng.random(N_SAMPLES)
        pie = score + rng.normal(scale=0.3, size=N_SAMPLES) > 0.8
        low = score + rng.normal(scale=0.3, size=N_SAMPLES) > 0.6
        frames.append(pd.DataFrame({"arch": arch, "sample_id": np.arange(N_SAMPLES), "pie": pie,
                                    "pie_count": pie.astype(int), "low_pv": low,
                                    "pv": np.where(low, 3, 8), "geometric_score": score}))
    samples = pd.concat(frames, ignore_index=True)
    store.replace_rows(con, "vulnerable_samples", samples)
    store.replace_rows(con, "effective_robustness", _effective_rows(
        con.execute("SELECT model_id, method FROM models ORDER BY model_id").df(), rng))
    spread = rng.random((len(models), 3))
    store.replace_rows(con, "geometry_spread", pd.DataFrame({
        "model_id": models["model_id"], "angle_spread": 5 + spread[:, 0], "l2_spread": 1.0,
        "mean_angle": 40 + 10 * spread[:, 1], "clean_accuracy": 0.9,
        "corrupted_accuracy": 0.6 + 0.2 * spread[:, 2], "drop": 0.3 - 0.2 * spread[:, 2]}))
    store.replace_rows(con, "vulnerability_auc", pd.DataFrame([
        (arch, target, "geometric", 0.75, int(group[target].sum()), len(group))
        for arch, group in samples.groupby("arch") for target in ("pie", "low_pv")],
        columns=["arch", "target", "score", "auc", "n_positive", "n"]))
    # A seed population's PIEs for every arch: 5 + k PIEs at (ratio, retrained) number k.
    populations = [(0.5, False), (0.9, False), (0.5, True), (0.9, True)]
    store.replace_rows(con, "pie_flags", pd.concat([
        pd.DataFrame({"arch": arch, "method": "magnitude", "ratio": ratio, "retrained": rt,
                      "sample_id": np.arange(N_SAMPLES), "pie": np.arange(N_SAMPLES) < 5 + k,
                      "n_seeds": 5})
        for arch in models["arch"].unique() for k, (ratio, rt) in enumerate(populations)]))
    store.replace_rows(con, "pie_auc", pd.DataFrame([
        (arch, "magnitude", ratio, rt, score, 0.6 + 0.05 * k, 5 + k, N_SAMPLES)
        for arch in models["arch"].unique() for k, (ratio, rt) in enumerate(populations)
        for score in ("geometric", "angle", "neg_margin", "neg_l2")],
        columns=["arch", "method", "ratio", "retrained", "score", "auc", "n_positive", "n"]))
    con.close()


def _effective_rows(models: pd.DataFrame, rng) -> pd.DataFrame:
    """Effective robustness of a population where MPT models sit 4 points above the others."""
    from core.analysis.effective import effective_robustness, expit, logit

    clean = rng.uniform(0.6, 0.9, len(models))
    corrupted = expit(logit(clean) - 1.0) + np.where(models["method"] == "mpt", 0.04, 0.0)
    return effective_robustness(pd.DataFrame({"model_id": models["model_id"],
                                              "clean_accuracy": clean,
                                              "corrupted_accuracy": corrupted}))


@pytest.fixture(scope="module")
def full_db(synth_db, tmp_path_factory):
    path = tmp_path_factory.mktemp("overview") / "full.duckdb"
    shutil.copy(synth_db, path)
    _write_analysis(path)
    return path


@pytest.fixture(scope="module")
def dropped_db(synth_db, tmp_path_factory):
    """A database without any analysis table (an old or partial build)."""
    path = tmp_path_factory.mktemp("overview") / "dropped.duckdb"
    shutil.copy(synth_db, path)
    with duckdb.connect(str(path)) as con:
        for table in ANALYSIS_TABLES:
            con.execute(f"DROP TABLE {table}")
    return path


@pytest.fixture
def run(run_page):
    """``run(db_path, **state)``: the Overview after its first run, without exception or error."""
    def run_overview(path, **state) -> AppTest:
        at = run_page("overview", path, **state)
        assert not at.exception, at.exception
        assert not at.error
        return at

    return run_overview


def _specs(at: AppTest) -> dict[str, dict]:
    return {chart.key: json.loads(chart.proto.spec) for chart in at.get("plotly_chart")}


def _main_bars(spec: dict) -> list[dict]:
    """The table's accuracy bars (the narrow gain/loss bars have width 3)."""
    return [t for t in spec["data"] if t["type"] == "bar" and t.get("width") == 7]


def _group_members(path) -> dict[tuple, set[str]]:
    with duckdb.connect(str(path), read_only=True) as con:
        models = con.execute("SELECT model_id, arch, method, retrained, ratio FROM models").df()
    return {(a, m, str(bool(r)), f"{float(q):g}"): set(g["model_id"])
            for (a, m, r, q), g in models.groupby(["arch", "method", "retrained", "ratio"])}


def test_renders_every_chart_with_nothing_selected(run, full_db):
    at = run(full_db)
    specs = _specs(at)
    assert set(specs) == {"overview_table", "overview_similarity", "overview_correlations",
                          "overview_redundancy", "overview_dimension", "overview_spread",
                          "overview_roc", "overview_pie_counts", "overview_effective"}
    bars = _main_bars(specs["overview_table"])
    assert bars and all(w == 0 for t in bars for w in t["marker"]["line"]["width"])
    assert all(o == 1 for t in bars for o in t["marker"]["opacity"])
    assert not any(t["name"] == "selected models" for t in specs["overview_similarity"]["data"])
    downloads = [b.proto.label for b in at.main.get("download_button")]
    assert len(downloads) == 27  # each of the nine views offers CSV, Parquet and HTML
    assert sum(label.endswith("(CSV)") for label in downloads) == 9
    assert sum(label.endswith("(HTML)") for label in downloads) == 9
    assert not at.info


def test_selected_models_and_benchmarks_are_highlighted(run, full_db):
    members = _group_members(full_db)
    pruned = sorted(m for ids in members.values() for m in ids if "-dense-" not in m)
    chosen = [pruned[0], pruned[7]]
    at = run(full_db, selected_models=chosen, selected_benchmarks=["clean"])
    specs = _specs(at)
    seen = 0
    for trace in _main_bars(specs["overview_table"]):
        for point, width, opacity in zip(trace["customdata"], trace["marker"]["line"]["width"],
                                         trace["marker"]["opacity"]):
            arch, method, retrained, ratio, corruption = point[0].split("|")
            expected = (bool(members[(arch, method, retrained, ratio)] & set(chosen))
                        and corruption == "clean")
            assert (width == 1) == expected and (opacity == 1) == expected
            seen += expected
    assert seen == 2  # one clean bar per chosen model (one seed per group in this DB)
    similarity = specs["overview_similarity"]
    ring = [t for t in similarity["data"] if t["name"] == "selected models"]
    assert len(ring) == 1 and {p[0] for p in ring[0]["customdata"]} == set(chosen)
    assert {p[1] for t in similarity["data"] for p in t.get("customdata") or []} == {"clean"}
    assert at.multiselect(key="overview_similarity_benchmarks").value == ["clean"]


def test_selected_samples_give_subset_bars_with_gain_and_loss(run, full_db):
    samples = list(range(0, 60))
    at = run(full_db, selected_samples=samples)
    spec = _specs(at)["overview_table"]
    with duckdb.connect(str(full_db), read_only=True) as con:
        subset = con.execute(
            "SELECT m.arch, m.method, m.retrained, m.ratio, b.corruption, "
            "avg(s.correct::DOUBLE) AS acc FROM sample_metrics s JOIN models m USING (model_id) "
            "JOIN benchmarks b USING (benchmark_id) WHERE s.sample_id < 60 "
            "GROUP BY ALL").df()
        whole = con.execute(
            "SELECT m.arch, m.method, m.retrained, m.ratio, b.corruption, avg(e.accuracy) AS acc "
            "FROM evaluations e JOIN models m USING (model_id) JOIN benchmarks b "
            "USING (benchmark_id) GROUP BY ALL").df()

    def key(f: pd.DataFrame) -> pd.Series:
        return (f["arch"] + "|" + f["method"] + "|" + f["retrained"].astype(str) + "|"
                + f["ratio"].map("{:g}".format) + "|" + f["corruption"])

    expected_subset = dict(zip(key(subset), 100 * subset["acc"]))
    expected_delta = {k: expected_subset[k] - 100 * a for k, a in zip(key(whole), whole["acc"])}
    main = _main_bars(spec)
    deltas = [t for t in spec["data"] if t["type"] == "bar" and t.get("width") == 3]
    assert len(deltas) == len(main) > 0
    colours = set()
    for bar, delta in zip(main, deltas):
        for point, y, d, colour in zip(bar["customdata"], bar["y"], delta["y"],
                                       delta["marker"]["color"]):
            assert y == pytest.approx(expected_subset[point[0]], abs=1e-6)
            assert d == pytest.approx(expected_delta[point[0]], abs=1e-6)
            assert colour == ("#2ca02c" if expected_delta[point[0]] >= 0 else "#d62728")
            colours.add(colour)
    assert colours == {"#2ca02c", "#d62728"}
    names = {t["name"] for t in spec["data"]}
    assert {"gain on selected samples", "loss on selected samples"} <= names


def test_top_k_button_selects_the_highest_geometric_scores(run, full_db):
    at = run(full_db)
    arch = at.selectbox(key="overview_vulnerable_arch").value
    at.number_input(key="overview_top_k").set_value(12)
    at.button(key="overview_select_top").click().run()
    assert not at.exception
    with duckdb.connect(str(full_db), read_only=True) as con:
        scores = con.execute("SELECT sample_id, geometric_score FROM vulnerable_samples "
                             "WHERE arch = ?", [arch]).df()
    top = scores["sample_id"].to_numpy()[np.argsort(-scores["geometric_score"].to_numpy())[:12]]
    assert sorted(at.session_state["selected_samples"]) == sorted(top.tolist())
    assert any(t.get("width") == 3 for t in _specs(at)["overview_table"]["data"])


def test_readings_quote_the_numbers(run, full_db):
    at = run(full_db)
    text = " ".join(m.value for m in at.markdown)
    assert "angle at r = −0.62 (strong)" in text and "l2 at r = 0.08 (weak)" in text
    assert "margin at r = 0.35 (moderate)" in text
    assert "gaussian_noise ~ shot_noise (r = 0.97)" in text
    assert "AUC 0.75 for samples where the dense model disagrees" in text


def test_placement_radio_shows_cka_instead(run, full_db):
    # Without a shared placement, two selected benchmarks are never overlaid: one is drawn.
    at = run(full_db, selected_benchmarks=["clean", "gaussian_noise-1"])
    assert any("no shared placement" in c.value for c in at.caption)
    assert at.radio(key="overview_placement").options == ["stress, this benchmark",
                                                          "CKA, this benchmark"]
    at.radio(key="overview_placement").set_value("cka").run()
    assert not at.exception
    spec = _specs(at)["overview_similarity"]
    assert "CKA placement 1" in spec["layout"]["xaxis"]["title"]["text"]
    with duckdb.connect(str(full_db), read_only=True) as con:
        cka = con.execute("SELECT model_id, benchmark_id, x, y FROM embeddings "
                          "WHERE space = 'cka' AND benchmark_id = 'clean'").df()
    expected = {(m, b): (x, y) for m, b, x, y in cka.itertuples(index=False)}
    drawn = {(c[0], c[1]): (x, y) for t in spec["data"] if t["mode"].startswith("markers")
             and t["name"] not in ("selected models", charts.COINCIDENT_NAME) for c, x, y in
             zip(t.get("customdata") or [], t["x"], t["y"])}
    assert drawn.keys() == expected.keys()
    assert np.allclose([drawn[k] for k in expected], list(expected.values()))
    # No true distances in this database: no tree, and the quality line says none was measured.
    assert not any(t["name"].startswith("MST") for t in spec["data"])
    assert any("No quality measured" in c.value for c in at.caption)


@pytest.mark.parametrize("which", ["empty", "dropped"])
def test_missing_analysis_tables_are_explained(run, synth_db, dropped_db, which):
    at = run(synth_db if which == "empty" else dropped_db,
              selected_models=["lenet5-magnitude-r0.1-s0"])
    assert set(_specs(at)) == {"overview_table"}
    messages = " ".join(i.value for i in at.info)
    for what in ("geometric embeddings", "correlation table", "benchmark similarity",
                 "dimension-angle table", "geometry-spread table", "vulnerable-sample table",
                 "effective-robustness table"):
        assert what in messages


def test_stale_and_unknown_ids_are_dropped_with_a_note(run, full_db):
    at = run(full_db, selected_models=["not-a-model"],
              selected_benchmarks=["clean", "no-such-benchmark"], selected_samples=[10 ** 9])
    assert at.session_state["selected_models"] == []
    assert at.session_state["selected_benchmarks"] == ["clean"]
    assert at.session_state["selected_samples"] == []
    messages = " ".join(i.value for i in at.info)
    assert ("Dropped what this database does not hold: 1 of 1 selected model id(s) "
            "(`not-a-model`); 1 of 2 selected benchmark id(s) (`no-such-benchmark`); 1 of 1 "
            "selected sample id(s) (`1000000000`).") in messages


def test_missing_database_is_explained(run, tmp_path):
    at = run(tmp_path / "absent.duckdb")
    assert "No database" in at.info[0].value


def test_downloads_serve_the_same_table_as_csv_and_parquet_and_the_figure_as_html(
        run, full_db, downloads):
    at = run(full_db, selected_samples=list(range(40)))
    # The page's own downloads: not the frame's report download in the sidebar.
    stems = {name.rsplit(".", 1)[0] for name in downloads} - {"report_overview"}
    assert stems == {"accuracy_table", "geometric_similarity", "correlations",
                     "benchmark_redundancy", "dimension_angles", "geometry_spread",
                     "vulnerable_samples_roc", "pie_counts", "effective_robustness"}
    for stem in stems:
        from_csv = pd.read_csv(io.StringIO(downloads[f"{stem}.csv"]))
        from_parquet = pd.read_parquet(io.BytesIO(downloads[f"{stem}.parquet"]))
        assert len(from_parquet) > 0 and list(from_parquet.columns) == list(from_csv.columns)
        pd.testing.assert_frame_equal(from_parquet, from_csv, check_dtype=False)
    # Each figure as a standalone page: plotly.js inline (opens offline), the chart's own data.
    specs = _specs(at)
    stem_of = {"overview_table": "accuracy_table", "overview_similarity": "geometric_similarity",
               "overview_correlations": "correlations", "overview_redundancy":
               "benchmark_redundancy", "overview_dimension": "dimension_angles",
               "overview_spread": "geometry_spread",
               "overview_roc": "vulnerable_samples_roc",
               "overview_effective": "effective_robustness"}
    for key, stem in stem_of.items():
        page = downloads[f"{stem}.html"]
        assert page.lower().startswith("<!doctype html>") and "plotly.js v" in page
        assert not re.search(r"<script[^>]*\ssrc=", page)
        figure = json.loads(re.search(r"Plotly\.newPlot\(\s*\"[^\"]+\",\s*(\[.*?\]),\s*\{",
                                      page, re.S).group(1))
        assert len(figure) == len(specs[key]["data"])
        assert [t.get("name") for t in figure] == [t.get("name") for t in specs[key]["data"]]


def test_readings_are_in_the_page_report(run_page, full_db):
    """The report of the page (built as app/main.py does) holds each figure once and every
    reading, with plotly.js inline once."""
    from app import report

    at = run_page("overview", full_db)
    assert not at.exception
    html = report.page_report(at.session_state["_report_items"], title="Overview")
    assert html.count("Plotly.newPlot(") == len(at.get("plotly_chart")) == 9
    assert len(re.findall(r"\* plotly\.js v\d", html)) == 1
    assert "gaussian_noise ~ shot_noise (r = 0.97)" in html
    assert "AUC 0.75 for samples where the dense model disagrees" in html


# --------------------------------------------------------------------------- the real tiny build

def _tiny(path, sql: str, params=()) -> pd.DataFrame:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql, list(params)).df()


def _tree_ends(spec: dict) -> set[tuple[float, float]]:
    return {(x, y) for t in spec["data"] if t["name"].startswith("MST")
            for x, y in zip(t["x"], t["y"]) if x is not None}


def test_tiny_build_has_the_placement_tables(tiny_db):
    spaces = _tiny(tiny_db, "SELECT DISTINCT space FROM embeddings")["space"]
    assert {"geometry", "geometry_umap"} <= set(spaces)
    quality = _tiny(tiny_db, "SELECT * FROM placement_quality WHERE space = 'geometry'")
    assert len(quality) and quality["spearman"].notna().all()
    assert len(_tiny(tiny_db, "SELECT * FROM geometry_distances"))
    assert len(_tiny(tiny_db, "SELECT * FROM benchmark_similarity "
                              "WHERE measure = 'geometry_distance'"))


def test_tiny_overview_states_quality_draws_coincident_models_and_the_full_tree(run, tiny_db):
    at = run(tiny_db)
    # The default view: the shared placement, its quality on the clean points stated.
    quality = _tiny(tiny_db, "SELECT spearman, trustworthiness, n_neighbors FROM placement_quality "
                             "WHERE space = 'geometry' AND scope = 'shared' "
                             "AND benchmark_id = 'clean'")
    line = next(c.value for c in at.caption if "distances kept" in c.value)
    rho, trust, k = quality.iloc[0]
    assert f"ρ = {rho:.2f}" in line
    assert f"{int(k)}-nearest neighbours kept: {100 * trust:.0f} %" in line
    spec = _specs(at)["overview_similarity"]
    points = _tiny(tiny_db, "SELECT model_id, x, y FROM embeddings WHERE space = 'geometry' "
                            "AND scope = 'shared' AND benchmark_id = 'clean'")
    at_point = points.groupby(["x", "y"])["model_id"].agg(sorted)
    groups = [tuple(m) for m in at_point if len(m) > 1]
    coincident = [t for t in spec["data"] if t["name"].startswith("coincident")]
    if groups:  # the tiny build joins dense with its lightly pruned twins
        assert sorted(tuple(c[0].split("\n")) for c in coincident[0]["customdata"]) == sorted(
            groups)
        assert coincident[0]["text"] == [f"×{len(g)}" for g in groups]
    # The tree spans every model of the benchmark: n − 1 edges, ends at the placed points.
    mst = [t for t in spec["data"] if t["name"] == "MST · clean"]
    assert len(mst) == 1 and sum(x is None for x in mst[0]["x"]) == len(points) - 1
    assert _tree_ends(spec) <= set(zip(points["x"], points["y"]))


def test_tiny_selected_models_restrict_the_tree(run, tiny_db):
    from core.analysis import geometry_mst

    points = _tiny(tiny_db, "SELECT model_id, x, y FROM embeddings WHERE space = 'geometry' "
                            "AND scope = 'shared' AND benchmark_id = 'clean' ORDER BY model_id")
    chosen = points["model_id"].iloc[[1, 4, 6, 8]].tolist()
    at = run(tiny_db, selected_models=chosen, selected_benchmarks=["clean"])
    spec = _specs(at)["overview_similarity"]
    distances = _tiny(tiny_db, "SELECT model_a, model_b, distance FROM geometry_distances "
                               "WHERE benchmark_id = 'clean'")
    tree = geometry_mst(distances, among=chosen)
    place = dict(zip(points["model_id"], zip(points["x"], points["y"])))
    mst = [t for t in spec["data"] if t["name"] == "MST · clean"]
    drawn = {tuple(sorted((mst[0]["x"][i:i + 2][k], mst[0]["y"][i:i + 2][k]) for k in (0, 1)))
             for i in range(0, len(mst[0]["x"]), 3)}
    assert drawn == {tuple(sorted((place[a], place[b]))) for a, b in
                     zip(tree["model_a"], tree["model_b"])}
    assert _tree_ends(spec) <= {place[m] for m in chosen}
    assert any("the 4 selected models" in c.value for c in at.caption)


def test_tiny_redundancy_shows_accuracy_and_geometry(run, tiny_db):
    at = run(tiny_db)
    spec = _specs(at)["overview_redundancy"]
    names = [t.get("name") for t in spec["data"]]
    assert "normalised geometry distance" in names and "redundant by both" in names
    text = " ".join(m.value for m in at.markdown)
    assert "Redundant by both accuracy and geometry" in text or "No corruption pair" in text


def test_effective_robustness_tab_shows_the_fit_and_reads_each_family(run, full_db):
    with duckdb.connect(str(full_db), read_only=True) as con:
        counts = dict(con.execute("SELECT arch, count(*) FROM models GROUP BY arch").fetchall())
    assert sum(n >= 3 for n in counts.values()) >= 2, "the fixture needs two families"
    # Two architectures with populations of their own: one fit each, by default.
    at = run(full_db)
    assert at.radio(key="overview_effective_fit").value == "each architecture"
    tab = next(t for t in at.tabs if t.label == "Effective robustness")
    assert [c.key for c in tab.get("plotly_chart")] == ["overview_effective"]
    spec = _specs(at)["overview_effective"]
    lines = {t["name"] for t in spec["data"] if t["mode"] == "lines"}
    assert lines == {f"fit · {arch}" for arch, n in counts.items() if n >= 3}
    assert all(text.endswith(" %") for text in spec["layout"]["xaxis"]["ticktext"])
    text = " ".join(m.value for m in at.markdown)
    for arch, n in counts.items():
        assert f"**{arch}** — fit over {n} models" in text
    assert "points above the fit at equal clean accuracy" in text
    # The stored population fit on request.
    at.radio(key="overview_effective_fit").set_value("whole population").run()
    spec = _specs(at)["overview_effective"]
    fit = [t for t in spec["data"] if t["mode"] == "lines"]
    assert len(fit) == 1 and fit[0]["name"] == "population fit"
    text = " ".join(m.value for m in at.markdown)
    assert f"Fit over {sum(counts.values())} models" in text


# --------------------------------------------------------------------------- pure builders

def _population() -> pd.DataFrame:
    from core.analysis.effective import effective_robustness, expit, logit

    clean = np.array([0.70, 0.80, 0.90, 0.75, 0.85, 0.72, 0.88])
    lift = np.array([0.0, 0.0, 0.0, 0.05, 0.05, -0.02, -0.02])
    frame = effective_robustness(pd.DataFrame({
        "model_id": [f"m{i}" for i in range(7)], "clean_accuracy": clean,
        "corrupted_accuracy": expit(0.9 * logit(clean) - 1.0) + lift}))
    return frame.assign(arch=["lenet5"] * 4 + ["resnet_small"] * 3,
                        method=["dense", "magnitude", "magnitude", "mpt", "mpt", "random",
                                "magnitude"],
                        retrained=[False, False, True, False, False, False, True])


def test_effective_robustness_figure_uses_logit_axes_with_percent_ticks():
    from app.charts.overview import effective_robustness_figure
    from core.analysis.effective import logit

    frame = _population()
    fig = effective_robustness_figure(frame)
    markers = [t for t in fig.data if t.mode == "markers"]
    assert sum(len(t.x) for t in markers) == 7
    mpt = next(t for t in markers if t.name == "mpt · lenet5")
    np.testing.assert_allclose(mpt.y, logit(frame.corrupted_accuracy[frame.method == "mpt"])[:1])
    # The architecture sets the symbol, the family the colour.
    magnitude = {t.name: t.marker for t in markers if t.name.startswith("magnitude + retrain")}
    assert magnitude["magnitude + retrain · lenet5"].symbol != \
        magnitude["magnitude + retrain · resnet_small"].symbol
    assert magnitude["magnitude + retrain · lenet5"].color == \
        magnitude["magnitude + retrain · resnet_small"].color
    fit = next(t for t in fig.data if t.name == "population fit")
    np.testing.assert_allclose(fit.y, frame.slope[0] * np.asarray(fit.x) + frame.intercept[0])
    ticks = dict(zip(fig.layout.xaxis.ticktext, fig.layout.xaxis.tickvals))
    assert ticks["80 %"] == pytest.approx(float(logit(0.8)))
    assert "99 %" not in ticks and "50 %" not in ticks     # outside the data's range


def test_effective_robustness_per_arch_draws_one_fit_per_architecture():
    from app.charts.overview import (effective_robustness_figure, effective_robustness_reading,
                                     fits_per_arch_by_default)
    from core.analysis.effective import (effective_robustness, effective_robustness_per_arch,
                                         logit)

    frame = _population()
    assert fits_per_arch_by_default(frame)
    assert not fits_per_arch_by_default(frame.iloc[:5])   # resnet_small: 1 model of 3 needed
    per_arch = effective_robustness_per_arch(frame)
    assert list(per_arch.model_id) == list(frame.model_id)
    fig = effective_robustness_figure(per_arch)
    lines = {t.name: t for t in fig.data if t.mode == "lines"}
    assert set(lines) == {"fit · lenet5", "fit · resnet_small"}
    for arch, line in lines.items():
        own = frame[frame.arch == arch.removeprefix("fit · ")]
        alone = effective_robustness(own)          # the family fitted on its own
        np.testing.assert_allclose(line.y, alone.slope[0] * np.asarray(line.x) +
                                   alone.intercept[0])
        np.testing.assert_allclose(line.x, [logit(own.clean_accuracy).min(),
                                            logit(own.clean_accuracy).max()])
    reading = effective_robustness_reading(per_arch)
    assert reading.splitlines()[0].startswith("**lenet5** — fit over 4 models: logit(corrupted)")
    assert "**resnet_small** — fit over 3 models" in reading
    # In Markdown a line right after a bullet continues that bullet: each architecture's
    # heading stands between blank lines, so it is a paragraph of its own.
    lines = reading.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("**"):
            assert (i == 0 or lines[i - 1] == "") and lines[i + 1] == "", lines[i - 1:i + 2]
    assert sum(line.startswith("**") for line in lines) == 2


def test_effective_robustness_reading_ranks_families_in_points():
    from app.charts.overview import effective_robustness_reading

    frame = _population()
    lines = effective_robustness_reading(frame).splitlines()
    assert lines[0].startswith("Fit over 7 models: logit(corrupted) = ")
    mpt = 100 * frame.effective_robustness[frame.method == "mpt"].mean()
    assert mpt > 2
    assert lines[1] == f"- **mpt**: +{mpt:.1f} points above the fit at equal clean accuracy " \
                       "(2 models)"
    assert lines[-1].startswith("- **random**: −") and "below the fit" in lines[-1]
    assert effective_robustness_reading(frame.iloc[:0]) == ""


def test_vulnerable_tab_counts_the_seed_population_pies(run, full_db):
    at = run(full_db)
    spec = _specs(at)["overview_pie_counts"]
    bars = {t["name"]: t["y"] for t in spec["data"]}
    assert bars == {"without retraining": [5, 6], "with retraining": [7, 8]}
    table = next(d.value for d in at.dataframe if "population" in d.value.columns)
    assert table["PIEs"].tolist() == [5, 6, 7, 8]
    assert table["geometric score"].tolist() == pytest.approx([0.6, 0.65, 0.7, 0.75])
    text = " ".join(m.value for m in at.markdown)
    assert "magnitude 90 % + retrain: angle 0.75" in text


def test_vulnerable_tab_without_a_seed_population_says_how_to_get_one(run, dropped_db):
    at = run(dropped_db)
    assert "overview_pie_counts" not in _specs(at)


def test_similarity_view_notes_models_of_different_feature_dimensions(run, full_db, tmp_path):
    at = run(full_db)
    captions = [c.value for c in at.caption]
    assert not any("different feature dimensions" in c for c in captions)  # synth: one m
    wider = tmp_path / "wider.duckdb"
    shutil.copy(full_db, wider)
    with duckdb.connect(str(wider)) as con:
        first = con.execute("SELECT min(model_id) FROM models").fetchone()[0]
        con.execute("UPDATE models SET feature_dim = feature_dim * 2 WHERE model_id = ?", [first])
    note = [c.value for c in run(wider).caption if "different feature dimensions" in c.value]
    assert len(note) == 1 and "(1 model)" in note[0] and "[dimension study](./)" in note[0]
