import base64
import io
import json
import re
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import torch
from streamlit.testing.v1 import AppTest

from app.charts.attribution import attribution_grid, maps_frame
from app.pages.attribution import default_models
from app.services.attribution import IG_STEPS
from app.services.attribution_types import AttributionRow
from core.attribution import OCCLUSION_METRICS, grad_cam, integrated_gradients, occlusion
from core.models import arch_config, build_model
from core.store import create_schema
from core.train import to_input

CLASSES = [f"class{i}" for i in range(10)]
DENSE = "lenet5-dense-s0"
PRUNED = ["lenet5-magnitude-r0.5-s0", "lenet5-magnitude-r0.7-s0", "lenet5-magnitude-r0.9-s0"]
NO_CKPT = "lenet5-snip-r0.5-s0"


def write_attribution_db(directory: Path) -> Path:
    """A tiny results DB with real (untrained, seeded) LeNet-5 checkpoints beside it, two
    benchmarks and two sample images per benchmark; one model has no checkpoint."""
    path = directory / "results.duckdb"
    con = duckdb.connect(str(path))
    create_schema(con, num_classes=10)
    config = arch_config("lenet5", in_channels=1, num_classes=10, width=1.0, input_size=28)
    (directory / "checkpoints").mkdir()
    rows = []
    for seed, model_id in enumerate([DENSE, *PRUNED, NO_CKPT]):
        method = model_id.split("-")[1]
        checkpoint = None
        if model_id != NO_CKPT:
            torch.manual_seed(seed)
            checkpoint = f"checkpoints/{model_id}.pt"
            torch.save(build_model("lenet5", in_channels=1, num_classes=10).state_dict(),
                       directory / checkpoint)
        rows.append({"model_id": model_id, "arch": "lenet5", "dataset": "fashion_mnist",
                     "method": method, "ratio": 0.0 if method == "dense" else
                     float(model_id.split("-r")[1].split("-")[0]), "retrained": False,
                     "seed": 0, "arch_config": config, "checkpoint": checkpoint})
    con.register("_m", pd.DataFrame(rows))
    con.execute("INSERT INTO models (model_id, arch, dataset, method, ratio, retrained, seed, "
                "arch_config, checkpoint) SELECT model_id, arch, dataset, method, ratio, "
                "retrained, seed, arch_config, checkpoint FROM _m")
    con.execute("INSERT INTO benchmarks VALUES ('clean', 'fashion_mnist', 'clean', 0, 'clean'), "
                "('gaussian_noise-3', 'fashion_mnist', 'gaussian_noise', 3, 'noise')")
    con.execute("INSERT INTO dataset_info VALUES ('fashion_mnist', 10, ?, 28, 28, 1, 'test', 2)",
                [CLASSES])
    rng = np.random.default_rng(0)
    for benchmark in ("clean", "gaussian_noise-3"):
        for sample_id, label in ((0, 3), (1, 7)):
            pixels = rng.integers(0, 256, (28, 28, 1), dtype=np.uint8).tobytes()
            con.execute("INSERT INTO images VALUES (?, ?, ?, 28, 28, 1, ?)",
                        [benchmark, sample_id, label, pixels])
    con.close()
    return path


@pytest.fixture
def attribution_db(tmp_path):
    return write_attribution_db(tmp_path)


@pytest.fixture
def app(run_page, attribution_db):
    """``app(**state)``: the Attribution page on `attribution_db` after its first run."""
    def run(**state) -> AppTest:
        return run_page("attribution", attribution_db, **state)

    return run


def _figure(at: AppTest) -> dict:
    charts = at.get("plotly_chart")
    assert len(charts) == 1
    return json.loads(charts[0].proto.spec)


def _array(z) -> np.ndarray:
    """A figure array from the chart's JSON (Plotly sends numpy arrays base64-encoded)."""
    if isinstance(z, dict):
        shape = tuple(int(n) for n in str(z.get("shape", "-1")).split(","))
        return np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"]).reshape(shape)
    return np.asarray(z, dtype=float)


