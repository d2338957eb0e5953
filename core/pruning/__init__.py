"""Unstructured pruning (SPEC §3): score-based masks for trained models, and MPT / biprop.

Conventions used throughout:

- **Prunable weights** are the ``.weight`` of every ``nn.Conv2d`` and ``nn.Linear`` (biases and
  normalisation layers are never pruned), in ``model.named_modules()`` order.
- ``ratio`` is the fraction of prunable weights **removed**, in [0, 1). Of ``n`` weights,
  ``round(ratio·n)`` are removed and ``k = n − round(ratio·n)`` kept — the counting rule of
  ``torch.nn.utils.prune`` (it equals ``round((1 − ratio)·n)`` except at exact halves, where
  Python's round-half-to-even makes the two differ by one). ``n`` is the number of all prunable
  weights for ``scope="global"`` and the layer's own count for ``scope="layer"``.
- The ``k`` highest scores are kept. Ties are broken deterministically: among equal scores the
  weight that comes first (layer order, then row-major flat index) is kept.

Dense pruning: :func:`prune` (scores from :data:`PRUNERS`, masks applied with
``torch.nn.utils.prune.custom_from_mask``), :func:`retrain`, :func:`make_permanent`,
:func:`sparsity`. MPT (Diffenderfer & Kailkhura, ICLR 2021): :class:`BipropConv2d`,
:class:`BipropLinear`, :func:`to_biprop`, :func:`train_biprop`, :func:`export_biprop`.
:func:`make_pruned_model` chains them for the build.
"""

from __future__ import annotations

import copy
import math
import numbers
from typing import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import prune as torch_prune

from ..train import fit

__all__ = [
    "PRUNERS",
    "METHODS",
    "SCOPES",
    "prunable_parameters",
    "random_scores",
    "magnitude_scores",
    "snip_scores",
    "taylor2_scores",
    "masks_from_scores",
    "prune",
    "make_permanent",
    "retrain",
    "sparsity",
    "BipropConv2d",
    "BipropLinear",
    "to_biprop",
    "train_biprop",
    "export_biprop",
    "make_pruned_model",
]

PRUNABLE_TYPES = (nn.Conv2d, nn.Linear)
SCOPES = ("global", "layer")


# --------------------------------------------------------------------------- validation

def _check_ratio(ratio) -> None:
    if isinstance(ratio, bool) or not isinstance(ratio, numbers.Real) or not 0 <= ratio < 1:
        raise ValueError(f"`ratio` must be in [0, 1). Got {ratio!r} instead.")


def _check_choice(name: str, value, known) -> None:
    if value not in known:
        names = ", ".join(repr(k) for k in known)
        raise ValueError(f"`{name}` must be one of {names}. Got {value!r} instead.")


def _check_positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer. Got {value!r} instead.")


def _check_data(x, y, what: str) -> None:
    if x is None or y is None:
        raise ValueError(f"`x` and `y` (training images and labels) are required for {what}.")
    if x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ValueError(f"`x` and `y` must hold the same, non-zero number of samples. "
                         f"Got {x.shape[0]} and {y.shape[0]} instead.")


# --------------------------------------------------------------------------- prunable weights

def _named_prunable(model: nn.Module) -> list[tuple[str, nn.Module]]:
    found = [(name, m) for name, m in model.named_modules() if isinstance(m, PRUNABLE_TYPES)]
    if not found:
        raise ValueError(f"{type(model).__name__} has no nn.Conv2d or nn.Linear layer to prune.")
    return found


def prunable_parameters(model: nn.Module) -> list[tuple[nn.Module, str]]:
    """``(module, "weight")`` for every Conv2d and Linear, in ``named_modules()`` order — the
    argument format of ``torch.nn.utils.prune.global_unstructured``."""
    return [(module, "weight") for _, module in _named_prunable(model)]


def _effective_weight(module: nn.Module) -> torch.Tensor:
    """The weight the forward pass uses: biprop's binarised weight, ``weight_orig ⊙ mask`` under
    torch's pruning reparametrisation (recomputed, as ``module.weight`` is only refreshed by a
    forward pass), else the plain weight."""
    if isinstance(module, _BipropMixin):
        return module.effective_weight()
    if hasattr(module, "weight_mask"):
        return module.weight_orig * module.weight_mask
    return module.weight


