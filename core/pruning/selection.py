"""Which weights are prunable, and the deterministic top-k that turns scores into keep-masks.

See the conventions in :mod:`core.pruning` and docs/pruning.md, Prunable weights, ratio
and ties.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ._validation import check_choice, check_ratio

__all__ = ["PRUNABLE_TYPES", "SCOPES", "prunable_parameters", "masks_from_scores"]

PRUNABLE_TYPES = (nn.Conv2d, nn.Linear)
SCOPES = ("global", "layer")


def _named_prunable(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(module name, module)`` of every Conv2d and Linear, in ``named_modules()`` order."""
    found = [(name, m) for name, m in model.named_modules() if isinstance(m, PRUNABLE_TYPES)]
    if not found:
        raise ValueError(f"{type(model).__name__} has no nn.Conv2d or nn.Linear layer to prune.")
    return found


def prunable_parameters(model: nn.Module) -> list[tuple[nn.Module, str]]:
    """``(module, "weight")`` for every Conv2d and Linear, in ``named_modules()`` order — the
    argument format of ``torch.nn.utils.prune.global_unstructured``."""
    return [(module, "weight") for _, module in _named_prunable(model)]


def _n_kept(numel: int, ratio: float) -> int:
    """Weights kept of ``numel`` when the fraction ``ratio`` is removed (torch's rounding)."""
    return numel - round(ratio * numel)


def _top_k_mask(flat_scores: torch.Tensor, k: int) -> torch.Tensor:
    """Bool mask of the ``k`` largest entries of a 1-D tensor; among entries equal to the k-th
    largest value the first ones (lowest index) are kept. A selection (``kthvalue``), not a
    sort: biprop recomputes this every forward pass."""
    n = flat_scores.numel()
    if k == 0:
        return torch.zeros(n, dtype=torch.bool, device=flat_scores.device)
    # NaN scores (e.g. from a diverged gradient) rank lowest: pruned first.
    scores = torch.nan_to_num(flat_scores, nan=-math.inf)
    kth = torch.kthvalue(scores, n - k + 1).values
    above = scores > kth
    tied = scores == kth
    return above | (tied & (torch.cumsum(tied, 0) <= k - above.sum()))


def masks_from_scores(scores: list[torch.Tensor], ratio: float, *,
                      scope: str = "global") -> list[torch.Tensor]:
    """Boolean keep-masks (True = kept) of the scores' shapes: the top ``n − round(ratio·n)``
    scores over all tensors (``scope="global"``) or within each tensor (``scope="layer"``)."""
    check_ratio(ratio)
    check_choice("scope", scope, SCOPES)
    if scope == "layer":
        return [_top_k_mask(s.flatten(), _n_kept(s.numel(), ratio)).view_as(s) for s in scores]
    flat = torch.cat([s.flatten() for s in scores])
    keep = _top_k_mask(flat, _n_kept(flat.numel(), ratio))
    return [m.view_as(s) for m, s in zip(keep.split([s.numel() for s in scores]), scores)]