def _texts(at: AppTest, kind: str) -> str:
    return " ".join(e.value for e in at.get(kind))


def _cache(path: Path) -> pd.DataFrame:
    # The page's process-wide connection holds the file: open it with the same configuration.
    con = duckdb.connect(str(path) + ".attributions.duckdb")
    try:
        return con.execute("SELECT * FROM attributions").df()
    finally:
        con.close()


def test_nothing_selected_explains_how_to_pick(app):
    at = app()
    assert not at.exception
    assert "Geometry" in _texts(at, "info") and "sample id" in _texts(at, "info")
    assert not at.get("plotly_chart")
    assert at.selectbox[0].options == ["0", "1"]  # the samples with stored images
    at.selectbox[0].set_value(1).run()  # picking an id selects the sample
    assert not at.exception
    assert at.session_state["selected_sample"] == 1
    # Nothing selected on other pages: the dense model and the magnitude ratios by default.
    assert at.multiselect[0].value == [DENSE, *PRUNED]
    assert len(at.get("plotly_chart")) == 1


def test_preset_selection_renders_grid_and_caches_correct_maps(app, attribution_db):
    at = app(selected_sample=0, selected_models=[DENSE, PRUNED[1]],
              reference_benchmark="gaussian_noise-3")
    assert not at.exception
    assert at.selectbox[1].value == "gaussian_noise-3"
    fig = _figure(at)
    heatmaps = [t for t in fig["data"] if t["type"] == "heatmap"]
    assert len(heatmaps) == 2 * (len(OCCLUSION_METRICS) + 1)  # + saliency column
    assert fig["layout"]["coloraxis2"]["colorscale"][-1][1] == "rgb(5,48,97)"  # + is blue

    cache = _cache(attribution_db)
    assert set(cache["model_id"]) == {DENSE, PRUNED[1]}
    assert len(cache) == 2 * len(OCCLUSION_METRICS)
    # The cached maps are the occlusion of that model on that stored image.
    con = duckdb.connect(str(attribution_db), read_only=True)
    pixels, label = con.execute("SELECT pixels, label FROM images WHERE benchmark_id = "
                                "'gaussian_noise-3' AND sample_id = 0").fetchone()
    con.close()
    image = to_input(np.frombuffer(pixels, np.uint8).reshape(1, 28, 28, 1).copy())[0]
    model = build_model("lenet5", in_channels=1, num_classes=10,
                        weights=attribution_db.parent / f"checkpoints/{DENSE}.pt")
    expected = occlusion(model, image, label, window=4, stride=2, baseline=0.0)
    for metric in OCCLUSION_METRICS:
        row = cache[(cache["model_id"] == DENSE) & (cache["metric"] == metric)].iloc[0]
        assert (row["window"], row["stride"], row["baseline"]) == (4, 2, 0.0)
        np.testing.assert_allclose(np.asarray(row["values"]).reshape(28, 28),
                                   expected[metric], rtol=1e-5, atol=1e-6)
    shown = _array(heatmaps[0]["z"])  # first row, angle column
    np.testing.assert_allclose(shown, expected["angle"], rtol=1e-5, atol=1e-6)

    # A new window is a new computation; the earlier one stays cached.
    at.number_input[0].set_value(5).run()  # the window
    assert not at.exception
    assert set(_cache(attribution_db)["window"]) == {4, 5}


def test_cache_file_has_the_store_columns_then_pred_weights_key_and_order(app, attribution_db):
    app(selected_sample=0, selected_models=[DENSE])

    def columns(path: str, **connect) -> list[tuple[str, str]]:
        con = duckdb.connect(path, **connect)
        try:
            return con.execute("SELECT column_name, data_type FROM information_schema.columns "
                               "WHERE table_name = 'attributions' ORDER BY ordinal_position"
                               ).fetchall()
        finally:
            con.close()

    stored = columns(str(attribution_db), read_only=True)
    assert ("values", "FLOAT[]") in stored
    assert columns(str(attribution_db) + ".attributions.duckdb") == stored + [
        ("pred", "INTEGER"), ("weights_key", "VARCHAR"), ("stored_order", "BIGINT")]


