"""The bias-free margin as a build option: `[evaluation] bias_in_margin = false` stores the
paper's margin (no bias), the database records the setting, and a rerun with the other setting
is refused."""

import duckdb
import numpy as np
import pytest
from conftest import run_build
from core import store
from core.geometry import compute_geometry
from core.models import model_from_config
from core.pipeline.experiment import load_experiment
from core.store.builds import check_build_setting

# One LeNet-5, one pruned child, clean + one corruption, raw features of the clean images.
EXPERIMENT = """
name = "bias-free"
seed = 0
[dataset]
name = "fashion_mnist"
train_limit = 300
n_per_class = 3
[[arch]]
arch = "lenet5"
epochs = 0.5
lr = 0.003
optimizer = "adam"
[pruning]
methods = ["magnitude"]
ratios = [0.5]
retrain = [false]
[mpt]
enabled = false
[benchmarks]
corruptions = ["brightness"]
severities = [1]
features_for = ["clean"]
[analysis]
enabled = false
[evaluation]
bias_in_margin = {flag}
"""


def _experiment(tmp_path, flag: str):
    path = tmp_path / f"bias_{flag}.toml"
    path.write_text(EXPERIMENT.format(flag=flag))
    return path


def test_experiment_key_defaults_to_true_and_is_validated(tmp_path):
    assert load_experiment(_experiment(tmp_path, "false")).bias_in_margin is False
    default = tmp_path / "default.toml"
    default.write_text(EXPERIMENT.split("[evaluation]")[0])
    assert load_experiment(default).bias_in_margin is True
    with pytest.raises(ValueError, match="`bias_in_margin` must be true or false"):
        load_experiment(_experiment(tmp_path, '"no"'))


def _bias_free_margin(features: np.ndarray, weight: np.ndarray, bias: np.ndarray,
                      labels: np.ndarray) -> np.ndarray:
    """The paper's margin written out per sample and class pair: prediction from the logits
    with bias, distances from the bias-free scores."""
    out = []
    for x, y in zip(features.astype(np.float64), labels):
        pred = int(np.argmax(weight @ x + bias))
        gaps = [abs((weight[pred] - weight[j]) @ x) / np.linalg.norm(weight[pred] - weight[j])
                for j in range(len(weight)) if j != pred]
        out.append(min(gaps) if pred == y else -min(gaps))
    return np.array(out)


def test_build_without_bias_stores_the_bias_free_margin_and_refuses_the_other(tmp_path):
    db, cache = tmp_path / "free.duckdb", tmp_path / "cache"
    result = run_build(db, cache, experiment=_experiment(tmp_path, "false"))
    assert result.returncode == 0, result.stderr[-3000:]
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT value FROM build_settings WHERE name = 'bias_in_margin'"
                       ).fetchone() == ("false",)
    models = con.execute("SELECT model_id, arch_config, checkpoint FROM models").fetchall()
    assert len(models) == 2
    for model_id, config, checkpoint in models:
        frame = con.execute(
            "SELECT m.label, m.margin, f.feature FROM sample_metrics m JOIN features f "
            "USING (model_id, benchmark_id, sample_id) WHERE model_id = ? AND "
            "benchmark_id = 'clean' ORDER BY sample_id", [model_id]).df()
        model = model_from_config(config, weights=checkpoint)
        weight = model.classifier.weight.detach().double().numpy()
        bias = model.classifier.bias.detach().double().numpy()
        assert np.abs(bias).max() > 1e-3  # the two forms differ on this head
        features = np.stack(frame["feature"].to_numpy())
        expected = _bias_free_margin(features, weight, bias, frame["label"].to_numpy())
        np.testing.assert_allclose(frame["margin"], expected, rtol=1e-4, atol=1e-5)
        with_bias = compute_geometry(features, weight, bias, np.array(frame["label"]))
        assert not np.allclose(frame["margin"], with_bias["margin"].numpy(), rtol=1e-3)
    con.close()

    again = run_build(db, cache, experiment=_experiment(tmp_path, "true"))
    assert again.returncode != 0
    assert "bias_in_margin = false" in again.stderr and "Use another --db" in again.stderr


def test_a_database_evaluated_before_the_setting_existed_holds_the_default():
    con = duckdb.connect(":memory:")
    store.create_schema(con, num_classes=10)
    check_build_setting(con, "bias_in_margin", False, db_path="new.duckdb")  # empty: recorded
    with pytest.raises(ValueError, match="built with bias_in_margin = false.*Use another --db"):
        check_build_setting(con, "bias_in_margin", True, db_path="new.duckdb")
    con.execute("DELETE FROM build_settings")
    con.execute("INSERT INTO evaluations (model_id, benchmark_id) VALUES ('m', 'clean')")
    check_build_setting(con, "bias_in_margin", True, db_path="old.duckdb")
    with pytest.raises(ValueError, match="built with bias_in_margin = true"):
        check_build_setting(con, "bias_in_margin", False, db_path="old.duckdb")
    con.close()
