"""The tensors behind a prunable weight: the one the forward pass uses, and the trainable leaf."""

from __future__ import annotations

import torch
from torch import nn

from .biprop import _BipropMixin


def effective_weight(module: nn.Module) -> torch.Tensor:
    """The weight the forward pass uses: biprop's binarised weight, ``weight_orig ⊙ mask`` under
    torch's pruning reparametrisation (recomputed, as ``module.weight`` is only refreshed by a
    forward pass), else the plain weight."""
    if isinstance(module, _BipropMixin):
        return module.effective_weight()
    if hasattr(module, "weight_mask"):
        return module.weight_orig * module.weight_mask
    return module.weight


def weight_leaf(module: nn.Module) -> torch.Tensor:
    """The trainable tensor behind a prunable weight (``weight_orig`` when already pruned)."""
    return getattr(module, "weight_orig", module.weight)