def _weight_leaf(module: nn.Module) -> torch.Tensor:
    """The trainable tensor behind a prunable weight (``weight_orig`` when already pruned)."""
    return getattr(module, "weight_orig", module.weight)


# --------------------------------------------------------------------------- scores

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
    return [_effective_weight(m).detach().abs() for m, _ in prunable_parameters(model)]


def _batch_gradients(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, n_batches: int,
                     batch_size: int, seed: int) -> Iterator[list[torch.Tensor]]:
    """Per-batch gradients of the mean cross-entropy w.r.t. every prunable weight.

    Batches are consecutive slices of a permutation of the samples seeded by ``seed``, wrapping
    around when ``n_batches·batch_size`` exceeds the data. The model runs in eval mode (the
    function being pruned: BatchNorm running statistics, no dropout, no buffer updates) and
    ``torch.autograd.grad`` leaves every ``.grad`` untouched.
    """
    _check_positive_int("n_batches", n_batches)
    _check_positive_int("batch_size", batch_size)
    n = x.shape[0]
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    leaves = [_weight_leaf(m) for m, _ in prunable_parameters(model)]
    was_training = model.training
    model.eval()
    try:
        for b in range(n_batches):
            idx = order[torch.arange(b * batch_size, (b + 1) * batch_size) % n]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            yield list(torch.autograd.grad(loss, leaves))
    finally:
        model.train(was_training)


def snip_scores(model: nn.Module, *, x=None, y=None, n_batches: int = 10, batch_size: int = 128,
                seed: int = 0) -> list[torch.Tensor]:
    """SNIP connection sensitivity ``|w ⊙ g|`` (Lee et al. 2019), where ``g = Σ_b ∂L_b/∂w`` is
    the gradient of the per-batch mean cross-entropy summed over ``n_batches`` batches — SNIP's
    ``|∂L/∂c|`` at mask ``c = 1`` on the union of the batches, up to a constant factor that does
    not change the ranking."""
    _check_data(x, y, "method 'snip'")
    total = None
    for grads in _batch_gradients(model, x, y, n_batches=n_batches, batch_size=batch_size,
                                  seed=seed):
        total = grads if total is None else [t + g for t, g in zip(total, grads)]
    weights = [_effective_weight(m).detach() for m, _ in prunable_parameters(model)]
    return [(w * g).abs() for w, g in zip(weights, total)]


def taylor2_scores(model: nn.Module, *, x=None, y=None, n_batches: int = 10,
                   batch_size: int = 128, seed: int = 0) -> list[torch.Tensor]:
    """Second-order (OBD, LeCun et al. 1990) saliency ``½ · w² · H_ww``.

    The Hessian diagonal is estimated by the **empirical Fisher** over batches:
    ``H_ww ≈ (1/n_batches) Σ_b (∂L_b/∂w)²`` with ``L_b`` the mean cross-entropy of batch ``b``
    (with ``batch_size=1`` this is the per-sample empirical Fisher). Not Hutchinson.
    """
    _check_data(x, y, "method 'taylor2'")
    total = None
    for grads in _batch_gradients(model, x, y, n_batches=n_batches, batch_size=batch_size,
                                  seed=seed):
        squares = [g.square() for g in grads]
        total = squares if total is None else [t + s for t, s in zip(total, squares)]
    weights = [_effective_weight(m).detach() for m, _ in prunable_parameters(model)]
    return [0.5 * w.square() * (f / n_batches) for w, f in zip(weights, total)]


#: Score functions by method name; each maps ``(model, *, x, y, n_batches, batch_size, seed)``
#: to a list of score tensors aligned with :func:`prunable_parameters`. Lowest scores are pruned.
PRUNERS: dict[str, Callable[..., list[torch.Tensor]]] = {
    "random": random_scores,
    "magnitude": magnitude_scores,
    "snip": snip_scores,
    "taylor2": taylor2_scores,
}

#: Every method :func:`make_pruned_model` builds.
METHODS: tuple[str, ...] = (*PRUNERS, "mpt")


