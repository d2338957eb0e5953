import math

import numpy as np
import pytest
import torch
from captum.attr import Occlusion
from torch import nn

from core.attribution import OCCLUSION_METRICS, gradient_saliency, occlusion, window_starts
from core.geometry import compute_geometry
from core.features import features_and_logits, head_parameters
from core.models import build_model


def _small_rgb_model() -> nn.Module:
    """3-channel, non-square input (3, 12, 10), 5 classes, dropout (eval mode must be used)."""
    torch.manual_seed(1)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Dropout(0.5),
                         nn.Linear(4 * 10 * 8, 8), nn.ReLU(), nn.Linear(8, 5)).double()


def _lenet() -> nn.Module:
    torch.manual_seed(0)
    return build_model("lenet5", in_channels=1, num_classes=10).double().eval()


def _captum_maps(model, image, label, window, stride, baseline) -> dict[str, np.ndarray]:
    """Captum's Occlusion of each metric separately (forward returns that metric)."""
    model.eval()
    maps = {}
    for name in OCCLUSION_METRICS:
        def forward(batch, name=name):
            features, _ = features_and_logits(model, batch)
            weight, bias = head_parameters(model)
            labels = torch.full((batch.shape[0],), label)
            return compute_geometry(features, weight, bias, labels)[name]

        attr = Occlusion(forward).attribute(
            image[None], sliding_window_shapes=(image.shape[0], window, window),
            strides=(image.shape[0], stride, stride), baselines=baseline,
            perturbations_per_eval=64)
        maps[name] = attr[0].amax(0).numpy()  # every channel holds the same value
    return maps


@pytest.mark.parametrize("window,stride", [(4, 2), (5, 3), (3, 3)])
def test_equals_minus_captum_occlusion_lenet(window, stride):
    model = _lenet()
    torch.manual_seed(2)
    image = torch.rand(1, 28, 28, dtype=torch.float64)
    ours = occlusion(model, image, 3, window=window, stride=stride, baseline=0.25)
    ref = _captum_maps(model, image, 3, window, stride, 0.25)
    for name in OCCLUSION_METRICS:
        assert ours[name].shape == (28, 28)
        assert np.abs(ours[name]).max() > 0
        np.testing.assert_allclose(ours[name], -ref[name], rtol=0, atol=1e-4, err_msg=name)


def test_equals_minus_captum_rgb_non_square_partial_windows():
    model = _small_rgb_model()
    torch.manual_seed(3)
    image = torch.rand(3, 12, 10, dtype=torch.float64)
    # 12 − 5 = 7 and 10 − 5 = 5 are not multiples of 3: the last windows are cut off.
    ours = occlusion(model, image, 2, window=5, stride=3, baseline=0.0)
    ref = _captum_maps(model, image, 2, 5, 3, 0.0)
    for name in OCCLUSION_METRICS:
        assert ours[name].shape == (12, 10)
        np.testing.assert_allclose(ours[name], -ref[name], rtol=0, atol=1e-4, err_msg=name)


def test_windows_already_at_the_baseline_are_skipped_and_result_unchanged():
    model = _lenet()
    torch.manual_seed(4)
    image = torch.zeros(1, 28, 28, dtype=torch.float64)
    image[0, 8:20, 6:18] = torch.rand(12, 12, dtype=torch.float64)  # black background
    batch_rows = []
    hook = model.classifier.register_forward_hook(lambda m, i, o: batch_rows.append(len(o)))
    ours = occlusion(model, image, 5, window=4, stride=2, baseline=0.0)
    hook.remove()
    starts = window_starts(28, 4, 2)
    touches = lambda lo, hi: (starts + 4 > lo) & (starts < hi)  # noqa: E731
    changed = int(touches(8, 20).sum() * touches(6, 18).sum())
    assert sum(batch_rows) == 1 + changed < 1 + len(starts) ** 2
    ref = _captum_maps(model, image, 5, 4, 2, 0.0)
    for name in OCCLUSION_METRICS:
        np.testing.assert_allclose(ours[name], -ref[name], rtol=0, atol=1e-4, err_msg=name)


def test_window_starts_cover_the_border():
    assert window_starts(28, 4, 2).tolist() == list(range(0, 25, 2))
    assert window_starts(28, 5, 3).tolist() == [0, 3, 6, 9, 12, 15, 18, 21, 24]  # 24+5 > 28
    assert window_starts(6, 6, 1).tolist() == [0]


def test_chunk_size_does_not_change_the_result():
    model = _lenet()
    image = torch.rand(1, 28, 28, dtype=torch.float64)
    whole = occlusion(model, image, 7, window=4, stride=2, chunk_size=1000)
    for chunk in (13, 64):  # 170 images: uneven last chunks
        part = occlusion(model, image, 7, window=4, stride=2, chunk_size=chunk)
        for name in OCCLUSION_METRICS:
            np.testing.assert_allclose(part[name], whole[name], rtol=0, atol=1e-10)


def _linear_identity_features(h: int, w: int) -> nn.Module:
    """X = the flattened image; the head is a fixed linear layer."""
    head = nn.Linear(h * w, 2).double()
    with torch.no_grad():
        head.weight.copy_(torch.arange(2 * h * w, dtype=torch.float64).reshape(2, -1) % 5 - 2)
        head.bias.zero_()
    return nn.Sequential(nn.Flatten(), head)


