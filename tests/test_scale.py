"""The paper's evaluation size (N = 10,000 test images): the `full` preset, and the analysis
kernels that must not grow with N² (timings at that size: bench/scale.py)."""

import tracemalloc
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from core import analysis
from core.pipeline.experiment import load_experiment, preset_path
from core.pipeline.plan import DataShape, plan_build

EXPERIMENTS = Path(__file__).resolve().parent.parent / "experiments"
FASHION = DataShape(num_classes=10, in_channels=1, input_size=28)


def test_full_preset_is_the_demo_grid_on_all_test_images():
    full = load_experiment(preset_path("full"))
    demo = load_experiment(EXPERIMENTS / "demo.toml")
    assert full.name == "full" and full.n_per_class == 1000
    # Every other setting is the demo's: the same models, trained the same way.
    assert replace(full, name="demo", n_per_class=demo.n_per_class) == demo
    full_plan, demo_plan = plan_build(full, FASHION), plan_build(demo, FASHION)
    assert [j.model_id for j in full_plan.models] == [j.model_id for j in demo_plan.models]
    assert len(full_plan.models) == 112 and len(full_plan.benchmarks) == 96


def _gram_cka(x, y):
    """CKA in its kernel form, on the n × n centred Gram matrices:
    ⟨HKH, HLH⟩ / (‖HKH‖ ‖HLH‖)."""
    n = len(x)
    h = np.eye(n) - 1.0 / n
    k, l = h @ (x @ x.T) @ h, h @ (y @ y.T) @ h
    return np.sum(k * l) / (np.linalg.norm(k) * np.linalg.norm(l))


def test_linear_cka_feature_form_equals_the_gram_form():
    rng = np.random.default_rng(4)
    feats = [rng.normal(size=(40, m)) for m in (3, 12, 84)]
    feats.append(feats[1] @ rng.normal(size=(12, 6)) + 0.1 * rng.normal(size=(40, 6)))
    expected = [[_gram_cka(a, b) for b in feats] for a in feats]
    np.testing.assert_allclose(analysis.linear_cka_matrix(feats), expected, rtol=1e-10)


def test_linear_cka_at_ten_thousand_samples_needs_no_n_by_n_matrix():
    rng = np.random.default_rng(5)
    n, widths = 10_000, (84, 84, 32, 84)
    base = rng.normal(size=(n, 84)).astype(np.float32)
    feats = [(base[:, :m] + 0.5 * rng.normal(size=(n, m))).astype(np.float32) for m in widths]
    tracemalloc.start()
    matrix = analysis.linear_cka_matrix(feats)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    stacked = n * sum(widths) * 8          # Z = [X₁ … X_k] in float64
    assert peak < 2.5 * stacked < n * n * 8 / 2, (peak, stacked)
    # Agrees with the two-matrix formula ‖XᵀY‖² / (‖XᵀX‖ ‖YᵀY‖) on one pair.
    x, y = (f.astype(np.float64) - f.mean(0) for f in (feats[0], feats[2]))
    pair = (np.linalg.norm(x.T @ y) ** 2
            / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)))
    assert matrix[0, 2] == pytest.approx(pair, rel=1e-9)
    np.testing.assert_allclose(np.diag(matrix), 1.0)
