"""Score functions of the dense pruning methods: lowest scores are pruned.

Every function maps ``(model, *, x, y, n_batches, batch_size, seed)`` to one score tensor per
prunable weight, aligned with :func:`core.pruning.prunable_parameters`. See docs/pruning.md,
Score methods.
"""

from __future__ import annotations

from functools import partial
from typing import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from ._validation import check_data, check_positive_int
from ._weights import effective_weight, weight_leaf
from .hessian import TAYLOR2_PROBES, _gradient_and_hessian_diagonal, _saliency
from .selection import prunable_parameters
from .structured import STRUCTURED_METHODS

__all__ = ["PRUNERS", "METHODS", "random_scores", "magnitude_scores", "snip_scores",
           "fisher_scores", "taylor2_scores"]


def random_scores(model: nn.Module, *, x=None, y=None, n_batches: int = 10,
                  batch_size: int = 128, seed: int = 0) -> list[torch.Tensor]:
    """Uniform [0, 1) scores from a generator seeded by ``seed``. ``x, y, n_batches, batch_size``
    are accepted for a uniform :data:`PRUNERS` signature and unused."""
    gen = torch.Generator().manual_seed(seed)
    return [torch.rand(m.weight.shape, generator=gen).to(m.weight.device)
            for m, _ in prunable_parameters(model)]


def magnitude_scores(model: nn.Module, *, x=None, y=None, n_batches: int = 10,
                     batch_size: int = 128, seed: int = 0) -> list[torch.Tensor]:
    """``|w|`` of every prunable weight. The other arguments are unused."""
    return [effective_weight(m).detach().abs() for m, _ in prunable_parameters(model)]


def _scoring_batches(n: int, *, n_batches: int, batch_size: int,
                     seed: int) -> list[torch.Tensor]:
    """Sample indices (batch_size,) of each scoring batch: consecutive slices of a permutation of
    ``range(n)`` seeded by ``seed``, wrapping around when ``n_batches·batch_size`` exceeds ``n``."""
    check_positive_int("n_batches", n_batches)
    check_positive_int("batch_size", batch_size)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return [order[torch.arange(b * batch_size, (b + 1) * batch_size) % n]
            for b in range(n_batches)]


def _batch_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor, *,
                scale: float = 1.0) -> torch.Tensor:
    return F.cross_entropy(model(x[idx]), y[idx]) * scale


def _batch_gradients(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, n_batches: int,
                     batch_size: int, seed: int) -> Iterator[list[torch.Tensor]]:
    """Per-batch gradients of the mean cross-entropy w.r.t. every prunable weight, over the
    :func:`_scoring_batches`. The model runs in eval mode (the function being pruned: BatchNorm
    running statistics, no dropout, no buffer updates) and ``torch.autograd.grad`` leaves every
    ``.grad`` untouched."""
    batches = _scoring_batches(x.shape[0], n_batches=n_batches, batch_size=batch_size, seed=seed)
    leaves = [weight_leaf(m) for m, _ in prunable_parameters(model)]
    was_training = model.training
    model.eval()
    try:
        for idx in batches:
            yield list(torch.autograd.grad(_batch_loss(model, x, y, idx), leaves))
    finally:
        model.train(was_training)


def snip_scores(model: nn.Module, *, x=None, y=None, n_batches: int = 10, batch_size: int = 128,
                seed: int = 0) -> list[torch.Tensor]:
    """SNIP connection sensitivity ``|w ⊙ g|`` (Lee et al. 2019), where ``g = Σ_b ∂L_b/∂w`` is
    the gradient of the per-batch mean cross-entropy summed over ``n_batches`` batches — SNIP's
    ``|∂L/∂c|`` at mask ``c = 1`` on the union of the batches, up to a constant factor that does
    not change the ranking. First order: the weight's removal changes the loss by ``≈ −g·w``."""
    check_data(x, y, "method 'snip'")
    total = None
    for grads in _batch_gradients(model, x, y, n_batches=n_batches, batch_size=batch_size,
                                  seed=seed):
        total = grads if total is None else [t + g for t, g in zip(total, grads)]
    weights = [effective_weight(m).detach() for m, _ in prunable_parameters(model)]
    return [(w * g).abs() for w, g in zip(weights, total)]