# --------------------------------------------------------------------------- masks

def _n_kept(numel: int, ratio: float) -> int:
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
    _check_ratio(ratio)
    _check_choice("scope", scope, SCOPES)
    if scope == "layer":
        return [_top_k_mask(s.flatten(), _n_kept(s.numel(), ratio)).view_as(s) for s in scores]
    flat = torch.cat([s.flatten() for s in scores])
    keep = _top_k_mask(flat, _n_kept(flat.numel(), ratio))
    return [m.view_as(s) for m, s in zip(keep.split([s.numel() for s in scores]), scores)]


def prune(model: nn.Module, method: str, ratio: float, *, scope: str = "global",
          x: torch.Tensor | None = None, y: torch.Tensor | None = None, n_batches: int = 10,
          batch_size: int = 128, seed: int = 0) -> dict[str, torch.Tensor]:
    """Prune ``model`` in place and return ``{"<module>.weight": bool mask}`` (True = kept).

    Parameters
    ----------
    method : a key of :data:`PRUNERS`.
    ratio : fraction of prunable weights removed, in [0, 1).
    scope : ``"global"`` (one ranking across all layers) or ``"layer"`` (each layer keeps its own
        ``1 − ratio``).
    x, y : training images (N, C, H, W) float and labels (N,) int64 — required by ``snip`` and
        ``taylor2``; ``n_batches`` batches of ``batch_size`` samples are drawn from them.
    seed : seeds the random scores and the batch draw.

    Masks are applied with ``torch.nn.utils.prune.custom_from_mask`` (reparametrisation
    ``weight = weight_orig ⊙ weight_mask``); call :func:`make_permanent` to store plain zeros.
    On an already-pruned model the new mask is combined (AND) with the existing one.
    """
    _check_choice("method", method, PRUNERS)
    _check_ratio(ratio)
    _check_choice("scope", scope, SCOPES)
    named = _named_prunable(model)
    scores = PRUNERS[method](model, x=x, y=y, n_batches=n_batches, batch_size=batch_size,
                             seed=seed)
    masks = masks_from_scores(scores, ratio, scope=scope)
    for (_, module), mask in zip(named, masks):
        torch_prune.custom_from_mask(module, "weight", mask)
    return {f"{name}.weight": module.weight_mask.bool() for name, module in named}


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
    _check_data(x, y, "retraining")
    if not all(hasattr(m, "weight_mask") for m, _ in prunable_parameters(model)):
        raise ValueError("`model` carries no pruning masks on some prunable weight; call "
                         "prune(model, ...) before retrain (and make_permanent after).")
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
            tensors.append(_effective_weight(module))
        if all_parameters:
            tensors += [p for name, p in module.named_parameters(recurse=False)
                        if not (prunable and name in ("weight", "weight_orig", "scores"))]
    if not tensors:
        raise ValueError(f"{type(model).__name__} has no nn.Conv2d or nn.Linear layer.")
    total = sum(t.numel() for t in tensors)
    nonzero = sum(int(torch.count_nonzero(t.detach())) for t in tensors)
    return 1.0 - nonzero / total, total, nonzero


# --------------------------------------------------------------------------- MPT / biprop

class _ScoreStraightThrough(torch.autograd.Function):
    """Forward returns ``gain`` (α·m, or |W|⊙m for edge-popup), built from ``|S|`` without autograd.
    Backward sends the incoming gradient times ``|W|`` to ``|S|`` — the reference biprop
    ``GetQuantnet_binary`` (α is treated as a constant, as there)."""

    @staticmethod
    def forward(ctx, score_abs, gain, weight_abs):
        ctx.save_for_backward(weight_abs)
        return gain.clone()

    @staticmethod
    def backward(ctx, grad):
        weight_abs, = ctx.saved_tensors
        return grad * weight_abs, None, None