def test_maps_download_as_csv_parquet_and_the_grid_as_html(app, downloads):
    at = app(selected_sample=1, selected_models=[DENSE])
    page = downloads["attribution_clean_1.html"]
    assert "plotly.js v" in page and page.count("Plotly.newPlot(") == 1
    traces = json.loads(re.search(r"Plotly\.newPlot\(\s*\"[^\"]+\",\s*(\[.*?\]),\s*\{", page,
                                  re.S).group(1))
    assert [t["name"] for t in traces] == [t["name"] for t in _figure(at)["data"]]
    from_csv = pd.read_csv(io.StringIO(downloads["attribution_clean_1.csv"]))
    from_parquet = pd.read_parquet(io.BytesIO(downloads["attribution_clean_1.parquet"]))
    assert len(from_csv) == (len(OCCLUSION_METRICS) + 1) * 28 * 28  # + saliency
    pd.testing.assert_frame_equal(from_parquet, from_csv, check_dtype=False)


def test_revisit_reads_the_cache_file(app, attribution_db):
    app(selected_sample=1, selected_models=[DENSE])
    first = _cache(attribution_db)
    at = app(selected_sample=1, selected_models=[DENSE])  # a new session, same file
    assert not at.exception
    pd.testing.assert_frame_equal(_cache(attribution_db), first)
    assert len(_figure(at)["data"]) == 1 + len(OCCLUSION_METRICS) + 1


def test_results_db_attributions_are_used_first(app, attribution_db):
    values = np.linspace(-1, 1, 28 * 28, dtype=np.float32)
    con = duckdb.connect(str(attribution_db))
    for metric in OCCLUSION_METRICS:
        con.execute("INSERT INTO attributions VALUES (?, 'clean', 0, 4, 2, 0.0, ?, 28, 28, 0.5, ?)",
                    [DENSE, metric, values.tolist()])
    con.close()
    at = app(selected_sample=0, selected_models=[DENSE])
    assert not at.exception
    heatmaps = [t for t in _figure(at)["data"] if t["type"] == "heatmap"]
    np.testing.assert_allclose(_array(heatmaps[0]["z"]).reshape(-1), values)
    assert not Path(str(attribution_db) + ".attributions.duckdb").exists()  # nothing computed


def test_model_without_checkpoint_and_stale_ids_get_messages(app):
    at = app(selected_sample=0, selected_models=[NO_CKPT, "gone-model", DENSE])
    assert not at.exception
    assert NO_CKPT in _texts(at, "warning") and "no checkpoint" in _texts(at, "warning")
    assert "gone-model" in _texts(at, "info")
    assert len([t for t in _figure(at)["data"] if t["type"] == "image"]) == 1  # only DENSE


def test_sample_the_database_does_not_hold_is_dropped_with_a_note(app):
    at = app(selected_sample=5)  # this database holds images (and so samples) 0 and 1 only
    assert not at.exception
    infos = _texts(at, "info")
    assert "Dropped what this database does not hold: the sample `5`." in infos
    assert "No sample selected" in infos and at.session_state["selected_sample"] is None
    assert at.selectbox[0].value is None and not at.get("plotly_chart")


def test_synthetic_db_without_checkpoints(synth_db, run_page):
    at = run_page("attribution", synth_db, selected_sample=0)
    assert not at.exception
    assert "checkpoint" in _texts(at, "info")
    assert not at.get("plotly_chart")
    assert not Path(str(synth_db) + ".attributions.duckdb").exists()  # nothing to cache


