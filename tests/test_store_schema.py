"""Tests of the store's package layout: the schema allow-list that guards every table and column
name spliced into SQL, and the fixed queries of core.store.analysis."""

from __future__ import annotations

import pandas as pd
import pytest

import core.store
from core import store
from core.store import analysis as queries


@pytest.fixture
def con(tmp_path):
    con = store.connect(tmp_path / "s.duckdb")
    store.create_schema(con, num_classes=3)
    yield con
    con.close()


def _benchmarks(ids, dataset="d"):
    return pd.DataFrame([dict(benchmark_id=b, dataset=dataset, corruption=b, severity=1,
                              category="x") for b in ids])


def test_every_name_the_store_exports_exists():
    for name in core.store.__all__:
        assert getattr(core.store, name) is not None, name


def test_allow_list_matches_the_tables_create_schema_makes(con):
    store.create_analysis_state(con)
    rows = con.execute("SELECT table_name, column_name FROM information_schema.columns "
                       "ORDER BY table_name, ordinal_position").fetchall()
    actual: dict[str, list[str]] = {}
    for table, column in rows:
        actual.setdefault(table, []).append(column)
    assert {t: tuple(c) for t, c in actual.items()} == dict(store.schema_columns())
    assert store.schema_columns()["sample_metrics"][-1] == "angles"


def test_writes_reject_a_table_outside_the_schema(con):
    with pytest.raises(ValueError, match="`table` must be one of the store's tables.*"
                                         "Got 'benchmarks; DROP TABLE models' instead"):
        store.insert_rows(con, "benchmarks; DROP TABLE models", _benchmarks(["a"]))
    assert store.table_exists(con, "models")


def test_writes_reject_an_unknown_column_and_leave_the_table_alone(con):
    store.replace_rows(con, "benchmarks", _benchmarks(["a", "b"]))
    bad = _benchmarks(["c"]).assign(**{'x" FROM _frame; --': 1})
    with pytest.raises(ValueError, match="Columns of `benchmarks` must be among"):
        store.replace_rows(con, "benchmarks", bad)
    with pytest.raises(ValueError, match=r"Got unknown \['no_such'\] instead"):
        store.replace_rows(con, "benchmarks", _benchmarks(["c"]), where={"no_such": "a"})
    assert con.execute("SELECT benchmark_id FROM benchmarks ORDER BY 1").fetchall() == [("a",),
                                                                                       ("b",)]


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_class_count_must_be_a_positive_integer(tmp_path, bad):
    con = store.connect(tmp_path / "c.duckdb")
    with pytest.raises(ValueError, match="`num_classes` must be a positive integer"):
        store.create_schema(con, num_classes=bad)
    assert not store.table_exists(con, "models")     # nothing half-created
    con.close()


def test_fingerprints_ignore_row_order_and_follow_content(con):
    store.replace_rows(con, "benchmarks", _benchmarks(["a", "b", "c"]))
    first = queries.input_fingerprints(con)
    assert set(first) == set(queries.ANALYSIS_INPUTS)
    store.replace_rows(con, "benchmarks", _benchmarks(["c", "a", "b"]))
    assert queries.input_fingerprints(con) == first
    store.replace_rows(con, "benchmarks", _benchmarks(["a"], dataset="other"),
                       where={"benchmark_id": "a"})
    changed = queries.input_fingerprints(con)
    assert changed["benchmarks"] != first["benchmarks"]
    assert {k: v for k, v in changed.items() if k != "benchmarks"} == {
        k: v for k, v in first.items() if k != "benchmarks"}


def test_analysis_state_is_created_on_first_read_and_records_fingerprints(con):
    assert not store.table_exists(con, "analysis_state")
    assert queries.stored_fingerprints(con) == {}
    queries.record_fingerprint(con, "cka", "f1", 0.5)
    queries.record_fingerprint(con, "cka", "f2", 0.25)      # replaces, never duplicates
    assert queries.stored_fingerprints(con) == {"cka": "f2"}


def test_family_pruning_vulnerability_binds_method_and_retraining(con):
    rows = pd.DataFrame([("a", "magnitude", False, 0, 7, 10), ("a", "magnitude", True, 0, 9, 10),
                         ("a", "snip", False, 0, 3, 10)],
                        columns=["arch", "method", "retrained", "sample_id", "pv", "n_models"])
    store.replace_rows(con, "pruning_vulnerability", rows)
    out = queries.family_pruning_vulnerability(con, method="magnitude", retrained=True)
    assert out.to_dict("records") == [{"arch": "a", "sample_id": 0, "pv": 9, "n_models": 10}]
    assert queries.family_pruning_vulnerability(con, method="magnitude' OR '1'='1",
                                                retrained=False).empty


def test_store_and_frame_robustness_share_one_definition(con):
    store.replace_rows(con, "benchmarks", pd.DataFrame(
        [("clean", "d", "clean", 0, "x"), ("g1", "d", "gaussian_noise", 1, "noise"),
         ("g2", "d", "gaussian_noise", 2, "noise")],
        columns=["benchmark_id", "dataset", "corruption", "severity", "category"]))
    correct = pd.DataFrame([("m", "clean", 0, False), ("m", "g1", 0, True), ("m", "g2", 0, True),
                            ("m", "g1", 1, False), ("m", "g2", 1, True)],
                           columns=["model_id", "benchmark_id", "sample_id", "correct"])
    store.insert_rows(con, "sample_metrics", correct)
    from_store = queries.store_robustness(con)
    assert from_store.to_dict("records") == [
        {"model_id": "m", "sample_id": 0, "robustness": 2, "n_benchmarks": 2},
        {"model_id": "m", "sample_id": 1, "robustness": 1, "n_benchmarks": 2}]
    from_frame = queries.frame_robustness(
        con.execute("SELECT model_id, benchmark_id, sample_id, correct FROM sample_metrics").df(),
        ["g1", "g2"])
    pd.testing.assert_frame_equal(from_frame, from_store)