class _GlobalTopK:
    """One top-k over the ``|S|`` of all layers of a biprop model (``scope="global"``).

    Shared by those layers; the masks are recomputed only when a score tensor changed, detected by
    its autograd version counter (bumped by every in-place update: optimiser steps, ``copy_``,
    ``load_state_dict``) and storage address.
    """

    def __init__(self, layers: list[nn.Module], ratio: float):
        self.layers = layers
        self.ratio = ratio
        self._key = None
        self._masks: list[torch.Tensor] = []

    def mask_of(self, layer: nn.Module) -> torch.Tensor:
        key = tuple((lay.scores._version, lay.scores.data_ptr()) for lay in self.layers)
        if key != self._key:
            self._masks = masks_from_scores([lay.scores.detach().abs() for lay in self.layers],
                                            self.ratio, scope="global")
            self._key = key
        return self._masks[next(i for i, lay in enumerate(self.layers) if lay is layer)]


class _BipropMixin:
    """Shared state and maths of :class:`BipropConv2d` and :class:`BipropLinear`.

    - ``weight`` frozen (``requires_grad=False``), Kaiming normal (fan-in, ReLU gain); ``bias``
      (if the layer has one) frozen at zero, as the reference networks have no biases.
    - ``scores`` (S): a learned Parameter of the weight's shape, Kaiming-uniform (a=√5) init.
    - mask ``m`` = top-k of ``|S|``, ``k = n − round(ratio·n)`` (ratio = fraction REMOVED; the
      reference's ``prune_rate`` is the fraction kept).
    - biprop: ``α = Σ|W|⊙m / Σm``, effective weight ``α·sign(W)⊙m``.
      edge-popup (``edge_popup=True``, Ramanujan et al. 2020): effective weight ``W⊙m``.
    - gradient to the scores (straight-through, reference code): the tensor ``α·m`` (edge-popup:
      ``|W|⊙m``) receives ``∂L/∂w_eff ⊙ sign(W)``; it is passed on multiplied by ``|W|``, so
      ``∂L/∂|S| = ∂L/∂w_eff ⊙ W`` and, through the absolute value, ``∂L/∂S = ∂L/∂w_eff ⊙ W ⊙
      sign(S)``. Same formula for both variants; α gets no gradient.
    """

    weight: nn.Parameter
    bias: nn.Parameter | None

    def _init_biprop(self, ratio: float, edge_popup: bool) -> None:
        _check_ratio(ratio)
        self.ratio = float(ratio)
        self.edge_popup = bool(edge_popup)
        self._group: _GlobalTopK | None = None
        self.scores = nn.Parameter(torch.empty_like(self.weight))
        self.reset_biprop()

    def reset_biprop(self, generator: torch.Generator | None = None) -> None:
        """Re-draw the frozen weight (Kaiming normal) and the scores (Kaiming uniform); zero the
        bias. ``generator`` (CPU) makes the draw reproducible."""
        with torch.no_grad():
            nn.init.kaiming_normal_(self.weight, mode="fan_in", nonlinearity="relu",
                                    generator=generator)
            nn.init.kaiming_uniform_(self.scores, a=math.sqrt(5), generator=generator)
            if self.bias is not None:
                self.bias.zero_()
                self.bias.requires_grad_(False)
        self.weight.requires_grad_(False)

    def mask(self) -> torch.Tensor:
        """Boolean keep-mask of the weight's shape (per layer, or the shared global top-k)."""
        if self._group is not None:
            return self._group.mask_of(self)
        flat = self.scores.detach().abs().flatten()
        return _top_k_mask(flat, _n_kept(flat.numel(), self.ratio)).view_as(self.scores)

    def effective_weight(self) -> torch.Tensor:
        """The weight the forward pass uses (differentiable w.r.t. ``scores``)."""
        m = self.mask().to(self.weight.dtype)
        weight_abs = self.weight.detach().abs()
        if self.edge_popup:
            gain = weight_abs * m
        else:
            alpha = (weight_abs * m).sum() / m.sum().clamp_min(1.0)
            gain = alpha * m
        return torch.sign(self.weight.detach()) * _ScoreStraightThrough.apply(
            self.scores.abs(), gain, weight_abs)

    def extra_repr(self) -> str:
        kind = "edge_popup" if self.edge_popup else "biprop"
        scope = "global" if self._group is not None else "layer"
        return f"{super().extra_repr()}, ratio={self.ratio}, {kind}, scope={scope}"


