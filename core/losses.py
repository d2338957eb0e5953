"""Training losses that shape the last-layer geometry differently (see docs/guide.md).

Every loss is a module called as ``loss(features, logits, labels)`` with features X (N, m) — the
head's input —, the head's logits (N, C) and integer labels (N,); it returns a scalar. Losses that
need the head's weights (the cosine loss) or keep their own parameters (the centre loss's class
centres) are built from the model with :func:`make_loss`:

- ``"ce"``: cross-entropy on the logits (the default; the geometry of every other model).
- ``"label_smoothing"``: cross-entropy against targets smoothed by ``smoothing`` — it caps how
  large the correct logit may grow, so norms stay smaller and classes tighter.
- ``"cosine"``: CosFace-style normalised softmax — logits ``s · cos θ_j`` between X and the class
  direction W_j, with an additive margin ``cos_margin`` subtracted from the true class. It sees
  angles only: the feature's length carries no loss, and the arms become narrow.
- ``"center"``: cross-entropy plus ``center_weight`` times the centre loss
  ½·mean_i ‖X_i − c_{y_i}‖², pulling every feature towards a learnt centre of its class.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["LOSSES", "make_loss", "CrossEntropy", "LabelSmoothing", "CosineMarginLoss",
           "CenterLoss", "cosine_logits", "center_loss"]

LOSSES = ("ce", "label_smoothing", "cosine", "center")


def cosine_logits(features: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """cos θ (N, C) between features (N, m) and the class directions, the rows of weight (C, m).

    Invariant to the scale of either argument (a zero vector gives 0)."""
    return F.normalize(features, dim=1) @ F.normalize(weight, dim=1).T


def center_loss(features: torch.Tensor, centers: torch.Tensor, labels: torch.Tensor
                ) -> torch.Tensor:
    """½ · mean over samples of ‖X_i − c_{y_i}‖² (Wen et al. 2016); centers (C, m).

    Its gradient with respect to X_i is (X_i − c_{y_i}) / N."""
    return 0.5 * (features - centers[labels]).pow(2).sum(dim=1).mean()


class CrossEntropy(nn.Module):
    """Plain cross-entropy on the logits."""

    def forward(self, features, logits, labels):
        return F.cross_entropy(logits, labels)


class LabelSmoothing(nn.Module):
    """Cross-entropy against (1 − ε)·one-hot + ε/C targets, ε = ``smoothing``."""

    def __init__(self, *, smoothing: float = 0.1):
        super().__init__()
        if not 0 <= smoothing < 1:
            raise ValueError(f"`smoothing` must be in [0, 1). Got {smoothing} instead.")
        self.smoothing = float(smoothing)

    def forward(self, features, logits, labels):
        return F.cross_entropy(logits, labels, label_smoothing=self.smoothing)


class CosineMarginLoss(nn.Module):
    """CosFace (Wang et al. 2018): cross-entropy on ``scale · (cos θ_j − margin·[j = y])``.

    ``head`` is the model's classifier (its weight rows are the class directions; its bias is
    not used by the loss). The loss depends on the features' directions only.
    """

    def __init__(self, head: nn.Linear, *, scale: float = 16.0, margin: float = 0.1):
        super().__init__()
        if scale <= 0:
            raise ValueError(f"`scale` must be > 0. Got {scale} instead.")
        if not 0 <= margin < 1:
            raise ValueError(f"`margin` must be in [0, 1). Got {margin} instead.")
        # A plain attribute, not a submodule: the head's parameters belong to the model.
        object.__setattr__(self, "head", head)
        self.scale, self.margin = float(scale), float(margin)

    def forward(self, features, logits, labels):
        cos = cosine_logits(features, self.head.weight)
        cos = cos - self.margin * F.one_hot(labels, cos.shape[1]).to(cos.dtype)
        return F.cross_entropy(self.scale * cos, labels)

    @torch.no_grad()
    def fold_into_head(self) -> None:
        """Make the head the classifier this loss trained: unit-norm class directions and no
        bias, so that argmax(W·X + b) = argmax cos θ_j. ``fit`` calls it after training."""
        self.head.weight.copy_(F.normalize(self.head.weight, dim=1))
        if self.head.bias is not None:
            self.head.bias.zero_()


class CenterLoss(nn.Module):
    """Cross-entropy + ``weight`` · :func:`center_loss`, the class centres (C, m) learnt with
    the model (they are this module's parameters: pass them to the optimiser)."""

    def __init__(self, num_classes: int, feature_dim: int, *, weight: float = 0.01):
        super().__init__()
        if weight < 0:
            raise ValueError(f"`weight` must be >= 0. Got {weight} instead.")
        self.weight = float(weight)
        self.centers = nn.Parameter(torch.zeros(num_classes, feature_dim))

    def forward(self, features, logits, labels):
        return F.cross_entropy(logits, labels) + self.weight * center_loss(
            features, self.centers, labels)


def make_loss(name: str, head: nn.Linear, *, smoothing: float = 0.1, scale: float = 16.0,
              cos_margin: float = 0.1, center_weight: float = 0.01) -> nn.Module:
    """The loss ``name`` (one of :data:`LOSSES`) for a model whose classifier is ``head``."""
    if name == "ce":
        return CrossEntropy()
    if name == "label_smoothing":
        return LabelSmoothing(smoothing=smoothing)
    if name == "cosine":
        return CosineMarginLoss(head, scale=scale, margin=cos_margin)
    if name == "center":
        return CenterLoss(head.out_features, head.in_features, weight=center_weight).to(
            head.weight.device)
    raise ValueError(f"`loss` must be one of {', '.join(LOSSES)}. Got {name!r} instead.")
