"""Dense pruning of trained models: apply score masks, fine-tune with them fixed, store zeros;
and :func:`make_pruned_model`, the one call the build makes for every pruned model.

See docs/pruning.md, Retraining.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from ..train import fit
from ._validation import check_choice, check_data, check_ratio
from ._weights import effective_weight
from .biprop import export_biprop, to_biprop, train_biprop
from .hessian import TAYLOR2_PROBES
from .scores import METHODS, PRUNERS
from .selection import (PRUNABLE_TYPES, SCOPES, _named_prunable, masks_from_scores,
                        prunable_parameters)
from .structured import STRUCTURED_METHODS, structured_prune

__all__ = ["prune", "pruning_scores", "make_permanent", "retrain", "sparsity",
           "make_pruned_model"]


def prune(model: nn.Module, method: str, ratio: float, *, scope: str = "global",
          x: torch.Tensor | None = None, y: torch.Tensor | None = None, n_batches: int = 10,
          batch_size: int = 128, seed: int = 0, probes: int = TAYLOR2_PROBES,
          scores: list[torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """Prune ``model`` in place and return ``{"<module>.weight": bool mask}`` (True = kept).

    Parameters
    ----------
    method : a key of :data:`PRUNERS`.
    ratio : fraction of prunable weights removed, in [0, 1).
    scope : ``"global"`` (one ranking across all layers) or ``"layer"`` (each layer keeps its own
        ``1 − ratio``).
    x, y : training images (N, C, H, W) float and labels (N,) int64 — required by ``snip``,
        ``fisher`` and ``taylor2``; ``n_batches`` batches of ``batch_size`` samples are drawn
        from them.
    seed : seeds the random scores, the batch draw and taylor2's probes.
    probes : Rademacher probes per batch of ``taylor2`` (unused by the other methods).
    scores : ``PRUNERS[method]``'s scores of this model, computed before with the same options
        (one tensor per prunable weight, its shape): scores do not depend on ``ratio``, so the
        models of one parent at several ratios can share one computation.

    Masks are applied with ``torch.nn.utils.prune.custom_from_mask`` (reparametrisation
    ``weight = weight_orig ⊙ weight_mask``); call :func:`make_permanent` to store plain zeros.
    On an already-pruned model the new mask is combined (AND) with the existing one.
    """
    check_choice("method", method, PRUNERS)
    check_ratio(ratio)
    check_choice("scope", scope, SCOPES)
    named = _named_prunable(model)
    if scores is None:
        scores = pruning_scores(model, method, x=x, y=y, n_batches=n_batches,
                                batch_size=batch_size, seed=seed, probes=probes)
    elif [tuple(s.shape) for s in scores] != [tuple(m.weight.shape) for _, m in named]:
        raise ValueError(f"`scores` must hold one tensor per prunable weight of the model, of "
                         f"its shape ({[tuple(m.weight.shape) for _, m in named]}). Got "
                         f"{[tuple(s.shape) for s in scores]} instead.")
    masks = masks_from_scores(scores, ratio, scope=scope)
    for (_, module), mask in zip(named, masks):
        torch_prune.custom_from_mask(module, "weight", mask)
    return {f"{name}.weight": module.weight_mask.bool() for name, module in named}


def pruning_scores(model: nn.Module, method: str, *, x: torch.Tensor | None = None,
                   y: torch.Tensor | None = None, n_batches: int = 10, batch_size: int = 128,
                   seed: int = 0, probes: int = TAYLOR2_PROBES) -> list[torch.Tensor]:
    """The scores :func:`prune` ranks weights by: one tensor per prunable weight (its shape), in
    ``named_modules()`` order; options as for :func:`prune`."""
    check_choice("method", method, PRUNERS)
    options = {"probes": probes} if method == "taylor2" else {}
    return PRUNERS[method](model, x=x, y=y, n_batches=n_batches, batch_size=batch_size,
                           seed=seed, **options)


def make_permanent(model: nn.Module) -> nn.Module:
    """Remove torch's pruning reparametrisation in place: ``weight`` becomes a plain Parameter
    equal to ``weight_orig ⊙ mask`` (exact zeros where pruned), so ``state_dict()`` is the plain
    architecture's. Returns ``model``."""
    for module, name in prunable_parameters(model):
        if hasattr(module, f"{name}_mask"):
            torch_prune.remove(module, name)
    return model