def test_default_models_prefers_dense_and_magnitude_ratios():
    models = pd.DataFrame({
        "model_id": ["d", "m1", "m5", "m5rt", "m7", "m9", "s5"],
        "arch": ["a"] * 7,
        "method": ["dense", "magnitude", "magnitude", "magnitude", "magnitude", "magnitude",
                   "snip"],
        "ratio": [0.0, 0.1, 0.5, 0.5, 0.7, 0.9, 0.5],
        "retrained": [False, False, False, True, False, False, False]})
    assert default_models(models, pd.Series([True] * 7)) == ["d", "m5", "m7", "m9"]
    usable = pd.Series([True, True, False, True, False, True, True])
    assert default_models(models, usable) == ["d", "m5rt", "m9", "m1"]
    no_dense = pd.Series([False, True, True, True, True, True, True])
    assert default_models(models, no_dense) == ["m1", "m5", "m5rt", "m7"]


def _row(model_id, scale, pred):
    grid = np.arange(12, dtype=np.float32).reshape(3, 4) - 5
    return AttributionRow(model_id, {m: grid * scale for m in OCCLUSION_METRICS},
                          {"angle": 71.23, "l2": 2.5, "margin": -0.25, "prob": 0.4}, pred)


def test_grid_figure_layout_and_shared_symmetric_colour_ranges():
    rows = [_row("a", 1.0, 3), _row("b", 3.0, 1)]
    image = np.zeros((3, 4, 1), dtype=np.uint8)
    fig = attribution_grid(rows, image, 3, class_names=CLASSES, title="t")
    assert len(fig.data) == 2 * (1 + len(OCCLUSION_METRICS))
    titles = [a.text for a in fig.layout.annotations]
    assert "<b>a</b><br>pred: class3 ✓" in titles and "<b>b</b><br>pred: class1 ✗" in titles
    assert "angle = 71.2°" in titles and "margin = -0.25" in titles
    for k, metric in enumerate(OCCLUSION_METRICS, start=2):
        axis = fig.layout[f"coloraxis{k}"]
        assert axis.cmin == -axis.cmax == -18.0  # max |value| over both rows: 6 × 3
        assert axis.cmid == 0
        assert metric in axis.colorbar.title.text.lower()
    assert fig.layout.coloraxis2.colorscale[0][1] == "rgb(103,0,31)"  # negative end is red


def test_grid_with_saliency_and_download_frame():
    rows = [_row("a", 1.0, None)]
    saliency = {"a": np.ones((3, 4))}
    fig = attribution_grid(rows, np.zeros((3, 4, 3), np.uint8), 0, class_names=CLASSES,
                           saliency=saliency)
    assert fig.data[-1].coloraxis == "coloraxis" and "pred: ?" in fig.layout.annotations[0].text
    frame = maps_frame(rows, saliency)
    assert len(frame) == (len(OCCLUSION_METRICS) + 1) * 12
    angle = frame[frame["metric"] == "angle"]
    assert angle.loc[(angle["row"] == 2) & (angle["col"] == 1), "value"].item() == 4.0


def _stored(path: Path, benchmark: str, sample_id: int):
    con = duckdb.connect(str(path), read_only=True)
    pixels, label = con.execute("SELECT pixels, label FROM images WHERE benchmark_id = ? AND "
                                "sample_id = ?", [benchmark, sample_id]).fetchone()
    con.close()
    image = to_input(np.frombuffer(pixels, np.uint8).reshape(1, 28, 28, 1).copy())[0]
    return image, label


def _model(path: Path, model_id: str):
    return build_model("lenet5", in_channels=1, num_classes=10,
                       weights=path.parent / f"checkpoints/{model_id}.pt")


def _gradient_cache(path: Path) -> pd.DataFrame:
    con = duckdb.connect(str(path) + ".attributions.duckdb")
    try:
        return con.execute("SELECT * FROM gradient_attributions").df()
    finally:
        con.close()