class BipropConv2d(_BipropMixin, nn.Conv2d):
    """``nn.Conv2d`` with frozen random weights and a learned top-k mask (see ``_BipropMixin``).
    Takes ``nn.Conv2d``'s arguments plus keyword ``ratio`` (fraction removed) and ``edge_popup``."""

    def __init__(self, *args, ratio: float, edge_popup: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self._init_biprop(ratio, edge_popup)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.effective_weight(), self.bias)


class BipropLinear(_BipropMixin, nn.Linear):
    """``nn.Linear`` with frozen random weights and a learned top-k mask (see ``_BipropMixin``).
    Takes ``nn.Linear``'s arguments plus keyword ``ratio`` (fraction removed) and ``edge_popup``."""

    def __init__(self, *args, ratio: float, edge_popup: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self._init_biprop(ratio, edge_popup)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.effective_weight(), self.bias)


def _prunable_slots(model: nn.Module) -> list[tuple[nn.Module, str, nn.Module]]:
    """``(parent, attribute, layer)`` for every Conv2d / Linear child, so it can be replaced."""
    return [(parent, name, child) for parent in model.modules()
            for name, child in parent.named_children() if isinstance(child, PRUNABLE_TYPES)]


def _conv_config(conv: nn.Conv2d) -> dict:
    return dict(in_channels=conv.in_channels, out_channels=conv.out_channels,
                kernel_size=conv.kernel_size, stride=conv.stride, padding=conv.padding,
                dilation=conv.dilation, groups=conv.groups, bias=conv.bias is not None,
                padding_mode=conv.padding_mode)


def _linear_config(linear: nn.Linear) -> dict:
    return dict(in_features=linear.in_features, out_features=linear.out_features,
                bias=linear.bias is not None)


def to_biprop(model: nn.Module, ratio: float, *, seed: int = 0, scope: str = "layer",
              edge_popup: bool = False) -> nn.Module:
    """A copy of ``model`` with every Conv2d / Linear replaced by its biprop version.

    Only the architecture of ``model`` is used: biprop weights and scores are drawn afresh from
    a generator seeded by ``seed`` (layers in ``named_modules()`` order) and normalisation layers
    are reset (affine 1/0, running statistics cleared). ``ratio`` is the fraction removed;
    ``scope="layer"`` (the reference) keeps ``1 − ratio`` of each layer, ``"global"`` ranks
    ``|S|`` across all layers. ``edge_popup=True`` drops binarisation and α (weight ``W⊙m``).
    """
    _check_ratio(ratio)
    _check_choice("scope", scope, SCOPES)
    biprop = copy.deepcopy(model)
    gen = torch.Generator().manual_seed(seed)
    layers = []
    for parent, name, child in _prunable_slots(biprop):
        if isinstance(child, nn.Conv2d):
            layer = BipropConv2d(**_conv_config(child), ratio=ratio, edge_popup=edge_popup)
        else:
            layer = BipropLinear(**_linear_config(child), ratio=ratio, edge_popup=edge_popup)
        layer.reset_biprop(gen)
        layer.to(device=child.weight.device, dtype=child.weight.dtype)
        setattr(parent, name, layer)
        layers.append(layer)
    for module in biprop.modules():
        if isinstance(module, nn.modules.batchnorm._NormBase):
            module.reset_parameters()
    if scope == "global":
        group = _GlobalTopK(layers, float(ratio))
        for layer in layers:
            layer._group = group
    return biprop


def _biprop_layers(model: nn.Module) -> list[nn.Module]:
    layers = [m for m in model.modules() if isinstance(m, _BipropMixin)]
    if not layers:
        raise ValueError(f"{type(model).__name__} has no biprop layer; convert it with "
                         "to_biprop(model, ratio) first.")
    return layers