def test_hand_worked_l2_with_cut_off_windows():
    # 4×4 image of ones, window 3, stride 2: starts 0 and 2, so the windows hold 9, 6, 6 and 4
    # pixels; with baseline 0 the feature norm drops from 4 to sqrt(16 − pixels hidden).
    model = _linear_identity_features(4, 4)
    maps = occlusion(model, torch.ones(1, 4, 4, dtype=torch.float64), 0, window=3, stride=2)
    big, edge, corner = math.sqrt(7) - 4, math.sqrt(10) - 4, math.sqrt(12) - 4
    assert maps["l2"][0, 0] == pytest.approx(big)
    assert maps["l2"][0, 3] == pytest.approx(edge)
    assert maps["l2"][3, 0] == pytest.approx(edge)
    assert maps["l2"][3, 3] == pytest.approx(corner)
    assert maps["l2"][2, 2] == pytest.approx((big + 2 * edge + corner) / 4)  # in all four
    assert maps["l2"][0, 2] == pytest.approx((big + edge) / 2)


def test_hand_worked_overlapping_windows_and_baseline():
    # 3×3 ones, window 2, stride 1: four windows of 4 pixels each; baseline 2 replaces 1 → 2, so
    # ‖X‖² goes from 9 to 9 − 4 + 16 = 21 for every window and every pixel.
    model = _linear_identity_features(3, 3)
    image = torch.ones(1, 3, 3, dtype=torch.float64)
    maps, base = occlusion(model, image, 1, window=2, stride=1, baseline=2.0, return_base=True)
    np.testing.assert_allclose(maps["l2"], np.full((3, 3), math.sqrt(21) - 3))
    assert base["l2"] == pytest.approx(3.0)
    w = model[1].weight.detach().numpy()
    x = image.numpy().reshape(-1)
    expected_angle = np.degrees(np.arccos(w[1] @ x / (np.linalg.norm(w[1]) * 3.0)))
    assert base["angle"] == pytest.approx(expected_angle)
    assert base["pred"] == int(np.argmax(w @ x))


def test_undefined_windows_give_nan_only_where_they_cover():
    # Only the top-left 2×2 block is non-zero: hiding it makes X = 0, whose angle is undefined.
    model = _linear_identity_features(4, 4)
    image = torch.zeros(1, 4, 4, dtype=torch.float64)
    image[0, :2, :2] = 1.0
    maps = occlusion(model, image, 0, window=2, stride=2)
    assert np.isnan(maps["angle"][:2, :2]).all()
    assert np.isfinite(maps["angle"][2:, :]).all() and np.isfinite(maps["angle"][:, 2:]).all()
    np.testing.assert_allclose(maps["l2"][:2, :2], -2.0)


def test_base_values_match_compute_geometry_and_training_flag_is_restored():
    model = _small_rgb_model().train()
    image = torch.rand(3, 12, 10, dtype=torch.float64)
    first = occlusion(model, image, 4, window=3, stride=1)
    second, base = occlusion(model, image, 4, window=3, stride=1, return_base=True)
    assert model.training  # restored; dropout was off during the passes (results agree)
    for name in OCCLUSION_METRICS:
        np.testing.assert_array_equal(first[name], second[name])
    model.eval()
    with torch.no_grad():
        features, _ = features_and_logits(model, image[None])
    weight, bias = head_parameters(model)
    ref = compute_geometry(features, weight, bias, torch.tensor([4]))
    for name in OCCLUSION_METRICS:
        assert base[name] == pytest.approx(float(ref[name][0]))


def test_float32_model_takes_numpy_image():
    torch.manual_seed(0)
    model = build_model("lenet5", in_channels=1, num_classes=10)
    image = np.random.default_rng(0).random((1, 28, 28), dtype=np.float32)
    maps = occlusion(model, image, 1)
    assert all(maps[m].dtype == np.float32 and maps[m].shape == (28, 28) for m in maps)


@pytest.mark.parametrize("kwargs,error,match", [
    ({"window": 0}, ValueError, r"`window` must be in \[1, 28\]. Got 0"),
    ({"window": 29}, ValueError, r"`window` must be in \[1, 28\]. Got 29"),
    ({"stride": 5}, ValueError, r"`stride` must be in \[1, 4\]. Got 5"),
    ({"stride": 1.5}, TypeError, r"`stride` must be an integer"),
    ({"label": 10}, ValueError, r"`label` must be in \[0, 9\]. Got 10"),
    ({"chunk_size": 0}, ValueError, r"`chunk_size` must be >= 1"),
    ({"baseline": float("nan")}, ValueError, r"`baseline` must be a finite number"),
    ({"image": torch.zeros(28, 28)}, ValueError, r"`image` must be 3-D"),
    ({"image": torch.zeros(1, 28, 28, dtype=torch.uint8)}, ValueError, r"must be a float"),
])
def test_validation_messages(kwargs, error, match):
    torch.manual_seed(0)
    model = build_model("lenet5", in_channels=1, num_classes=10)
    args = {"image": torch.zeros(1, 28, 28), "label": 0, **kwargs}
    image, label = args.pop("image"), args.pop("label")
    with pytest.raises(error, match=match):
        occlusion(model, image, label, **args)


@pytest.mark.parametrize("output", ["prob", "logit"])
def test_gradient_saliency_matches_autograd(output):
    model = _small_rgb_model().eval()
    image = torch.rand(3, 12, 10, dtype=torch.float64)
    x = image[None].clone().requires_grad_(True)
    out = model(x)
    value = torch.softmax(out, 1)[0, 2] if output == "prob" else out[0, 2]
    (grad,) = torch.autograd.grad(value, x)
    expected = grad[0].abs().amax(0).numpy()
    got = gradient_saliency(model, image, 2, output=output)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-12)
    with pytest.raises(ValueError, match="`output` must be 'prob' or 'logit'"):
        gradient_saliency(model, image, 2, output="angle")
