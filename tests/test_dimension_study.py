"""The curse-of-dimensionality study (``core.pipeline.study``): untrained and trained LeNet-5
per width, its build stage (skip on an unchanged fingerprint), its settings, and the Overview's charts."""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pandas as pd
import pytest

from app.charts import overview as charts
from core import store
from core.data import Dataset
from core.pipeline.experiment import ArchSpec, Experiment, load_experiment
from core.pipeline.study import StudySettings, run_dimension_study, update_dimension_study

CLASSES = [str(k) for k in range(4)]


def _toy(n_per_class: int, seed: int) -> Dataset:
    """28×28 images of four classes, each a bright 7×28 band at its own height plus noise."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(CLASSES)), n_per_class)
    images = rng.integers(0, 60, size=(len(labels), 28, 28))
    for k in range(len(CLASSES)):
        images[labels == k, 7 * k:7 * k + 7, :] += 180
    return Dataset(images.astype(np.uint8), labels.astype(np.int64), CLASSES)


@pytest.fixture(scope="module")
def toy():
    return _toy(60, seed=0), _toy(15, seed=1)


_SETTINGS = StudySettings(widths=(4, 32, 128), epochs=2, train_limit=200, lr=0.003,
                          optimizer="adam", batch_size=32, weight_decay=0.0, seed=0)


def test_study_rows_untrained_near_90_trained_toward_the_class(toy):
    train, test = toy
    rows = run_dimension_study(train, test.images, test.labels, _SETTINGS)
    assert list(rows.columns) == ["kind", "dim", "mean", "std", "model_id", "accuracy"]
    assert rows[["kind", "dim"]].values.tolist() == [
        ["trained", 4], ["trained", 32], ["trained", 128],
        ["untrained", 4], ["untrained", 32], ["untrained", 128]]
    assert rows["model_id"].tolist()[:1] == ["lenet5-m4-trained-study"]
    untrained = rows[rows["kind"] == "untrained"].set_index("dim")
    trained = rows[rows["kind"] == "trained"].set_index("dim")
    # A fresh network's feature says nothing about the class: about 90° from its direction.
    assert (untrained["mean"] - 90).abs().max() < 15
    assert trained.loc[[32, 128], "accuracy"].min() > 0.9
    assert (trained["mean"] < untrained["mean"] - 10).all()
    assert (rows["std"] > 0).all() and rows["accuracy"].between(0, 1).all()
    # Seeded: the same settings give the same rows.
    again = run_dimension_study(train, test.images, test.labels,
                                StudySettings(**{**_SETTINGS.__dict__, "widths": (4,)}))
    pd.testing.assert_frame_equal(again.reset_index(drop=True),
                                  rows[rows["dim"] == 4].reset_index(drop=True))


def test_study_on_worker_processes_gives_the_rows_of_this_process(toy):
    """One task per width on the pool executor: the rows of a run in this process, whichever
    worker ran which width (every executor runs tasks with the same thread count)."""
    from core.pipeline.executors import PoolExecutor

    train, test = toy
    local = run_dimension_study(train, test.images, test.labels, _SETTINGS)
    pool = PoolExecutor(2)
    try:
        pooled = run_dimension_study(train, test.images, test.labels, _SETTINGS, executor=pool)
    finally:
        pool.close()
    pd.testing.assert_frame_equal(pooled, local, check_exact=True)


def test_study_settings_are_validated():
    with pytest.raises(ValueError, match="`widths` must be a non-empty list"):
        StudySettings(widths=(8, 0))
    with pytest.raises(ValueError, match="must not repeat"):
        StudySettings(widths=(8, 8))
    with pytest.raises(ValueError, match="`epochs` must be > 0"):
        StudySettings(epochs=0)


def test_build_stage_writes_once_and_skips_an_unchanged_study(toy):
    train, test = toy
    experiment = Experiment(name="toy", dimension_study=True, dimension_study_widths=(4, 16),
                            dimension_study_epochs=0.5, dimension_study_train_limit=80,
                            archs=(ArchSpec(optimizer="adam", lr=0.003),))
    con = duckdb.connect()
    store.create_schema(con, num_classes=len(CLASSES))
    assert update_dimension_study(con, experiment, train, test.images, test.labels)
    first = con.execute("SELECT * FROM dimension_study ORDER BY kind, dim").df()
    assert len(first) == 4 and set(first["dim"]) == {4, 16}
    assert not update_dimension_study(con, experiment, train, test.images, test.labels)
    # Other settings or other data: the study runs again and replaces its rows.
    wider = Experiment(**{**experiment.__dict__, "dimension_study_widths": (4, 16, 64)})
    assert update_dimension_study(con, wider, train, test.images, test.labels)
    assert con.execute("SELECT count(*) FROM dimension_study").fetchone()[0] == 6
    assert update_dimension_study(con, wider, train, test.images[::-1], test.labels[::-1])
    off = Experiment(**{**wider.__dict__, "dimension_study": False})
    assert not update_dimension_study(con, off, train, test.images, test.labels)


def test_dimension_study_section_is_read_and_validated(tmp_path):
    path = tmp_path / "e.toml"
    path.write_text('name = "e"\n[dimension_study]\nenabled = true\nwidths = [8, 64]\n'
                    'epochs = 0.5\ntrain_limit = 500\n')
    e = load_experiment(path)
    assert (e.dimension_study, e.dimension_study_widths, e.dimension_study_epochs,
            e.dimension_study_train_limit) == (True, (8, 64), 0.5, 500)
    assert not load_experiment(_write(tmp_path, "")).dimension_study
    for body, message in [("widths = [8, -1]", "`widths` must be a list of distinct integers"),
                          ("widths = 8", "`widths` must be a list of distinct integers"),
                          ("widths = [8, 8]", "`widths` must be a list of distinct integers"),
                          ("enabled = true\nwidths = []", "`widths` must be a non-empty list"),
                          ("epochs = 0", "`epochs` must be a number > 0"),
                          ("train_limit = -5", "`train_limit` must be an integer >= 0"),
                          ("width = [8]", "unknown key")]:
        with pytest.raises(ValueError, match=message):
            load_experiment(_write(tmp_path, f"[dimension_study]\n{body}\n"))


def _write(tmp_path, body: str):
    path = tmp_path / "x.toml"
    path.write_text('name = "x"\n' + body)
    return path


def test_dimension_reading_follows_the_study_trend():
    dims = pd.DataFrame({
        "kind": ["random"] * 2 + ["untrained"] * 3 + ["trained"] * 3,
        "dim": [8, 512, 8, 84, 512, 8, 84, 512],
        "mean": [90.0, 90.0, 89.0, 90.5, 90.0, 52.0, 66.0, 78.0],
        "std": [20.3, 2.5, 24.8, 4.8, 3.3, 20.0, 9.0, 6.0],
        "model_id": [None, None, "u8", "u84", "u512", "t8", "t84", "t512"]})
    text = charts.dimension_reading(dims)
    assert ("Trained LeNet-5: the mean angle rises steadily from 52.0° at m = 8 to 78.0° at "
            "m = 512 while its spread shrinks from ± 20.0° to ± 6.0°.") in text
    assert "Untrained LeNet-5: the mean angle rises from 89.0° at m = 8 to 90.0°" in text
    fig = charts.dimension_figure(dims)
    names = [t.name for t in fig.data if t.name]
    assert any(n.startswith("untrained LeNet-5") for n in names)
    trained = next(t for t in fig.data if (t.name or "").startswith("trained LeNet-5"))
    assert list(trained.x) == [8, 84, 512] and trained.mode == "lines+markers"
    assert list(trained.error_y.array) == [20.0, 9.0, 6.0]


def test_tiny_build_has_the_study_and_the_overview_draws_both_charts(tiny_db, run_page):
    with duckdb.connect(str(tiny_db), read_only=True) as con:
        dims = con.execute("SELECT kind, dim, mean, std, model_id FROM dimension_angles").df()
        spread = con.execute("SELECT * FROM geometry_spread").df()
        n_models = con.execute("SELECT count(*) FROM models").fetchone()[0]
        study_ids = con.execute("SELECT count(*) FROM models WHERE model_id LIKE '%study%'"
                                ).fetchone()[0]
    widths = load_experiment("experiments/tiny.toml").dimension_study_widths
    for kind in ("untrained", "trained"):
        assert sorted(dims.loc[dims["kind"] == kind, "dim"]) == sorted(widths)
    assert set(widths) <= set(dims.loc[dims["kind"] == "random", "dim"])
    assert study_ids == 0   # study models never join the population
    assert len(spread) == n_models and spread["angle_spread"].gt(0).all()
    assert np.allclose(spread["drop"], spread["clean_accuracy"] - spread["corrupted_accuracy"])
    at = run_page("overview", tiny_db)
    assert not at.exception, at.exception
    specs = {chart.key: json.loads(chart.proto.spec) for chart in at.get("plotly_chart")}
    names = {t.get("name", "") for t in specs["overview_dimension"]["data"]}
    assert {"untrained LeNet-5: angle to true class (mean ± std)",
            "trained LeNet-5: angle to true class (mean ± std)"} <= names
    methods = {t["name"] for t in specs["overview_spread"]["data"]}
    assert methods == set(spread.merge(
        _model_methods(tiny_db), on="model_id")["method"])


def _model_methods(path) -> pd.DataFrame:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("SELECT model_id, method FROM models").df()
