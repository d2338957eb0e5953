"""Structured (filter / channel) pruning with Torch-Pruning: the pruned model is a smaller dense
network, not a masked one.

Torch-Pruning's dependency graph groups every parameter tied to one channel — the convolution or
linear layer that writes it, the BatchNorm that normalises it, every layer that reads it, and
across residual additions every other layer writing the same channel — so a channel is removed
from all of them at once. See docs/pruning.md, Structured pruning.

Conventions:

- **Prunable channels** are the output channels (filters, neurons) of every ``nn.Conv2d`` and
  ``nn.Linear`` except the head (the last ``nn.Linear``, see :func:`core.features.head_of`),
  counted once per dependency group (the channels of a residual stage are one group). The head's
  output — the ``num_classes`` logits — is never pruned; its input shrinks when the penultimate
  layer loses units.
- ``ratio`` is the fraction of prunable channels **removed**, in [0, 1). ``scope="layer"`` (the
  default): every group of ``n`` channels loses ``round(ratio·n)`` of them (the counting rule of
  the unstructured methods), but always keeps one. ``scope="global"``: one ranking of the
  importances across all groups (scaled as the criterion scales them) removes
  ``round(ratio·N)`` of all ``N`` channels, again keeping at least one per group.
- Lowest importance is removed; among equal importances the channel that comes first is kept.
"""

from __future__ import annotations

import math
import time
from typing import Callable

import torch
from torch import nn

from ..features import head_of
from ._validation import check_choice, check_positive_int, check_ratio

__all__ = ["STRUCTURED_IMPORTANCES", "STRUCTURED_METHODS", "STRUCTURED_SCOPES",
           "structured_prune", "latency_ratio"]


def _l1_importance():
    import torch_pruning as tp

    # Li et al. (ICLR 2017): the L1 norm of each filter of the layer that writes the channel —
    # the group's first (root) layer only, unnormalised.
    return tp.importance.GroupMagnitudeImportance(p=1, group_reduction="first", normalizer=None)


def _group_importance():
    import torch_pruning as tp

    # DepGraph (Fang et al., CVPR 2023), the library's default criterion: the squared L2 norm of
    # every parameter slice tied to the channel across the group (writers, BatchNorm, readers),
    # averaged over the group's layers, divided by the group's mean.
    return tp.importance.GroupMagnitudeImportance(p=2, group_reduction="mean", normalizer="mean")


#: Importance criteria (factories of ``torch_pruning`` importance objects) by method name.
STRUCTURED_IMPORTANCES: dict[str, Callable[[], object]] = {
    "structured_l1": _l1_importance,
    "structured_group": _group_importance,
}

#: Every structured method :func:`core.pruning.make_pruned_model` builds.
STRUCTURED_METHODS: tuple[str, ...] = tuple(STRUCTURED_IMPORTANCES)

#: Ranking scopes of :func:`structured_prune`.
STRUCTURED_SCOPES = ("layer", "global")


def _removed_channels(importances: list[torch.Tensor], ratio: float, scope: str
                      ) -> list[torch.Tensor]:
    """Indices of the removed channels of each group: lowest importance first, ties keep the
    earlier channel, at least one channel kept per group."""
    if scope == "layer":
        removed = []
        for imp in importances:
            n_removed = min(round(ratio * imp.numel()), imp.numel() - 1)
            # A stable descending sort keeps, among equal importances, the earlier channel.
            order = torch.sort(imp, descending=True, stable=True).indices
            removed.append(order[imp.numel() - n_removed:].sort().values)
        return removed
    flat = torch.cat(importances)
    n_removed = round(ratio * flat.numel())
    order = torch.sort(flat, descending=True, stable=True).indices
    drop = torch.zeros(flat.numel(), dtype=torch.bool)
    drop[order[flat.numel() - n_removed:]] = True
    removed = []
    for imp, group_drop in zip(importances, drop.split([i.numel() for i in importances])):
        if bool(group_drop.all()):
            group_drop = group_drop.clone()
            group_drop[int(torch.argmax(imp))] = False     # argmax: the first of the best
        removed.append(group_drop.nonzero().flatten())
    return removed


