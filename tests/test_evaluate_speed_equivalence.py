"""The build's per-model evaluation (`evaluate_model_task` + `store.write_model_results`) stores
the same `sample_metrics`, `evaluations` and `features` rows as a reference that evaluates each
(model, benchmark) pair on its own and writes its rows by plain inserts, whatever the batch size."""

import numpy as np
import pandas as pd
import pytest
import torch

from core import store
from core.features import evaluate_geometry
from core.models import arch_config, model_from_config
from core.pipeline.tasks import ModelWeights, evaluate_model_task, state_from_bytes
from core.train import to_input

BENCHMARKS = ("clean", "gaussian_noise-1", "brightness-3")
N = 37          # not a multiple of any batch size below: batches straddle benchmarks


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    config = arch_config("lenet5", in_channels=1, num_classes=10, width=1.0, input_size=28)
    model = model_from_config(config).eval()
    with torch.no_grad():   # a zero weight row and bias give the NaN-angle / no-margin paths
        model.classifier.weight[3] = 0
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (N, 28, 28), dtype=np.uint8) for _ in BENCHMARKS]
    labels = rng.integers(0, 10, N)
    sample_ids = rng.permutation(1000)[:N]
    return ModelWeights.of("m", config, model), images, labels, sample_ids


def _per_pair(weights, images, labels, sample_ids):
    """The reference: every pair on its own — one forward pass over the benchmark's images, the
    geometry of those features alone, means taken per pair, rows inserted one table at a time."""
    model = model_from_config(weights.config, state_from_bytes(weights.state)).eval()
    con = store.connect(":memory:")
    store.create_schema(con, num_classes=10)
    for bench, imgs in zip(BENCHMARKS, images):
        geo, features = evaluate_geometry(model, to_input(imgs), labels)
        store.insert_rows(con, "sample_metrics",
                          store.metrics_table("m", bench, sample_ids, labels, geo))
        store.insert_rows(con, "evaluations", pd.DataFrame([dict(
            model_id="m", benchmark_id=bench, n=len(labels),
            accuracy=float(np.mean(geo["pred"].numpy() == labels)),
            mean_angle=float(np.nanmean(geo["angle"].numpy())),
            mean_l2=float(geo["l2"].mean()),
            mean_margin=float(np.nanmean(geo["margin"].numpy())),
            mean_prob=float(geo["prob"].mean()))]))
        if bench == "clean":
            store.insert_rows(con, "features", pd.DataFrame({
                "model_id": "m", "benchmark_id": bench,
                "sample_id": np.asarray(sample_ids, dtype=np.int32),
                "feature": list(features.astype(np.float32))}))
    return con


def _tables(con):
    order = {"sample_metrics": "benchmark_id, sample_id", "evaluations": "benchmark_id",
             "features": "benchmark_id, sample_id"}
    return {t: con.execute(f"SELECT * FROM {t} ORDER BY {o}").df() for t, o in order.items()}


def _assert_same(got, expected):
    for table in expected:
        assert len(got[table]) == len(expected[table]) > 0, table
        for column in expected[table].columns:
            a, b = got[table][column], expected[table][column]
            if column in ("angles", "feature"):
                np.testing.assert_allclose(np.stack(a), np.stack(b), rtol=1e-5, atol=1e-4,
                                           err_msg=f"{table}.{column}")
            elif pd.api.types.is_float_dtype(b):
                np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4, err_msg=f"{table}.{column}")
            else:
                assert a.tolist() == b.tolist(), f"{table}.{column}"


@pytest.mark.parametrize("batch_size", [1, 16, N, 1000])
def test_per_model_results_equal_per_pair_results(setup, batch_size):
    weights, images, labels, sample_ids = setup
    expected = _tables(_per_pair(weights, images, labels, sample_ids))
    result = evaluate_model_task(weights, BENCHMARKS, labels, sample_ids, *images,
                                 keep_features_for=("clean",), batch_size=batch_size)
    con = store.connect(":memory:")
    store.create_schema(con, num_classes=10)
    store.write_model_results(con, "m", result.metrics, result.evaluations, result.features,
                              sample_ids=sample_ids)
    got = _tables(con)
    _assert_same(got, expected)
    assert got["features"].benchmark_id.unique().tolist() == ["clean"]
    assert np.isnan(got["sample_metrics"].angles.map(lambda a: a[3])).all()


def test_rewriting_a_model_replaces_its_rows(setup):
    """A model written twice (e.g. a rerun over an existing row) holds one result per pair."""
    weights, images, labels, sample_ids = setup
    result = evaluate_model_task(weights, BENCHMARKS, labels, sample_ids, *images,
                                 keep_features_for=("clean",))
    con = store.connect(":memory:")
    store.create_schema(con, num_classes=10)
    for _ in range(2):
        store.write_model_results(con, "m", result.metrics, result.evaluations, result.features,
                                  sample_ids=sample_ids)
    counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
              for t in ("sample_metrics", "evaluations", "features")}
    assert counts == {"sample_metrics": N * len(BENCHMARKS), "evaluations": len(BENCHMARKS),
                      "features": N}


def test_one_array_per_benchmark_is_required(setup):
    weights, images, labels, sample_ids = setup
    with pytest.raises(ValueError, match="one array per benchmark"):
        evaluate_model_task(weights, BENCHMARKS, labels, sample_ids, *images[:2])
