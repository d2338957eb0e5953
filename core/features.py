"""From a model to its last-layer geometry: the head, the features it reads, and the geometry
of those features (``core.geometry``). The build and ``core.attribution`` both go through here.

``X`` — the feature of a sample — is the input of the model's head, the last ``nn.Linear`` in
``model.modules()`` order; the head's effective weight (masks applied, binarised for MPT layers)
holds the class directions. Registry models (``core.models``) expose the split themselves
(``forward_features`` → (N, m), ``forward_head`` → logits); any other classifier (``tv:``
torchvision models) is read with a forward hook on its head.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .geometry import compute_geometry

__all__ = ["head_of", "head_parameters", "features_and_logits", "extract",
           "geometry_of_features", "evaluate_geometry"]


def head_of(model: nn.Module) -> nn.Linear:
    """The classifier head: the last ``nn.Linear`` in ``model.modules()`` order."""
    head = None
    for module in model.modules():
        if isinstance(module, nn.Linear):
            head = module
    if head is None:
        raise ValueError(f"{type(model).__name__} has no nn.Linear layer; the geometry needs a "
                         "linear classifier head.")
    return head


def head_parameters(model: nn.Module) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Effective (weight (C, m), bias (C,) or None) of the head: what the forward pass uses
    (masks, binarisation)."""
    head = head_of(model)
    effective = getattr(head, "effective_weight", None)
    weight = effective() if callable(effective) else head.weight
    return weight.detach(), None if head.bias is None else head.bias.detach()


def _has_feature_seam(model: nn.Module) -> bool:
    return callable(getattr(model, "forward_features", None)) and \
        callable(getattr(model, "forward_head", None))


def features_and_logits(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One forward pass returning (X, logits): X (N, m) is the input of the head, logits (N, C)."""
    if _has_feature_seam(model):
        features = model.forward_features(x)
        return features, model.forward_head(features)
    captured: list[torch.Tensor] = []
    hook = head_of(model).register_forward_hook(lambda m, inp, out: captured.append(inp[0]))
    try:
        logits = model(x)
    finally:
        hook.remove()
    return captured[-1].flatten(1), logits


@torch.inference_mode()
def extract(model: nn.Module, x: torch.Tensor, *, batch_size: int = 1024
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Batched :func:`features_and_logits` in eval mode: (X (N, m), logits (N, C))."""
    model.eval()
    feats, logits = [], []
    for start in range(0, x.shape[0], batch_size):
        f, z = features_and_logits(model, x[start:start + batch_size])
        feats.append(f)
        logits.append(z)
    return torch.cat(feats), torch.cat(logits)


def geometry_of_features(model: nn.Module, features: torch.Tensor, labels: torch.Tensor,
                         *, bias_in_margin: bool = True) -> dict[str, torch.Tensor]:
    """``compute_geometry`` of features (N, m) against ``model``'s head, where ``features`` are."""
    weight, bias = head_parameters(model)
    return compute_geometry(features, weight, bias, labels, bias_in_margin=bias_in_margin)


@torch.inference_mode()
def evaluate_geometry(model: nn.Module, x: torch.Tensor, labels: np.ndarray,
                      *, batch_size: int = 1000, bias_in_margin: bool = True
                      ) -> tuple[dict, np.ndarray]:
    """Features → geometry of one model on a batch of inputs ``x`` (N, C, H, W) with true
    ``labels`` (N,). Returns (geometry, features (N, m) float32 numpy).

    The forward pass runs where ``model`` and ``x`` are; the geometry is computed on the CPU.
    """
    features, _ = extract(model, x, batch_size=batch_size)
    weight, bias = head_parameters(model)
    features = features.cpu()
    geo = compute_geometry(features, weight.cpu(), None if bias is None else bias.cpu(),
                           torch.as_tensor(labels), bias_in_margin=bias_in_margin)
    return geo, features.numpy()