def train_biprop(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, epochs: float = 1.0,
                 lr: float = 0.1, optimizer: str = "sgd", momentum: float = 0.9,
                 weight_decay: float = 5e-4, batch_size: int = 128, cosine: bool = True,
                 train_bn: bool = False, seed: int = 0, progress: bool = False) -> list[float]:
    """Search the biprop mask: train only the ``scores`` (and, with ``train_bn``, the affine
    parameters of normalisation layers) with :func:`core.train.fit`. Defaults are the reference
    CIFAR ones (SGD, lr 0.1, momentum 0.9, weight decay 5e-4, cosine). Every other parameter is
    set to ``requires_grad=False``. Returns the loss per step."""
    _check_data(x, y, "train_biprop")
    trained = [layer.scores for layer in _biprop_layers(model)]
    if train_bn:
        trained += [p for m in model.modules() if isinstance(m, nn.modules.batchnorm._NormBase)
                    for p in m.parameters(recurse=False)]
    model.requires_grad_(False)
    for p in trained:
        p.requires_grad_(True)
    return fit(model, x, y, epochs=epochs, lr=lr, optimizer=optimizer, momentum=momentum,
               weight_decay=weight_decay, batch_size=batch_size, seed=seed, params=trained,
               cosine=cosine, progress=progress, desc="biprop")


@torch.no_grad()
def export_biprop(model: nn.Module) -> nn.Module:
    """A plain copy of a biprop model: every biprop layer becomes an ``nn.Conv2d`` / ``nn.Linear``
    whose weight is the layer's effective weight (α·sign(W)⊙m, zeros where pruned). The state
    dict then has the original architecture's keys (no ``scores``), loads with
    ``weights_only=True`` into the registry model, and gives the same outputs."""
    _biprop_layers(model)
    plain = copy.deepcopy(model)
    for parent, name, child in _prunable_slots(plain):
        if not isinstance(child, _BipropMixin):
            continue
        if isinstance(child, nn.Conv2d):
            layer = nn.Conv2d(**_conv_config(child))
        else:
            layer = nn.Linear(**_linear_config(child))
        layer.to(device=child.weight.device, dtype=child.weight.dtype)
        layer.weight.copy_(child.effective_weight())
        if child.bias is not None:
            layer.bias.copy_(child.bias)
        setattr(parent, name, layer)
    return plain.requires_grad_(True).eval()


# --------------------------------------------------------------------------- build convenience

def make_pruned_model(dense_model: nn.Module, method: str, ratio: float, *,
                      x: torch.Tensor | None = None, y: torch.Tensor | None = None,
                      retrain_epochs: float = 0.0, mpt_epochs: float = 1.0,
                      scope: str | None = None, lr: float | None = None, batch_size: int = 128,
                      n_batches: int = 10, edge_popup: bool = False, train_bn: bool = False,
                      seed: int = 0, progress: bool = False) -> nn.Module:
    """A plain pruned model (eval mode, zeros stored in the weights); ``dense_model`` is untouched.

    Parameters
    ----------
    method : one of :data:`METHODS` — a :data:`PRUNERS` score, or ``"mpt"``.
    ratio : fraction of prunable weights removed, in [0, 1).
    x, y : training images (N, C, H, W) float and labels (N,) int64; needed by snip, taylor2,
        retraining and mpt.
    retrain_epochs : fine-tuning epochs after pruning (0 = no retraining); must be 0 for mpt,
        which never trains weights.
    mpt_epochs : epochs of biprop score search (mpt only).
    scope : ``"global"`` / ``"layer"``; ``None`` = the method's default (global for the score
        methods, per layer for mpt, as in the reference).
    lr : learning rate; ``None`` = 0.01 for retraining, 0.1 for the mpt score search.
    batch_size : batch size of the gradient scores, retraining and the score search.
    n_batches : batches of the snip / taylor2 scores.
    edge_popup, train_bn : mpt options, see :func:`to_biprop` and :func:`train_biprop`.
    seed : seeds scores, batch order and the mpt initialisation.

    For mpt the dense model only supplies the architecture: a fresh biprop network is drawn,
    its scores trained, and the result exported with :func:`export_biprop`.
    """
    _check_choice("method", method, METHODS)
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
    prune(model, method, ratio, scope=scope or "global", x=x, y=y, n_batches=n_batches,
          batch_size=batch_size, seed=seed)
    if retrain_epochs:
        retrain(model, x, y, epochs=retrain_epochs, lr=0.01 if lr is None else lr,
                batch_size=batch_size, seed=seed, progress=progress)
    return make_permanent(model).eval()
