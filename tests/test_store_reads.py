"""The app's reads in `core.store` (catalog, results, samples, placements): a missing table gives
the empty frame of a full one (columns from the schema), and the results agree with a computation
in pandas on the raw tables."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from core.store import CLEAN, catalog, dense_first, placements, results, samples

# Every read with arguments that exist in the synthetic database (filled in by `_args`).
READS = {
    catalog.build_progress: (), catalog.models: (), catalog.benchmarks: (),
    catalog.dataset_info: (), catalog.evaluations: (), catalog.severities: (),
    results.accuracy_bars: (None,), results.subset_accuracy_bars: (None, (0, 1, 2)),
    results.class_accuracy_bars: (3, 1), results.embedding_benchmarks: (),
    placements.embedding_points: ("geometry", "benchmark", (CLEAN,)),
    placements.embedding_spaces: (), placements.shared_quality: ("geometry",),
    results.correlations: (), results.benchmark_similarity: (), results.dimension_angles: (),
    results.vulnerability_archs: (), results.vulnerable_samples: ("ARCH",),
    results.vulnerability_auc: (), results.geometry_distances: (CLEAN,),
    placements.placement_quality: ("geometry", "benchmark", (CLEAN,)),
    results.effective_robustness: (), results.geometry_spread: (),
    samples.local_metrics: ("MODEL", CLEAN), samples.class_metrics: (("MODEL",), (CLEAN,), 0),
    samples.paired_metrics: ("MODEL", CLEAN, "MODEL", CLEAN, 0),
    samples.sample_details: ("MODEL", CLEAN, (0, 1)), samples.sample_images: (CLEAN, (0, 1)),
    samples.dense_models: (), samples.clean_points: ("MODEL",),
    samples.clean_sample: ("MODEL", 0), samples.metric_correlations: (),
    samples.image_sample_ids: (), samples.image_benchmarks: (0,), samples.sample_image: (CLEAN, 0),
    samples.stored_attributions: ([CLEAN, 0, 4, 2, 0.0], ("MODEL",)),
    samples.stored_predictions: (("MODEL",), CLEAN, 0),
}


@pytest.fixture(scope="module")
def con(synth_db):
    with duckdb.connect(str(synth_db), read_only=True) as connection:
        yield connection


def _args(con, args):
    model = con.execute("SELECT model_id FROM models ORDER BY 1 LIMIT 1").fetchone()[0]
    arch = con.execute("SELECT arch FROM models ORDER BY 1 LIMIT 1").fetchone()[0]
    swap = {"MODEL": model, "ARCH": arch}
    def one(value):
        if isinstance(value, (tuple, list)):
            return type(value)(one(v) for v in value)
        return swap.get(value, value) if isinstance(value, str) else value

    return one(tuple(args))


@pytest.mark.parametrize("read", list(READS), ids=lambda f: f"{f.__module__}.{f.__name__}")
def test_a_missing_table_gives_the_empty_frame_of_a_full_one(con, read):
    full = read(con, *_args(con, READS[read]))
    with duckdb.connect() as empty_db:  # holds no table at all
        empty = read(empty_db, *_args(con, READS[read]))
    assert isinstance(empty, pd.DataFrame) and empty.empty
    assert list(empty.columns) == list(full.columns)


def test_models_come_in_display_order_dense_first(con):
    frame = catalog.models(con)
    expected = frame.assign(not_dense=frame["method"] != "dense").sort_values(
        ["arch", "not_dense", "method", "retrained", "ratio"], kind="stable")
    assert frame["model_id"].tolist() == expected["model_id"].tolist()
    first = frame.groupby("arch", sort=False)["method"].first()
    assert (first == "dense").all()


def test_dense_first_refuses_an_alias_that_is_not_an_identifier():
    assert dense_first("m").startswith("m.arch, m.method <> 'dense'")
    with pytest.raises(ValueError, match="`alias` must be an SQL identifier"):
        dense_first("m; DROP")


def test_accuracy_bars_agree_with_a_pandas_average(con):
    severity = 2
    bars = results.accuracy_bars(con, severity)
    rows = con.execute("SELECT * FROM evaluations JOIN models USING (model_id) "
                       "JOIN benchmarks USING (benchmark_id)").df()
    rows = rows[(rows["corruption"] == CLEAN) | (rows["severity"] == severity)]
    expected = rows.groupby(["arch", "method", "retrained", "ratio", "corruption"]
                            )["accuracy"].mean()
    got = bars.set_index(["arch", "method", "retrained", "ratio", "corruption"])["accuracy"]
    pd.testing.assert_series_equal(got.sort_index(), expected.sort_index(), check_names=False)


def test_subset_accuracy_bars_agree_with_a_pandas_average(con):
    chosen = (0, 5, 7, 11)
    bars = results.subset_accuracy_bars(con, None, chosen)
    rows = con.execute("SELECT s.model_id, s.benchmark_id, s.correct, m.arch, m.method, "
                       "m.retrained, m.ratio, b.corruption FROM sample_metrics s "
                       "JOIN models m USING (model_id) JOIN benchmarks b USING (benchmark_id) "
                       "WHERE s.sample_id IN (0, 5, 7, 11)").df()
    per_result = rows.groupby(["model_id", "benchmark_id", "arch", "method", "retrained",
                               "ratio", "corruption"])["correct"].mean().reset_index()
    expected = per_result.groupby(["arch", "method", "retrained", "ratio", "corruption"]
                                  )["correct"].mean()
    got = bars.set_index(["arch", "method", "retrained", "ratio", "corruption"])
    np.testing.assert_allclose(got["subset_accuracy"].sort_index().to_numpy(),
                               expected.sort_index().to_numpy())
    assert (got["n_samples"] == len(chosen)).all()


def test_sample_ids_cover_metrics_and_images(con):
    ids = catalog.sample_ids(con)
    expected = sorted(set(r[0] for r in con.execute(
        "SELECT sample_id FROM sample_metrics UNION SELECT sample_id FROM images").fetchall()))
    assert ids.dtype == np.int64 and ids.tolist() == expected
    with duckdb.connect() as empty_db:
        assert catalog.sample_ids(empty_db).size == 0


def test_memory_limits_are_judged_by_duckdb():
    assert catalog.is_memory_limit("512MiB") and not catalog.is_memory_limit("lots")


def test_placements_of_a_database_without_the_scope_column_read_as_per_benchmark():
    with duckdb.connect() as old:  # embeddings and placement_quality as written before `scope`
        old.execute("CREATE TABLE models(model_id VARCHAR, arch VARCHAR, method VARCHAR, "
                    "ratio DOUBLE, retrained BOOLEAN)")
        old.execute("INSERT INTO models VALUES ('m', 'lenet5', 'dense', 0.0, false)")
        old.execute("CREATE TABLE embeddings(model_id VARCHAR, benchmark_id VARCHAR, x DOUBLE, "
                    "y DOUBLE, space VARCHAR)")
        old.execute("INSERT INTO embeddings VALUES ('m', 'clean', 1.0, 2.0, 'geometry')")
        old.execute("CREATE TABLE placement_quality(space VARCHAR, benchmark_id VARCHAR, "
                    "n_models INTEGER, n_neighbors INTEGER, trustworthiness DOUBLE, "
                    "spearman DOUBLE, seconds DOUBLE)")
        old.execute("INSERT INTO placement_quality VALUES ('geometry', 'clean', 1, 5, 0.9, 0.8, 0)")
        assert placements.embedding_spaces(old).values.tolist() == [["geometry", "benchmark"]]
        assert len(placements.embedding_points(old, "geometry", "benchmark", [CLEAN])) == 1
        assert placements.embedding_points(old, "geometry", "shared", [CLEAN]).empty
        assert len(placements.placement_quality(old, "geometry", "benchmark", [CLEAN])) == 1
        assert placements.shared_quality(old, "geometry").empty
