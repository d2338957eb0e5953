import duckdb
import numpy as np
import pandas as pd
import pytest
import torch

from core import store
from core.geometry import compute_geometry


def make_result(n=20, c=4, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x, w = torch.randn(n, 6, generator=gen), torch.randn(c, 6, generator=gen)
    y = torch.randint(0, c, (n,), generator=gen)
    geo = compute_geometry(x, w, None, y)
    return geo, y.numpy(), x.numpy()


@pytest.fixture
def con(tmp_path):
    con = store.connect(tmp_path / "t.duckdb")
    store.create_schema(con, num_classes=4)
    yield con
    con.close()


def _evaluation(**columns):
    """The ``evaluations`` row of model ``m`` on the clean benchmark."""
    return pd.DataFrame([dict(model_id="m", benchmark_id="clean", **columns)])


def test_metrics_round_trip_with_angles_array(con):
    geo, y, x = make_result()
    table = store.metrics_table("m", "clean", np.arange(20), y, geo)
    store.write_model_results(con, "m", table, _evaluation(n=20, accuracy=0.5),
                              {"clean": x}, sample_ids=np.arange(20))
    frame = con.execute("SELECT * FROM sample_metrics ORDER BY sample_id").df()
    np.testing.assert_allclose(np.stack(frame.angles), geo["angles"].numpy(), rtol=1e-6)
    np.testing.assert_allclose(frame.margin, geo["margin"].numpy(), rtol=1e-6)
    assert frame.correct.tolist() == (geo["pred"].numpy() == y).tolist()
    feats = con.execute("SELECT feature FROM features ORDER BY sample_id").df().feature
    np.testing.assert_allclose(np.stack(feats), x, rtol=1e-6)
    column_type = con.execute("SELECT data_type FROM information_schema.columns WHERE "
                              "table_name = 'sample_metrics' AND column_name = 'angles'").fetchone()
    assert column_type[0] == "FLOAT[4]"


def test_rewriting_a_result_replaces_it(con):
    geo, y, x = make_result()
    for _ in range(2):
        table = store.metrics_table("m", "clean", np.arange(20), y, geo)
        store.write_model_results(con, "m", table, _evaluation(n=20, accuracy=0.5))
    assert con.execute("SELECT count(*) FROM sample_metrics").fetchone()[0] == 20
    assert store.done_pairs(con) == {("m", "clean")}


def test_a_failing_write_leaves_nothing_behind(con):
    geo, y, _ = make_result()
    table = store.metrics_table("m", "clean", np.arange(20), y, geo)
    with pytest.raises(Exception):
        store.write_model_results(con, "m", table, _evaluation(n=20, no_such_column=1.0))
    assert con.execute("SELECT count(*) FROM sample_metrics").fetchone()[0] == 0
    assert store.done_pairs(con) == set()


def test_other_schema_version_gets_a_clear_error(tmp_path):
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE schema_version(version INTEGER); INSERT INTO schema_version VALUES (0)")
    con.close()
    with pytest.raises(store.SchemaVersionError, match="schema version 0.*Rebuild"):
        store.connect(path, read_only=True)


def test_missing_database_names_the_build_command(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m core build"):
        store.open_read_only(tmp_path / "none.duckdb")


def test_replace_rows_is_scoped_by_where(con):
    store.replace_rows(con, "benchmarks", pd.DataFrame(
        [dict(benchmark_id=b, dataset="d", corruption=b, severity=1, category="x") for b in "ab"]))
    store.replace_rows(con, "benchmarks", pd.DataFrame(
        [dict(benchmark_id="a", dataset="d2", corruption="a", severity=2, category="x")]),
        where={"benchmark_id": "a"})
    rows = con.execute("SELECT benchmark_id, dataset FROM benchmarks ORDER BY 1").fetchall()
    assert rows == [("a", "d2"), ("b", "d")]
