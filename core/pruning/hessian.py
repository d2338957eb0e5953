"""Second-order information of a loss w.r.t. the prunable weights: Hutchinson's estimate of the
Hessian diagonal, and the second-order Taylor saliency of removing one weight (method taylor2).

See docs/pruning.md, taylor2. Notation: ``w`` is the vector of all prunable weights (the
``.weight`` of every Conv2d / Linear, see :func:`core.pruning.prunable_parameters`), ``L(w)`` a
scalar loss, ``g = ∇L`` and ``H = ∇²L``. Hessians are taken w.r.t. ``w`` only: biases and
normalisation parameters are held fixed, which leaves ``diag H`` unchanged (a diagonal entry of
the full parameter Hessian only involves its own weight) and keeps their off-diagonal blocks out
of the estimator's variance.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

from ._validation import check_positive_int
from ._weights import effective_weight, weight_leaf
from .selection import _named_prunable

__all__ = ["TAYLOR2_PROBES", "hessian_diagonal", "taylor2_saliency"]

#: Default number of Rademacher probes of the taylor2 method, per scoring batch in
#: :func:`core.pruning.taylor2_scores`. For LeNet-5 at 10 batches of 128 one call costs about 8×
#: the empirical-Fisher scores (≈ 1.7 s of one CPU thread; 8 probes ≈ 3.3 s); the kept set at
#: 90 % sparsity then agrees to 90 % with a 64-probe reference (1 probe: 85 %, 8: 92 %, 16: 94 %).
TAYLOR2_PROBES = 4

#: Probe entries per double-backward pass, several probes vectorised with ``is_grads_batched``.
#: The pass's memory grows with the number of probes in it; on CPU, batching pays off for small
#: models (an MLP of 21 weights: 64 probes per pass ran 30× faster than one at a time) but
#: little for LeNet-5 (61k weights: 8 per pass 20 % faster than 1, 17 slower than 8), so the
#: number per pass shrinks as the model grows.
_PROBE_ENTRIES_PER_PASS = 2 ** 19
_MAX_PROBES_PER_PASS = 64

LossFn = Callable[[nn.Module], torch.Tensor]


def _checked_loss(loss_fn: LossFn, model: nn.Module) -> torch.Tensor:
    loss = loss_fn(model)
    if not isinstance(loss, torch.Tensor) or loss.ndim != 0:
        got = f"shape {tuple(loss.shape)}" if isinstance(loss, torch.Tensor) else type(loss)
        raise ValueError(f"`loss_fn(model)` must return a scalar (0-dim) tensor. Got {got} "
                         "instead.")
    if not loss.requires_grad:
        raise ValueError("`loss_fn(model)` must depend on the model's prunable weights (its "
                         "result has no autograd graph).")
    return loss


def _gradient_and_hessian_diagonal(model: nn.Module, loss_terms: Sequence[LossFn], *,
                                   probes: int, seed: int
                                   ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """``(g, d)`` per prunable weight, for the loss ``L = Σ_t L_t`` (one term per callable).

    ``g = Σ_t ∇L_t`` exactly; ``d = Σ_t (1/P) Σ_p z_tp ⊙ (∇²L_t z_tp)`` with ``P = probes``
    Rademacher vectors ``z_tp ∈ {−1, +1}ⁿ`` drawn independently for every term from a generator
    seeded by ``seed``. ``E[d] = diag ∇²L``. Each Hessian-vector product is a double
    back-propagation: ``∇²L_t z = ∇_w (∇_w L_t · z)`` through the ``create_graph`` gradient, so
    ``g`` and ``d`` come from the same forward pass of every term. Shapes are the weights'.
    """
    check_positive_int("probes", probes)
    leaves = [weight_leaf(m) for _, m in _named_prunable(model)]
    sizes = [w.numel() for w in leaves]
    per_pass = max(1, min(_MAX_PROBES_PER_PASS, _PROBE_ENTRIES_PER_PASS // sum(sizes)))
    gen = torch.Generator().manual_seed(seed)
    grad = [torch.zeros_like(w) for w in leaves]
    diag = [torch.zeros_like(w) for w in leaves]
    for loss_fn in loss_terms:
        loss = _checked_loss(loss_fn, model)
        grads = torch.autograd.grad(loss, leaves, create_graph=True, allow_unused=True)
        # A weight the loss is linear in (or does not use) has no second-order graph: H z = 0.
        curved = [i for i, g in enumerate(grads) if g is not None and g.requires_grad]
        for start in range(0, probes if curved else 0, per_pass):
            chunk = min(per_pass, probes - start)
            flat = torch.randint(0, 2, (chunk, sum(sizes)), generator=gen)
            flat = (2 * flat - 1).to(device=leaves[0].device, dtype=leaves[0].dtype)
            z = [part.view(chunk, *w.shape) for part, w in zip(flat.split(sizes, dim=1), leaves)]
            hz = torch.autograd.grad([grads[i] for i in curved], leaves,
                                     grad_outputs=[z[i] for i in curved], retain_graph=True,
                                     is_grads_batched=True, allow_unused=True)
            for d, zi, h in zip(diag, z, hz):
                if h is not None:
                    d += (zi * h).sum(0)
        for total, g in zip(grad, grads):
            if g is not None:
                total += g.detach()
    return grad, [d / probes for d in diag]


def hessian_diagonal(model: nn.Module, loss_fn: LossFn, *, probes: int,
                     seed: int = 0) -> dict[str, torch.Tensor]:
    """Hutchinson's estimate of the diagonal of the Hessian of ``loss_fn(model)``.

    ``diag(∇²L) ≈ (1/P) Σ_p z_p ⊙ (∇²L z_p)`` over ``P = probes`` Rademacher vectors ``z_p``
    (entries ±1 with probability ½, seeded by ``seed``): unbiased, with variance
    ``(1/P) Σ_{j≠i} H_ij²`` for entry ``i``. The products ``∇²L z`` are computed by double
    back-propagation (``torch.autograd.grad`` with ``create_graph=True``), several probes per
    pass.

    Parameters
    ----------
    model : the network; used as it is (train/eval mode unchanged, ``.grad`` untouched).
    loss_fn : ``loss_fn(model)`` → the scalar loss ``L`` (0-dim tensor, e.g. the mean
        cross-entropy on the scoring data).
    probes : number of Rademacher probes, a positive int.
    seed : seeds the probes; equal seeds give equal estimates.

    Returns
    -------
    ``{"<module>.weight": tensor}`` for every prunable weight (Conv2d / Linear), of the weight's
    shape, in units of the loss per squared weight unit. On a model pruned with
    :func:`core.pruning.prune` the derivatives are w.r.t. ``weight_orig``, so pruned entries are 0.
    """
    _, diag = _gradient_and_hessian_diagonal(model, [loss_fn], probes=probes, seed=seed)
    return {f"{name}.weight": d for (name, _), d in zip(_named_prunable(model), diag)}


def _saliency(model: nn.Module, grad: list[torch.Tensor],
              diag: list[torch.Tensor]) -> list[torch.Tensor]:
    weights = [effective_weight(m).detach() for _, m in _named_prunable(model)]
    return [(-g * w + 0.5 * w.square() * d).abs() for w, g, d in zip(weights, grad, diag)]


def taylor2_saliency(model: nn.Module, loss_fn: LossFn, *, probes: int = TAYLOR2_PROBES,
                     seed: int = 0) -> list[torch.Tensor]:
    """Second-order Taylor estimate of the loss change when each prunable weight is removed.

    Setting weight ``m`` to zero moves the weights by ``δ = −w_m e_m``; the expansion
    ``ΔL ≈ gᵀδ + ½ δᵀ H δ`` gives ``I_m = |−g_m w_m + ½ w_m² H_mm|`` (exact for a quadratic
    loss). ``g`` is the exact gradient and ``H_mm`` the :func:`hessian_diagonal` estimate with
    ``probes`` probes, both of ``loss_fn(model)`` from the same forward pass.

    Returns one tensor per prunable weight (shapes as :func:`core.pruning.prunable_parameters`),
    in units of the loss; weights already pruned score 0.
    """
    grad, diag = _gradient_and_hessian_diagonal(model, [loss_fn], probes=probes, seed=seed)
    return _saliency(model, grad, diag)
