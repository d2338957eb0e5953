"""Multi-Prize Tickets (Diffenderfer & Kailkhura, ICLR 2021): biprop layers with frozen random
weights and a learned top-k mask, their score search, and the export to plain layers.

See docs/pruning.md, MPT (biprop).
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from ..train import fit
from ._validation import check_choice, check_data, check_ratio
from .selection import PRUNABLE_TYPES, SCOPES, _n_kept, _top_k_mask, masks_from_scores

__all__ = ["BipropConv2d", "BipropLinear", "to_biprop", "train_biprop", "export_biprop"]

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
        check_ratio(ratio)
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
    check_ratio(ratio)
    check_choice("scope", scope, SCOPES)
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
    check_data(x, y, "train_biprop")
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

