"""Geometry of the last layer (docs/geometry.md, Per-sample metrics), vectorised in torch.

Given features ``X`` (the input of the final ``nn.Linear``), its effective weight ``W`` (C×m, rows =
class directions) and bias ``b``, every metric derives from two reads of ``X``: the logits
``X Wᵀ`` and the norms ``‖X‖``. The margin uses the logits and a C×C table of ‖W_i − W_j‖
instead of per-pair products with ``X``.
"""

from __future__ import annotations

import math
import warnings

import torch

__all__ = ["compute_geometry", "METRICS"]

METRICS = ("angle", "l2", "margin", "prob", "confidence")


def _as_tensor(x, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        x = torch.as_tensor(x)
    return x


def _validate(features, weight, bias, labels):
    if features.ndim != 2:
        raise ValueError(f"`features` must be 2-D (N, m). Got shape {tuple(features.shape)} instead.")
    if weight.ndim != 2 or weight.shape[1] != features.shape[1]:
        raise ValueError(
            f"`weight` must have shape (C, m) = (C, {features.shape[1]}). "
            f"Got {tuple(weight.shape)} instead.")
    c = weight.shape[0]
    if bias is not None and tuple(bias.shape) != (c,):
        raise ValueError(f"`bias` must have shape ({c},). Got {tuple(bias.shape)} instead.")
    if labels.ndim != 1 or labels.shape[0] != features.shape[0]:
        raise ValueError(
            f"`labels` must have shape ({features.shape[0]},). Got {tuple(labels.shape)} instead.")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= c):
        raise ValueError(
            f"`labels` must be in [0, {c - 1}]. Got values in "
            f"[{int(labels.min())}, {int(labels.max())}] instead.")
    if not torch.isfinite(weight).all() or (bias is not None and not torch.isfinite(bias).all()):
        raise ValueError("`weight` and `bias` must be finite. Got NaN or infinite values instead.")


def compute_geometry(features, weight, bias, labels, *, bias_in_margin: bool = True
                     ) -> dict[str, torch.Tensor]:
    """Per-sample last-layer geometry.

    Args:
        features: (N, m) float tensor — input of the final linear layer.
        weight: (C, m) effective weight of the final linear layer.
        bias: (C,) bias or None.
        labels: (N,) integer true labels in [0, C).
        bias_in_margin: include ``b`` in the margin (default). ``False`` reproduces the paper's
            bias-free form; the logits used for prediction always include the bias.

    Returns:
        ``angles`` (N, C) degrees in [0, 180], NaN where ‖X‖ = 0 or W_j = 0; ``angle`` (N,)
        = angles[label]; ``l2`` (N,) ‖X‖₂; ``margin`` (N,) signed distance to the nearest decision
        boundary of the predicted class (negative when wrong; NaN when no boundary exists);
        ``prob`` (N,) softmax probability of the label; ``confidence`` (N,) max softmax;
        ``pred`` (N,) int64 argmax of the logits (ties: lowest index). Float outputs have the
        dtype of ``features`` (float32 for half precision inputs).
    """
    features = _as_tensor(features, "features")
    weight = _as_tensor(weight, "weight")
    bias = None if bias is None else _as_tensor(bias, "bias")
    labels = _as_tensor(labels, "labels").long()
    _validate(features, weight, bias, labels)

    dtype = features.dtype if features.dtype in (torch.float32, torch.float64) else torch.float32
    w = weight.to(dtype)
    b = torch.zeros(w.shape[0], dtype=dtype) if bias is None else bias.to(dtype)
    n, c = features.shape[0], w.shape[0]
    w_norm = torch.linalg.vector_norm(w, dim=1)
    pair_dist = _pair_distances(w)
    out = {"angles": torch.empty(n, c, dtype=dtype), "pred": torch.empty(n, dtype=torch.long)}
    out.update({k: torch.empty(n, dtype=dtype) for k in ("angle", "l2", "margin", "prob",
                                                           "confidence")})
    # Row blocks small enough that the block of X and every (rows, C) temporary stay in cache:
    # X is then read from memory once, for the logits and the norms together.
    for start in range(0, n, _BLOCK):
        stop = min(n, start + _BLOCK)
        _block(features[start:stop].to(dtype), w, b, w_norm, pair_dist, labels[start:stop],
               bias_in_margin, {k: v[start:stop] for k, v in out.items()})
    undefined = torch.isinf(out["margin"])
    if undefined.any():
        warnings.warn(f"{int(undefined.sum())} samples have no decision boundary (all class "
                      "directions equal); their margin is NaN.", RuntimeWarning, stacklevel=2)
        out["margin"].masked_fill_(undefined, math.nan)
    return out


_BLOCK = 8192


def _pair_distances(w: torch.Tensor) -> torch.Tensor:
    """C×C table of ‖W_i − W_j‖, 0 where the directions are identical (no boundary)."""
    diff = w[:, None, :] - w[None, :, :]
    return torch.linalg.vector_norm(diff, dim=-1).masked_fill_((diff == 0).all(-1), 0.0)


def _block(x, w, b, w_norm, pair_dist, labels, bias_in_margin, out) -> None:
    dots = x @ w.T                                   # (n, C)
    l2 = torch.linalg.vector_norm(x, dim=1)          # (n,)
    if not (torch.isfinite(dots).all() and torch.isfinite(l2).all()):
        # Any NaN/inf in X propagates to these, so X itself need not be scanned again.
        raise ValueError("`features` must be finite. Got NaN or infinite values instead.")
    denom = l2[:, None] * w_norm[None, :]
    angles = torch.div(dots, denom).clamp_(-1.0, 1.0).arccos_().rad2deg_()
    angles.masked_fill_(denom == 0, math.nan)
    logits = dots + b
    pred = logits.argmax(dim=1)
    probs = torch.softmax(logits, dim=1)
    lab = labels[:, None]
    out["angles"].copy_(angles)
    out["angle"].copy_(angles.gather(1, lab).squeeze(1))
    out["l2"].copy_(l2)
    out["prob"].copy_(probs.gather(1, lab).squeeze(1))
    out["confidence"].copy_(probs.amax(dim=1))
    out["pred"].copy_(pred)
    scores = logits if bias_in_margin else dots
    # min over j != pred of |s_pred - s_j| / ||W_pred - W_j||; identical directions skipped.
    dist = pair_dist[pred]
    no_boundary = dist == 0
    # Divide by 1 where no boundary exists (those entries are masked next): dividing by 0 there
    # would make the margin's gradient NaN (0 · ∞) for every sample (j = pred is always one).
    gap = (scores.gather(1, pred[:, None]) - scores).abs_().div_(dist.masked_fill(no_boundary, 1.0))
    gap.masked_fill_(no_boundary, math.inf)
    margin = gap.amin(dim=1)
    out["margin"].copy_(torch.where(pred == labels, margin, -margin))


