import math

import numpy as np
import pytest
import torch
from captum.attr import IntegratedGradients, LayerAttribution, LayerGradCam, Occlusion
from torch import nn

from core.attribution import (GRADIENT_METRICS, OCCLUSION_METRICS, geometry_forward, grad_cam,
                              gradient_saliency, integrated_gradients, last_conv_layer, occlusion,
                              window_starts)
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


# --- gradient attributions ------------------------------------------------------------------

def _smooth_conv_model() -> nn.Module:
    """(2, 9, 7) input, two convolutions, smooth activations (tanh), head 6 → 4 classes."""
    torch.manual_seed(3)
    return nn.Sequential(nn.Conv2d(2, 3, 3), nn.Tanh(), nn.Conv2d(3, 2, 3), nn.Tanh(),
                         nn.Flatten(), nn.Linear(2 * 5 * 3, 6), nn.Tanh(),
                         nn.Linear(6, 4)).double().eval()


def _hand_forward(model: nn.Sequential, metric: str, label: int, *, bias_in_margin=True):
    """The metric written out from its definition (docs/geometry.md) on a Sequential model
    whose last module is the head — independent of core.geometry."""
    head = model[-1]

    def forward(batch):
        x = model[:-1](batch)
        w, b = head.weight, head.bias
        logits = x @ w.T + b
        if metric == "prob":
            return torch.softmax(logits, 1)[:, label]
        if metric == "angle":
            cos = (x @ w[label]) / (x.norm(dim=1) * w[label].norm())
            return torch.rad2deg(torch.arccos(cos))
        pred = logits.argmax(1)
        scores = logits if bias_in_margin else x @ w.T
        margins = []
        for n in range(batch.shape[0]):  # per sample, as the definition reads
            p = int(pred[n])
            gaps = torch.stack([(scores[n, p] - scores[n, j]).abs() / (w[p] - w[j]).norm()
                                for j in range(w.shape[0]) if j != p])
            margins.append(gaps.min() if p == label else -gaps.min())
        return torch.stack(margins)

    return forward


@pytest.mark.parametrize("metric", GRADIENT_METRICS)
@pytest.mark.parametrize("bias_in_margin", [True, False])
def test_integrated_gradients_equal_captum_on_the_defined_metric(metric, bias_in_margin):
    model = _smooth_conv_model()
    torch.manual_seed(4)
    image = torch.rand(2, 9, 7, dtype=torch.float64)
    ours = integrated_gradients(model, image, 1, metric=metric, baseline=0.2, steps=20,
                                bias_in_margin=bias_in_margin)
    reference = IntegratedGradients(_hand_forward(model, metric, 1,
                                                  bias_in_margin=bias_in_margin)).attribute(
        image[None], baselines=0.2, n_steps=20, method="gausslegendre")
    assert ours.shape == (9, 7) and np.abs(ours).max() > 0
    np.testing.assert_allclose(ours, reference[0].sum(0).detach().numpy(), rtol=1e-6,
                               atol=1e-10)


@pytest.mark.parametrize("metric", GRADIENT_METRICS)
def test_integrated_gradients_are_complete(metric):
    """Σ attributions = metric(image) − metric(baseline image), to the integration error, which
    shrinks with the steps."""
    model = _smooth_conv_model()
    torch.manual_seed(5)
    image = torch.rand(2, 9, 7, dtype=torch.float64)
    forward = geometry_forward(model, metric, 2)
    with torch.no_grad():
        difference = float(forward(image[None]) - forward(torch.full_like(image, 0.5)[None]))
    assert abs(difference) > 1e-4
    coarse, coarse_delta = integrated_gradients(model, image, 2, metric=metric, baseline=0.5,
                                                steps=2, return_delta=True)
    fine, fine_delta = integrated_gradients(model, image, 2, metric=metric, baseline=0.5,
                                            steps=128, return_delta=True)
    assert fine.sum() == pytest.approx(difference, rel=1e-3, abs=1e-7)
    assert fine_delta == pytest.approx(fine.sum() - difference, abs=1e-9)
    assert abs(fine_delta) < abs(coarse_delta)