def structured_prune(model: nn.Module, method: str, ratio: float, *,
                     example_inputs: torch.Tensor, scope: str = "layer"
                     ) -> dict[str, torch.Tensor]:
    """Remove channels from ``model`` in place; return what was removed.

    Parameters
    ----------
    model : a classifier whose head is its last ``nn.Linear``; registry models and ``tv:``
        torchvision models (convolutions with ``groups`` 1 or depthwise).
    method : a key of :data:`STRUCTURED_IMPORTANCES` — ``"structured_l1"`` (L1 norm of each
        filter) or ``"structured_group"`` (the group L2 norm over all coupled parameters).
    ratio : fraction of prunable channels removed, in [0, 1) (see the module docstring).
    example_inputs : a batch of inputs (N, C, H, W) for tracing the dependency graph (one
        sample is enough).
    scope : ``"layer"`` (each dependency group loses ``ratio`` of its channels) or
        ``"global"``.

    Returns
    -------
    ``{module name: removed output-channel indices (k,) int64}`` of every ``nn.Conv2d``,
    ``nn.Linear`` and BatchNorm whose outputs lost channels, indexed in the unpruned model —
    zeroing exactly those output channels (and the BatchNorm's affine parameters) of the unpruned
    model gives the pruned model's function.
    """
    import torch_pruning as tp

    check_choice("method", method, STRUCTURED_IMPORTANCES)
    check_ratio(ratio)
    check_choice("scope", scope, STRUCTURED_SCOPES)
    head = head_of(model)
    names = {module: name for name, module in model.named_modules()}
    was_training = model.training
    model.eval()        # tracing must not update BatchNorm running statistics
    try:
        graph = tp.DependencyGraph().build_dependency(model, example_inputs=example_inputs[:1])
        importance = STRUCTURED_IMPORTANCES[method]()
        roots, scores = [], []
        for group in graph.get_all_groups(ignored_layers=[head],
                                          root_module_types=[nn.Conv2d, nn.Linear]):
            score = importance(group)
            if score is None:
                continue
            roots.append((group[0].dep.target.module, group[0].dep.handler))
            scores.append(score.detach().cpu())
        removed: dict[str, torch.Tensor] = {}
        for (module, handler), idxs in zip(roots, _removed_channels(scores, ratio, scope)):
            if idxs.numel() == 0:
                continue
            group = graph.get_pruning_group(module, handler, idxs.tolist())
            if not graph.check_pruning_group(group):
                raise RuntimeError(f"Torch-Pruning refused to remove {idxs.numel()} channels "
                                   f"of {names[module]!r} (it would empty a layer).")
            for dep, dep_idxs in group:
                target = dep.target.module
                if graph.is_out_channel_pruning_fn(dep.handler) and target in names and \
                        isinstance(target, (nn.Conv2d, nn.Linear, nn.modules.batchnorm._BatchNorm)):
                    removed[names[target]] = torch.as_tensor(sorted(dep_idxs), dtype=torch.long)
            group.prune()
    finally:
        model.train(was_training)
    return removed


def _seconds(net: nn.Module, batch: torch.Tensor, passes: int) -> float:
    t0 = time.perf_counter()
    for _ in range(passes):
        net(batch)
    return (time.perf_counter() - t0) / passes


@torch.inference_mode()
def latency_ratio(model: nn.Module, reference: nn.Module, x: torch.Tensor, *,
                  batch_size: int = 256, repeats: int = 5, min_seconds: float = 0.05,
                  max_pass_seconds: float = 0.5) -> float:
    """CPU inference time of ``model`` per image relative to ``reference`` (e.g. its dense
    parent); below 1 = faster.

    One batch from ``x`` (N, C, H, W), cycled when too short, runs through both models in eval
    mode on one thread: ``batch_size`` images, or fewer for large models — as many as the
    reference runs in ``max_pass_seconds`` (at least 16), so that timing a full-width ResNet
    costs seconds rather than minutes. After an untimed warm-up pass each, the two models are
    timed alternately (so both see the same machine load) ``repeats`` times; a timing averages
    as many forward passes as the reference needs for ``min_seconds`` (many for small models,
    whose single passes are too short to time). The result is the ratio of the fastest timings
    (as ``timeit`` advises: other load on the machine only ever adds time). Both models are
    left in eval mode on the CPU.
    """
    check_positive_int("batch_size", batch_size)
    check_positive_int("repeats", repeats)
    x = x.detach().cpu()
    batch = x[torch.arange(batch_size) % x.shape[0]]
    model, reference = model.cpu().eval(), reference.cpu().eval()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        probe = batch[:16]
        _seconds(model, probe, 1)
        per_image = _seconds(reference, probe, 1) / probe.shape[0]
        batch = batch[:max(probe.shape[0], int(max_pass_seconds / per_image))]
        passes = max(1, math.ceil(min_seconds / (per_image * batch.shape[0])))
        times = [(_seconds(model, batch, passes), _seconds(reference, batch, passes))
                 for _ in range(repeats)]
    finally:
        torch.set_num_threads(threads)
    return min(t for t, _ in times) / min(r for _, r in times)