def retrain(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, epochs: float = 1.0,
            lr: float = 0.01, optimizer: str = "sgd", momentum: float = 0.9,
            weight_decay: float = 5e-4, batch_size: int = 128, cosine: bool = True,
            seed: int = 0, progress: bool = False) -> list[float]:
    """Fine-tune the surviving weights of a model pruned by :func:`prune`, masks fixed.

    Uses :func:`core.train.fit` (cross-entropy; arguments as there). The optimiser updates
    ``weight_orig``; the forward pass uses ``weight_orig ⊙ mask``, so pruned weights are exactly
    zero in every step whatever momentum and weight decay do to ``weight_orig``, and
    :func:`make_permanent` stores those zeros. Returns the loss per step.
    """
    check_data(x, y, "retraining")
    if not all(hasattr(m, "weight_mask") for m, _ in prunable_parameters(model)):
        raise ValueError("`model` carries no pruning masks on some prunable weight; call "
                         "prune(model, ...) before retrain (and make_permanent after).")
    return _fine_tune(model, x, y, epochs=epochs, lr=lr, optimizer=optimizer, momentum=momentum,
                      weight_decay=weight_decay, batch_size=batch_size, cosine=cosine, seed=seed,
                      progress=progress)


def _fine_tune(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, epochs: float,
               lr: float = 0.01, optimizer: str = "sgd", momentum: float = 0.9,
               weight_decay: float = 5e-4, batch_size: int = 128, cosine: bool = True,
               seed: int = 0, progress: bool = False) -> list[float]:
    """The retraining recipe of :func:`retrain` on any model: a masked one, or a structurally
    pruned one (a smaller dense network, every weight trained)."""
    return fit(model, x, y, epochs=epochs, lr=lr, optimizer=optimizer, momentum=momentum,
               weight_decay=weight_decay, batch_size=batch_size, seed=seed, cosine=cosine,
               progress=progress, desc="retrain")


def sparsity(model: nn.Module, *, all_parameters: bool = False) -> tuple[float, int, int]:
    """``(sparsity, params_total, params_nonzero)`` with ``sparsity = 1 − nonzero / total``.

    Counts the effective prunable weights (masks applied, biprop layers binarised — what a
    stored, exported checkpoint holds) by default. ``all_parameters=True`` also counts every
    other parameter (biases, norm affine), still excluding biprop scores and ``weight_orig``.
    """
    tensors = []
    for module in model.modules():
        prunable = isinstance(module, PRUNABLE_TYPES)
        if prunable:
            tensors.append(effective_weight(module))
        if all_parameters:
            tensors += [p for name, p in module.named_parameters(recurse=False)
                        if not (prunable and name in ("weight", "weight_orig", "scores"))]
    if not tensors:
        raise ValueError(f"{type(model).__name__} has no nn.Conv2d or nn.Linear layer.")
    total = sum(t.numel() for t in tensors)
    nonzero = sum(int(torch.count_nonzero(t.detach())) for t in tensors)
    return 1.0 - nonzero / total, total, nonzero