def fisher_scores(model: nn.Module, *, x=None, y=None, n_batches: int = 10,
                  batch_size: int = 128, seed: int = 0) -> list[torch.Tensor]:
    """OBD-style saliency with the **empirical Fisher** in place of the Hessian:
    ``½ · w² · F_ww`` with ``F_ww = (1/n_batches) Σ_b (∂L_b/∂w)²`` and ``L_b`` the mean
    cross-entropy of batch ``b`` (``batch_size=1`` gives the per-sample empirical Fisher).

    Squared batch gradients are cheap (one backward pass per batch) but are not the Hessian's
    diagonal — no curvature of the loss enters, and the gradient term of the Taylor expansion is
    dropped; :func:`taylor2_scores` is the second-order criterion itself.
    """
    check_data(x, y, "method 'fisher'")
    total = None
    for grads in _batch_gradients(model, x, y, n_batches=n_batches, batch_size=batch_size,
                                  seed=seed):
        squares = [g.square() for g in grads]
        total = squares if total is None else [t + s for t, s in zip(total, squares)]
    weights = [effective_weight(m).detach() for m, _ in prunable_parameters(model)]
    return [0.5 * w.square() * (f / n_batches) for w, f in zip(weights, total)]


def taylor2_scores(model: nn.Module, *, x=None, y=None, n_batches: int = 10,
                   batch_size: int = 128, seed: int = 0,
                   probes: int = TAYLOR2_PROBES) -> list[torch.Tensor]:
    """Second-order Taylor saliency ``I_m = |−g_m·w_m + ½·w_m²·H_mm|`` of every prunable weight.

    ``L = (1/n_batches) Σ_b L_b`` is the mean cross-entropy (nats) over the scoring batches
    (those of :func:`snip_scores`), ``g = ∇L`` exact and ``H_mm`` Hutchinson's estimate of
    ``diag ∇²L`` (see :func:`core.pruning.hessian_diagonal`): ``probes`` Rademacher probes per
    batch, drawn independently for every batch (``probes · n_batches`` Hessian-vector products;
    unbiased for the mean Hessian, with less variance than one probe set shared by the
    batches). ``g`` and ``H`` come from the same forward pass of each batch, model in eval
    mode. Seeded by ``seed`` (batches and probes). Scores are in nats, shapes the weights'.
    """
    check_data(x, y, "method 'taylor2'")
    batches = _scoring_batches(x.shape[0], n_batches=n_batches, batch_size=batch_size, seed=seed)
    terms = [partial(_batch_loss, x=x, y=y, idx=idx, scale=1 / n_batches) for idx in batches]
    was_training = model.training
    model.eval()
    try:
        grad, diag = _gradient_and_hessian_diagonal(model, terms, probes=probes, seed=seed)
    finally:
        model.train(was_training)
    return _saliency(model, grad, diag)


#: Score functions by method name; each maps ``(model, *, x, y, n_batches, batch_size, seed)``
#: to a list of score tensors aligned with :func:`prunable_parameters`. Lowest scores are pruned.
PRUNERS: dict[str, Callable[..., list[torch.Tensor]]] = {
    "random": random_scores,
    "magnitude": magnitude_scores,
    "snip": snip_scores,
    "fisher": fisher_scores,
    "taylor2": taylor2_scores,
}

#: Every method :func:`core.pruning.make_pruned_model` builds: the score methods, MPT and the
#: structured methods (:mod:`core.pruning.structured`), which remove whole channels.
METHODS: tuple[str, ...] = (*PRUNERS, "mpt", *STRUCTURED_METHODS)