@pytest.mark.parametrize("metric", GRADIENT_METRICS)
@pytest.mark.parametrize("relu", [False, True])
def test_grad_cam_equals_captum_on_the_last_convolution(metric, relu):
    model = _smooth_conv_model()
    torch.manual_seed(6)
    image = torch.rand(2, 9, 7, dtype=torch.float64)
    ours = grad_cam(model, image, 0, metric=metric, relu=relu)
    cam = LayerGradCam(_hand_forward(model, metric, 0), model[2]).attribute(
        image[None], relu_attributions=relu)
    reference = LayerAttribution.interpolate(cam, (9, 7), interpolate_mode="bilinear")
    assert ours.shape == (9, 7) and np.abs(ours).max() > 0
    np.testing.assert_allclose(ours, reference[0, 0].detach().numpy(), rtol=1e-6, atol=1e-12)
    if relu:
        assert ours.min() >= 0
    # A layer named by the caller: the first convolution, by name or as the module.
    np.testing.assert_allclose(grad_cam(model, image, 0, metric=metric, relu=relu, layer="0"),
                               grad_cam(model, image, 0, metric=metric, relu=relu,
                                        layer=model[0]))


def test_signed_grad_cam_has_both_signs_and_its_relu_is_the_positive_part():
    """Without the ReLU the coarse map is signed; with it, the coarse map is its positive part
    (checked on the layer's own resolution: bilinear upsampling of max(0, ·) is not
    max(0, upsampled))."""
    model = _smooth_conv_model()
    torch.manual_seed(7)
    image = torch.rand(2, 9, 7, dtype=torch.float64)
    cam = LayerGradCam(geometry_forward(model, "angle", 3), model[2])
    signed = cam.attribute(image[None])
    assert signed.min() < 0 < signed.max()
    np.testing.assert_allclose(cam.attribute(image[None], relu_attributions=True).detach(),
                               signed.clamp(min=0).detach())


def test_last_conv_layer_and_gradients_of_registry_models():
    resnet = build_model("resnet18", in_channels=3, num_classes=10, width=0.125, input_size=32)
    assert last_conv_layer(resnet) is resnet.layers[7].conv2  # the last block's, not a shortcut
    lenet = _lenet()
    assert last_conv_layer(lenet) is [m for m in lenet.modules() if isinstance(m, nn.Conv2d)][-1]
    image = torch.rand(1, 28, 28, dtype=torch.float64)
    lenet.train()
    for metric in GRADIENT_METRICS:
        assert np.isfinite(grad_cam(lenet, image, 3, metric=metric)).all()
        assert np.isfinite(integrated_gradients(lenet, image, 3, metric=metric, steps=8)).all()
    assert lenet.training  # restored


@pytest.mark.parametrize("call,error,match", [
    (lambda m, x: grad_cam(m, x, 0, metric="l2"), ValueError, "`metric` must be one of angle"),
    (lambda m, x: integrated_gradients(m, x, 0, steps=0), ValueError, "`steps` must be >= 1"),
    (lambda m, x: integrated_gradients(m, x, 4), ValueError, r"`label` must be in \[0, 3\]"),
    (lambda m, x: integrated_gradients(m, x, 0, baseline=None), ValueError, "`baseline` must"),
    (lambda m, x: grad_cam(m, x, 0, layer="nope"), ValueError, "`layer` must name a submodule"),
    (lambda m, x: grad_cam(m, x, 0, layer=nn.Conv2d(1, 1, 1)), ValueError, "`layer` must be"),
    (lambda m, x: grad_cam(nn.Sequential(nn.Flatten(), nn.Linear(126, 4)).double(), x, 0),
     ValueError, "has no nn.Conv2d layer"),
])
def test_gradient_validation_messages(call, error, match):
    with pytest.raises(error, match=match):
        call(_smooth_conv_model(), torch.rand(2, 9, 7, dtype=torch.float64))
