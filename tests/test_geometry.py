import math

import numpy as np
import pytest
import torch

from core.geometry import compute_geometry


def reference_geometry(x, w, b, y):
    """Deliberately slow per-sample, per-class float64 implementation of docs/geometry.md
    (Per-sample metrics)."""
    x, w, b = (np.asarray(a, dtype=np.float64) for a in (x, w, b))
    out = {k: [] for k in ("angles", "angle", "l2", "margin", "prob", "confidence", "pred")}
    for xi, yi in zip(x, y):
        z = w @ xi + b
        pred = int(np.argmax(z))
        norm = math.sqrt(sum(v * v for v in xi))
        angles = []
        for wj in w:
            wn = math.sqrt(sum(v * v for v in wj))
            if norm == 0 or wn == 0:
                angles.append(math.nan)
            else:
                cos = max(-1.0, min(1.0, float(wj @ xi) / (wn * norm)))
                angles.append(math.degrees(math.acos(cos)))
        best = math.inf
        for j in range(len(w)):
            if j == pred or np.array_equal(w[j], w[pred]):
                continue
            d = np.linalg.norm(w[pred] - w[j])
            best = min(best, abs((w[pred] - w[j]) @ xi + b[pred] - b[j]) / d)
        margin = best if pred == yi else -best
        p = np.exp(z - z.max())
        p /= p.sum()
        for key, value in (("angles", angles), ("angle", angles[yi]), ("l2", norm),
                           ("margin", margin), ("prob", p[yi]), ("confidence", p.max()),
                           ("pred", pred)):
            out[key].append(value)
    return {k: np.asarray(v) for k, v in out.items()}


def test_hand_worked_two_classes():
    w = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    x = torch.tensor([[2.0, 1.0], [2.0, 1.0]])
    g = compute_geometry(x, w, torch.zeros(2), torch.tensor([0, 1]))
    atan = math.degrees(math.atan(0.5))  # 26.565°
    np.testing.assert_allclose(g["angles"][0], [atan, 90 - atan], atol=1e-4)
    np.testing.assert_allclose(g["angle"], [atan, 90 - atan], atol=1e-4)
    np.testing.assert_allclose(g["l2"], [math.sqrt(5)] * 2, rtol=1e-6)
    np.testing.assert_allclose(g["margin"], [1 / math.sqrt(2), -1 / math.sqrt(2)], rtol=1e-6)
    p0 = math.e**2 / (math.e**2 + math.e)
    np.testing.assert_allclose(g["prob"], [p0, 1 - p0], rtol=1e-6)
    np.testing.assert_allclose(g["confidence"], [p0, p0], rtol=1e-6)
    assert g["pred"].tolist() == [0, 0]


def test_hand_worked_bias_enters_margin_and_can_be_left_out():
    w = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    b = torch.tensor([0.0, 0.5, 0.0])
    x = torch.tensor([[2.0, 1.0]])
    with_bias = compute_geometry(x, w, b, torch.tensor([0]))
    without = compute_geometry(x, w, b, torch.tensor([0]), bias_in_margin=False)
    assert with_bias["margin"].item() == pytest.approx(0.5 / math.sqrt(2), rel=1e-6)
    assert without["margin"].item() == pytest.approx(1 / math.sqrt(2), rel=1e-6)


def test_ties_predict_the_lowest_index():
    w = torch.eye(3)
    g = compute_geometry(torch.tensor([[1.0, 1.0, 0.0]]), w, None, torch.tensor([1]))
    assert g["pred"].item() == 0
    assert g["margin"].item() == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize("bias", [True, False])
def test_agrees_with_slow_reference(bias):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(300, 7, generator=gen, dtype=torch.float64)
    w = torch.randn(5, 7, generator=gen, dtype=torch.float64)
    b = torch.randn(5, generator=gen, dtype=torch.float64) if bias else torch.zeros(5, dtype=torch.float64)
    y = torch.randint(0, 5, (300,), generator=gen)
    g = compute_geometry(x, w, b, y)
    ref = reference_geometry(x.numpy(), w.numpy(), b.numpy(), y.numpy())
    for key in ref:
        np.testing.assert_allclose(g[key].numpy(), ref[key], rtol=1e-9, atol=1e-9, err_msg=key)