def make_pruned_model(dense_model: nn.Module, method: str, ratio: float, *,
                      x: torch.Tensor | None = None, y: torch.Tensor | None = None,
                      retrain_epochs: float = 0.0, mpt_epochs: float = 1.0,
                      scope: str | None = None, lr: float | None = None, batch_size: int = 128,
                      n_batches: int = 10, probes: int = TAYLOR2_PROBES,
                      edge_popup: bool = False, train_bn: bool = False, seed: int = 0,
                      scores: list[torch.Tensor] | None = None,
                      progress: bool = False) -> nn.Module:
    """A plain pruned model (eval mode, zeros stored in the weights); ``dense_model`` is untouched.

    Parameters
    ----------
    method : one of :data:`METHODS` — a :data:`PRUNERS` score, ``"mpt"``, or a structured
        method (:data:`~core.pruning.STRUCTURED_METHODS`).
    ratio : fraction of prunable weights removed, in [0, 1); for the structured methods the
        fraction of prunable channels removed (see :func:`~core.pruning.structured_prune`).
    x, y : training images (N, C, H, W) float and labels (N,) int64; needed by snip, fisher,
        taylor2, retraining and mpt.
    retrain_epochs : fine-tuning epochs after pruning (0 = no retraining); must be 0 for mpt,
        which never trains weights.
    mpt_epochs : epochs of biprop score search (mpt only).
    scope : ``"global"`` / ``"layer"``; ``None`` = the method's default (global for the score
        methods, per layer for mpt, as in the reference, and per layer for the structured
        methods).
    lr : learning rate; ``None`` = 0.01 for retraining, 0.1 for the mpt score search.
    batch_size : batch size of the gradient scores, retraining and the score search.
    n_batches : batches of the snip / fisher / taylor2 scores.
    probes : Rademacher probes per batch of the taylor2 Hessian diagonal.
    edge_popup, train_bn : mpt options, see :func:`to_biprop` and :func:`train_biprop`.
    seed : seeds scores, batch order and the mpt initialisation.
    scores : the score methods only: :func:`pruning_scores` of ``dense_model`` computed before
        with the same options (see :func:`prune`).

    For mpt the dense model only supplies the architecture: a fresh biprop network is drawn,
    its scores trained, and the result exported with :func:`export_biprop`. A structured method
    returns a smaller dense network (no masks, no stored zeros); retraining fine-tunes all of
    its weights with the recipe of :func:`retrain`.
    """
    check_choice("method", method, METHODS)
    if retrain_epochs < 0 or mpt_epochs < 0:
        raise ValueError(f"`retrain_epochs` and `mpt_epochs` must be >= 0. Got "
                         f"{retrain_epochs!r} and {mpt_epochs!r} instead.")
    if method == "mpt":
        if retrain_epochs:
            raise ValueError("`retrain_epochs` must be 0 for method 'mpt' (MPT never trains "
                             f"weights; `mpt_epochs` sets the score search). Got "
                             f"{retrain_epochs!r} instead.")
        biprop = to_biprop(dense_model, ratio, seed=seed, scope=scope or "layer",
                           edge_popup=edge_popup)
        if mpt_epochs:
            train_biprop(biprop, x, y, epochs=mpt_epochs, lr=0.1 if lr is None else lr,
                         batch_size=batch_size, train_bn=train_bn, seed=seed, progress=progress)
        return export_biprop(biprop)
    model = copy.deepcopy(dense_model)
    if method in STRUCTURED_METHODS:
        check_data(x, y, f"method {method!r} (the inputs trace the dependency graph)")
        structured_prune(model, method, ratio, example_inputs=x, scope=scope or "layer")
        if retrain_epochs:
            _fine_tune(model, x, y, epochs=retrain_epochs, lr=0.01 if lr is None else lr,
                       batch_size=batch_size, seed=seed, progress=progress)
        return model.eval()
    prune(model, method, ratio, scope=scope or "global", x=x, y=y, n_batches=n_batches,
          batch_size=batch_size, seed=seed, probes=probes, scores=scores)
    if retrain_epochs:
        retrain(model, x, y, epochs=retrain_epochs, lr=0.01 if lr is None else lr,
                batch_size=batch_size, seed=seed, progress=progress)
    return make_permanent(model).eval()
