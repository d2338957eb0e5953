"""Pruning: score-based masks for trained models, MPT / biprop, and structured (channel) pruning.

Definitions: docs/pruning.md. Conventions used throughout:

- **Prunable weights** are the ``.weight`` of every ``nn.Conv2d`` and ``nn.Linear`` (biases and
  normalisation layers are never pruned), in ``model.named_modules()`` order.
- ``ratio`` is the fraction of prunable weights **removed**, in [0, 1). Of ``n`` weights,
  ``round(ratio·n)`` are removed and ``k = n − round(ratio·n)`` kept — the counting rule of
  ``torch.nn.utils.prune`` (it equals ``round((1 − ratio)·n)`` except at exact halves, where
  Python's round-half-to-even makes the two differ by one). ``n`` is the number of all prunable
  weights for ``scope="global"`` and the layer's own count for ``scope="layer"``.
- The ``k`` highest scores are kept. Ties are broken deterministically: among equal scores the
  weight that comes first (layer order, then row-major flat index) is kept.

Modules: :mod:`.selection` (prunable weights, top-k masks), :mod:`.scores` (the score methods
random, magnitude, snip, fisher, taylor2), :mod:`.hessian` (Hutchinson's Hessian diagonal and the
second-order saliency), :mod:`.dense` (:func:`prune`, :func:`pruning_scores`, :func:`retrain`, :func:`make_permanent`,
:func:`sparsity`, :func:`make_pruned_model`), :mod:`.biprop` (MPT, Diffenderfer & Kailkhura,
ICLR 2021), :mod:`.structured` (filter / channel removal with Torch-Pruning: smaller dense
models; its own conventions are in that module and docs/pruning.md).
"""

from .biprop import BipropConv2d, BipropLinear, export_biprop, to_biprop, train_biprop
from .dense import (make_permanent, make_pruned_model, prune, pruning_scores, retrain,
                    sparsity)
from .hessian import TAYLOR2_PROBES, hessian_diagonal, taylor2_saliency
from .scores import (METHODS, PRUNERS, fisher_scores, magnitude_scores, random_scores,
                     snip_scores, taylor2_scores)
from .selection import PRUNABLE_TYPES, SCOPES, masks_from_scores, prunable_parameters
from .structured import (STRUCTURED_IMPORTANCES, STRUCTURED_METHODS, STRUCTURED_SCOPES,
                         latency_ratio, structured_prune)

__all__ = [
    "PRUNERS",
    "METHODS",
    "SCOPES",
    "PRUNABLE_TYPES",
    "TAYLOR2_PROBES",
    "prunable_parameters",
    "random_scores",
    "magnitude_scores",
    "snip_scores",
    "fisher_scores",
    "taylor2_scores",
    "hessian_diagonal",
    "taylor2_saliency",
    "masks_from_scores",
    "prune",
    "pruning_scores",
    "make_permanent",
    "retrain",
    "sparsity",
    "BipropConv2d",
    "BipropLinear",
    "to_biprop",
    "train_biprop",
    "export_biprop",
    "make_pruned_model",
    "STRUCTURED_METHODS",
    "STRUCTURED_IMPORTANCES",
    "STRUCTURED_SCOPES",
    "structured_prune",
    "latency_ratio",
]
