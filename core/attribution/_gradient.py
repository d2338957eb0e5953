"""Gradient attributions of the last-layer geometry: Captum's Saliency, Integrated Gradients and
Grad-CAM of a sample's angle, margin or probability (see docs/geometry.md, Gradient
attributions).

The differentiated function is the geometry itself — ``core.features`` (image → features X)
then ``core.geometry.compute_geometry`` (X → angle, margin, prob) — so the gradients are those of
the quantities the build stores, with no second implementation of their formulas. The margin is
a minimum over classes and changes sign with the prediction: piecewise smooth, which is all
gradients and Integrated Gradients need (its gradient is that of the active boundary).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

from ..features import features_and_logits, geometry_of_features, head_of
from ._inputs import as_image, check_baseline, check_int, check_model, eval_mode

__all__ = ["GRADIENT_METRICS", "geometry_forward", "last_conv_layer", "integrated_gradients",
           "grad_cam", "gradient_saliency"]

GRADIENT_METRICS = ("angle", "margin", "prob")


def _check_metric(metric) -> str:
    if metric not in GRADIENT_METRICS:
        raise ValueError(f"`metric` must be one of {', '.join(GRADIENT_METRICS)}. "
                         f"Got {metric!r} instead.")
    return metric


def geometry_forward(model: nn.Module, metric: str, label: int, *, bias_in_margin: bool = True
                     ) -> Callable[[torch.Tensor], torch.Tensor]:
    """A differentiable forward function for Captum: images (N, C, H, W) → (N,) ``metric`` of
    each image for the true class ``label``.

    ``metric``: ``"angle"`` (degrees between X and the label's class direction), ``"margin"``
    (signed distance to the nearest decision boundary of the predicted class, negative when
    the prediction is wrong) or ``"prob"`` (softmax probability of the label) — as
    ``core.geometry.compute_geometry`` defines them, with ``bias_in_margin`` passed on.
    """
    _check_metric(metric)

    def forward(batch: torch.Tensor) -> torch.Tensor:
        features, _ = features_and_logits(model, batch)
        labels = torch.full((batch.shape[0],), label, dtype=torch.long, device=batch.device)
        return geometry_of_features(model, features, labels,
                                    bias_in_margin=bias_in_margin)[metric]

    return forward


def last_conv_layer(model: nn.Module) -> nn.Conv2d:
    """The last ``nn.Conv2d`` in ``model.modules()`` order: Grad-CAM's default layer."""
    last = None
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            last = module
    if last is None:
        raise ValueError(f"{type(model).__name__} has no nn.Conv2d layer; pass `layer` to "
                         "grad_cam.")
    return last


def _resolve_layer(model: nn.Module, layer) -> nn.Module:
    if layer is None:
        return last_conv_layer(model)
    if isinstance(layer, str):
        try:
            return model.get_submodule(layer)
        except AttributeError as exc:
            raise ValueError(f"`layer` must name a submodule of the model. Got {layer!r} "
                             "instead.") from exc
    if isinstance(layer, nn.Module) and any(m is layer for m in model.modules()):
        return layer
    raise ValueError(f"`layer` must be None, a submodule of the model or its dotted name. "
                     f"Got {layer!r} instead.")


def _prepare(model, image, label, metric) -> tuple[torch.Tensor, int]:
    check_model(model)
    x = as_image(image, model)
    label = check_int(label, "label", 0, head_of(model).out_features - 1)
    _check_metric(metric)
    return x, label


def integrated_gradients(model: nn.Module, image, label: int, *, metric: str = "margin",
                         baseline: float = 0.0, steps: int = 64, bias_in_margin: bool = True,
                         return_delta: bool = False):
    """Integrated Gradients (Sundararajan et al. 2017) of one geometry metric, via Captum's
    ``IntegratedGradients`` (Gauss–Legendre rule, all steps in one batch).

    Args:
        model: classifier whose head is its last ``nn.Linear`` (run in eval mode; its training
            flag is restored).
        image: (C, H, W) float array or tensor, as the model takes it.
        label: the sample's true class, in [0, num_classes).
        metric: ``"angle"``, ``"margin"`` or ``"prob"`` (see :func:`geometry_forward`).
        baseline: the reference image's value at every pixel (e.g. 0 = black).
        steps: points of the integration rule, >= 1.
        bias_in_margin: the margin's form (``False``: the paper's bias-free form).
        return_delta: also return Captum's convergence delta.

    Returns:
        (H, W) float numpy array: the attribution summed over channels, in the metric's unit
        (degrees, distance, probability). Completeness: the map sums to
        ``metric(image) − metric(baseline image)`` up to the integration error, so a positive
        pixel is one whose value (against the baseline) raises the metric. With
        ``return_delta``, a pair ``(map, delta)`` where ``delta`` = sum − (metric(image) −
        metric(baseline)) (float).
    """
    from captum.attr import IntegratedGradients

    x, label = _prepare(model, image, label, metric)
    baseline = check_baseline(baseline)
    steps = check_int(steps, "steps", 1)
    ig = IntegratedGradients(geometry_forward(model, metric, label,
                                              bias_in_margin=bias_in_margin))
    with eval_mode(model):
        attr, delta = ig.attribute(x[None], baselines=baseline, n_steps=steps,
                                   method="gausslegendre", return_convergence_delta=True)
    result = attr[0].sum(dim=0).detach().cpu().numpy()
    return (result, float(delta[0])) if return_delta else result


def grad_cam(model: nn.Module, image, label: int, *, metric: str = "margin", layer=None,
             relu: bool = False, bias_in_margin: bool = True) -> np.ndarray:
    """Grad-CAM (Selvaraju et al. 2017) of one geometry metric via Captum's ``LayerGradCam``,
    upsampled to the image size (bilinear, ``LayerAttribution.interpolate``).

    Args:
        model: classifier with a convolution (run in eval mode; its training flag is restored).
        image: (C, H, W) float array or tensor.
        label: the sample's true class, in [0, num_classes).
        metric: ``"angle"``, ``"margin"`` or ``"prob"`` (see :func:`geometry_forward`).
        layer: the layer whose activations are weighted: None (the last ``nn.Conv2d``, see
            :func:`last_conv_layer`), a submodule of ``model`` or its dotted name.
        relu: apply the ReLU of the original Grad-CAM (map ≥ 0: only the evidence for a larger
            metric). The default keeps the sign (Captum's default).
        bias_in_margin: the margin's form (``False``: the paper's bias-free form).

    Returns:
        (H, W) float numpy array: ``Σ_k mean(∂metric/∂A_k) · A_k`` over the layer's channels
        k, upsampled; positive where the layer's activations raise the metric. Units: metric ×
        activation / activation — the metric's unit per unit of weighted activation; compare
        maps of one model and layer, not magnitudes across models.
    """
    from captum.attr import LayerAttribution, LayerGradCam

    x, label = _prepare(model, image, label, metric)
    target_layer = _resolve_layer(model, layer)
    cam = LayerGradCam(geometry_forward(model, metric, label, bias_in_margin=bias_in_margin),
                       target_layer)
    with eval_mode(model):
        attr = cam.attribute(x[None], relu_attributions=relu)
    upsampled = LayerAttribution.interpolate(attr, tuple(x.shape[1:]), interpolate_mode="bilinear")
    return upsampled[0, 0].detach().cpu().numpy()


def gradient_saliency(model: nn.Module, image, label: int, *, output: str = "prob") -> np.ndarray:
    """Gradient saliency (Simonyan et al. 2014) via Captum's ``Saliency``: ``|∂ output / ∂ x|``,
    maximum over channels.

    Args:
        model: classifier (evaluated in eval mode; its training flag is restored).
        image: (C, H, W) float array or tensor.
        label: the class whose output is differentiated, in [0, num_classes).
        output: ``"prob"`` (softmax probability of ``label``) or ``"logit"``.

    Returns:
        (H, W) float numpy array ≥ 0, in output units per pixel-value unit.
    """
    from captum.attr import Saliency

    check_model(model)
    if output not in ("prob", "logit"):
        raise ValueError(f"`output` must be 'prob' or 'logit'. Got {output!r} instead.")
    x = as_image(image, model)
    label = check_int(label, "label", 0, head_of(model).out_features - 1)

    def forward(batch):
        logits = model(batch)
        return torch.softmax(logits, dim=1) if output == "prob" else logits

    with eval_mode(model):
        grads = Saliency(forward).attribute(x[None].clone().requires_grad_(True), target=label,
                                            abs=True)
    return grads[0].amax(dim=0).detach().cpu().numpy()