def test_properties_on_random_data():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(500, 16, generator=gen)
    w = torch.randn(10, 16, generator=gen)
    y = torch.randint(0, 10, (500,), generator=gen)
    g = compute_geometry(x, w, None, y)
    correct = g["pred"] == y
    assert torch.equal(g["margin"] > 0, correct)
    assert torch.equal(g["angle"], g["angles"].gather(1, y[:, None]).squeeze(1))
    assert ((g["angles"] >= 0) & (g["angles"] <= 180)).all()
    scaled = compute_geometry(3.5 * x, w, None, y)
    torch.testing.assert_close(scaled["angles"], g["angles"], atol=2e-3, rtol=0)
    torch.testing.assert_close(scaled["margin"], 3.5 * g["margin"], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(scaled["l2"], 3.5 * g["l2"], rtol=1e-5, atol=0)


def test_batching_changes_nothing():
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(64, 8, generator=gen)
    w = torch.randn(4, 8, generator=gen)
    b = torch.randn(4, generator=gen)
    y = torch.randint(0, 4, (64,), generator=gen)
    full = compute_geometry(x, w, b, y)
    for size in (1, 7, 32):
        parts = [compute_geometry(x[i:i + size], w, b, y[i:i + size]) for i in range(0, 64, size)]
        for key in full:
            torch.testing.assert_close(torch.cat([p[key] for p in parts]), full[key],
                                       equal_nan=True)


def test_zero_feature_gives_nan_angles_and_zero_l2():
    w = torch.randn(3, 4)
    g = compute_geometry(torch.zeros(1, 4), w, torch.tensor([0.0, 1.0, 0.0]), torch.tensor([1]))
    assert torch.isnan(g["angles"]).all() and torch.isnan(g["angle"]).all()
    assert g["l2"].item() == 0.0
    assert g["pred"].item() == 1 and g["margin"].item() > 0


def test_zero_class_direction_gives_nan_angle_for_that_class_only():
    w = torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]])
    g = compute_geometry(torch.tensor([[1.0, 2.0]]), w, None, torch.tensor([2]))
    assert torch.isnan(g["angles"][0, 1])
    assert torch.isfinite(g["angles"][0, [0, 2]]).all()


def test_equal_class_directions_are_skipped_in_margin():
    w = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    g = compute_geometry(torch.tensor([[3.0, 1.0]]), w, None, torch.tensor([0]))
    assert g["margin"].item() == pytest.approx(2 / math.sqrt(2), rel=1e-6)
    with pytest.warns(RuntimeWarning, match="no decision boundary"):
        g = compute_geometry(torch.tensor([[3.0, 1.0]]), torch.ones(2, 2), None, torch.tensor([0]))
    assert torch.isnan(g["margin"]).all()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_any_float_dtype(dtype):
    x = torch.tensor([[2.0, 1.0]], dtype=dtype)
    g = compute_geometry(x, torch.eye(2, dtype=dtype), None, torch.tensor([0]))
    assert g["margin"].item() == pytest.approx(1 / math.sqrt(2), rel=1e-2)


@pytest.mark.parametrize("kwargs, message", [
    (dict(features=torch.zeros(3)), "`features` must be 2-D"),
    (dict(weight=torch.zeros(2, 5)), "`weight` must have shape"),
    (dict(bias=torch.zeros(3)), "`bias` must have shape"),
    (dict(labels=torch.tensor([0, 2])), r"`labels` must be in \[0, 1\]"),
    (dict(labels=torch.tensor([0])), "`labels` must have shape"),
    (dict(features=torch.tensor([[math.nan, 1.0], [1.0, 1.0]])), "`features` must be finite"),
    (dict(features=torch.tensor([[math.inf, 1.0], [1.0, 1.0]])), "`features` must be finite"),
])
def test_bad_input_gets_a_specific_error(kwargs, message):
    args = dict(features=torch.ones(2, 2), weight=torch.eye(2), bias=torch.zeros(2),
                labels=torch.tensor([0, 1]))
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        compute_geometry(args["features"], args["weight"], args["bias"], args["labels"])