def test_gradient_columns_show_negated_captum_maps_and_are_cached(app, attribution_db):
    columns = ["ig:margin", "gradcam:angle"]
    at = app(selected_sample=0, selected_models=[DENSE, PRUNED[0]],
             attribution_gradients=columns, attribution_saliency=False)
    assert not at.exception
    fig = _figure(at)
    heatmaps = [t for t in fig["data"] if t["type"] == "heatmap"]
    per_row = len(OCCLUSION_METRICS) + len(columns)
    assert len(heatmaps) == 2 * per_row
    image, label = _stored(attribution_db, "clean", 0)
    model = _model(attribution_db, DENSE)
    ig = integrated_gradients(model, image, label, metric="margin", baseline=0.0,
                              steps=IG_STEPS)
    cam = grad_cam(model, image, label, metric="angle")
    # Columns after the occlusion maps, shown negated: red (negative) = raises the metric.
    np.testing.assert_allclose(_array(heatmaps[4]["z"]), -ig, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(_array(heatmaps[5]["z"]), -cam, rtol=1e-4, atol=1e-7)
    bars = {fig["layout"][f"coloraxis{k}"]["colorbar"]["title"]["text"] for k in (6, 7)}
    assert bars == {"−IG margin (distance)", "−Grad-CAM angle"}
    assert fig["layout"]["coloraxis6"]["cmid"] == 0
    captions = _texts(at, "caption")
    assert "negated" in captions and "with the head's bias" in captions

    cache = _gradient_cache(attribution_db)
    assert sorted(zip(cache["model_id"], cache["method"], cache["metric"])) == sorted(
        (m, c.split(":")[0], c.split(":")[1]) for m in (DENSE, PRUNED[0]) for c in columns)
    row = cache[(cache["model_id"] == DENSE) & (cache["method"] == "ig")].iloc[0]
    assert (row["baseline"], row["steps"]) == (0.0, IG_STEPS)
    np.testing.assert_allclose(np.asarray(row["values"]).reshape(28, 28), ig, rtol=1e-4,
                               atol=1e-7)  # stored as Captum returns it

    # One more column: only that one is computed, the others come from the cache.
    at.multiselect[1].set_value(columns + ["ig:angle"]).run()
    assert not at.exception
    assert len(_gradient_cache(attribution_db)) == 2 * 3
    assert len([t for t in _figure(at)["data"] if t["type"] == "heatmap"]) == 2 * (per_row + 1)


def test_rerun_on_cached_maps_computes_no_map(app, attribution_db, monkeypatch):
    """A rerun whose maps are all cached draws them without computing any: what keeps it within
    the page budget (timed by bench/pages.py, not here)."""
    from app.services import attribution as maps

    state = dict(selected_sample=1, selected_models=[DENSE, *PRUNED],
                 attribution_gradients=["ig:angle", "ig:margin", "gradcam:margin"])
    app(**state)  # computes and caches everything
    at = app(**state)  # a new session: maps from the cache file
    assert not at.exception

    def computed(*args, **kwargs):
        raise AssertionError("a cached map was computed again")

    for name in ("compute_row", "compute_gradients", "load_model"):
        monkeypatch.setattr(maps, name, computed)
    at.run()  # a rerun, as any widget change makes
    assert not at.exception and len(_figure(at)["data"]) == 4 * (1 + 4 + 3 + 1)


def test_bias_free_database_uses_the_bias_free_margin(app, attribution_db):
    con = duckdb.connect(str(attribution_db))
    con.execute("INSERT INTO build_settings VALUES ('bias_in_margin', 'false')")
    con.close()
    at = app(selected_sample=0, selected_models=[DENSE], attribution_gradients=["ig:margin"])
    assert not at.exception
    assert "without the head's bias" in _texts(at, "caption")
    image, label = _stored(attribution_db, "clean", 0)
    model = _model(attribution_db, DENSE)
    heatmaps = [t for t in _figure(at)["data"] if t["type"] == "heatmap"]
    free = occlusion(model, image, label, bias_in_margin=False)["margin"]
    assert not np.allclose(free, occlusion(model, image, label)["margin"])
    np.testing.assert_allclose(_array(heatmaps[2]["z"]), free, rtol=1e-5, atol=1e-6)
    ig = integrated_gradients(model, image, label, metric="margin", steps=IG_STEPS,
                              bias_in_margin=False)
    np.testing.assert_allclose(_array(heatmaps[4]["z"]), -ig, rtol=1e-4, atol=1e-7)


def test_grid_gradient_columns_titles_and_download_frame():
    rows = [_row("a", 1.0, 3), _row("b", 2.0, 3)]
    grid = np.arange(12, dtype=np.float32).reshape(3, 4) - 5
    gradients = {"a": {"ig:angle": grid, "gradcam:prob": -grid},
                 "b": {"ig:angle": 4 * grid, "gradcam:prob": grid}}
    fig = attribution_grid(rows, np.zeros((3, 4, 1), np.uint8), 3, class_names=CLASSES,
                           gradients=gradients)
    assert len(fig.data) == 2 * (1 + len(OCCLUSION_METRICS) + 2)
    titles = [a.text for a in fig.layout.annotations]
    assert "−IG · angle: Σ = 6°" in titles and "−IG · angle: Σ = 24°" in titles
    assert "−Grad-CAM · prob" in titles
    # IG before Grad-CAM (the fixed column order), each with its own symmetric range.
    assert fig.layout.coloraxis6.cmax == 24.0 and fig.layout.coloraxis7.cmax == 6.0
    frame = maps_frame(rows, gradients=gradients)
    assert len(frame) == 2 * (len(OCCLUSION_METRICS) + 2) * 12
    ig = frame[(frame["model_id"] == "b") & (frame["metric"] == "ig:angle")]
    assert ig["value"].sum() == 24.0 and ig["base_value"].isna().all()


def test_page_states_the_occlusion_limit(app):
    at = app(selected_sample=0, selected_models=[DENSE])
    assert not at.exception
    assert ("This server computes at most 1024 occluded images per model per request; window 4, "
            "stride 2 on this 28×28 image takes 169.") in _texts(at, "caption")
    assert len(at.get("plotly_chart")) == 1


def test_request_over_the_limit_is_refused_with_a_fitting_stride(app, attribution_db,
                                                                monkeypatch):
    from app.settings import settings
    monkeypatch.setenv("ROBUSTNESS_MAX_OCCLUSIONS", "169")
    settings.cache_clear()
    try:
        at = app(selected_sample=0, selected_models=[DENSE], attribution_window=4,
                 attribution_stride=1)
    finally:
        settings.cache_clear()
    assert not at.exception
    assert ("Window 4, stride 1 needs 625 occluded images per model, more than the 169 this "
            "server allows. Raise the stride to 2 or more.") in _texts(at, "warning")
    assert not at.get("plotly_chart")
    assert not (attribution_db.parent / (attribution_db.name + ".attributions.duckdb")).exists()


def test_busy_server_reports_instead_of_computing(app, attribution_db, monkeypatch):
    from app.services.limits import compute_slots
    from app.settings import settings
    monkeypatch.setenv("ROBUSTNESS_ATTRIBUTION_WAIT_S", "0.2")
    settings.cache_clear()
    slots = compute_slots()  # the server-wide slots, shared with the page's session
    try:
        with slots.slot(timeout=1) as a, slots.slot(timeout=1) as b:
            assert a and b  # every slot (2 by default) is taken
            at = app(selected_sample=0, selected_models=[DENSE])
    finally:
        settings.cache_clear()
    assert not at.exception
    assert "The server is busy: no computation slot freed up within 0.2 s." in _texts(at, "warning")
    assert not at.get("plotly_chart")
    at = app(selected_sample=0, selected_models=[DENSE])  # slots free again: computed
    assert not at.exception and len(at.get("plotly_chart")) == 1
