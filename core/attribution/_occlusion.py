"""Occlusion maps of angle, L2, margin and probability (see docs/geometry.md,
Occlusion attribution).

Occlusion slides a ``window × window`` patch (all channels) over the image in steps of ``stride``,
replaces the patch by ``baseline`` and records how the geometry of the occluded image differs from
the original one. A pixel's value is the mean change over every window that covers it. Window
positions follow Captum's ``Occlusion``: starts at 0, stride, 2·stride, … up to and including the
first start that reaches ``size − window``; a last window that would run past the border is cut
off. The result is therefore ``−Occlusion(metric).attribute(...)`` (Captum reports original −
occluded).

All occluded images go through the model in one batched forward pass (chunked to bound
memory). Windows whose pixels already equal the baseline are not evaluated: the occluded image
is the original, so their change is exactly 0 (common on black backgrounds with baseline 0).
The per-window changes are spread back onto pixels with two small matrix products: a window is
the outer product of a row interval and a column interval, so the sum over the windows covering
pixel (h, w) is ``(Rᵀ · Δ · C)[h, w]`` with ``R`` (rows × H) and ``C`` (cols × W) the interval
indicators.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ..features import features_and_logits, geometry_of_features, head_of
from ._inputs import as_image, check_baseline, check_int, check_model, eval_mode

__all__ = ["OCCLUSION_METRICS", "occlusion", "window_starts"]

OCCLUSION_METRICS = ("angle", "l2", "margin", "prob")


def window_starts(size: int, window: int, stride: int) -> np.ndarray:
    """Start offsets of the windows along one axis of length ``size`` (Captum's positions):
    ``ceil((size − window) / stride) + 1`` starts, the last possibly cut off at the border."""
    count = math.ceil((size - window) / stride) + 1
    return np.arange(count) * stride


def _intervals(size: int, window: int, stride: int, device) -> torch.Tensor:
    """(n_windows, size) bool: row k marks the pixels covered by the k-th window on this axis."""
    starts = torch.as_tensor(window_starts(size, window, stride), device=device)
    pixels = torch.arange(size, device=device)
    return (pixels[None, :] >= starts[:, None]) & (pixels[None, :] < starts[:, None] + window)


def _validate(model, image, label, window, stride, baseline, chunk_size) -> tuple:
    check_model(model)
    x = as_image(image, model)
    _, height, width = x.shape
    num_classes = head_of(model).out_features
    label = check_int(label, "label", 0, num_classes - 1)
    window = check_int(window, "window", 1, min(height, width))
    # Captum refuses strides larger than the window: some pixels would never be occluded.
    stride = check_int(stride, "stride", 1, window)
    chunk_size = check_int(chunk_size, "chunk_size", 1)
    return x, label, window, stride, check_baseline(baseline), chunk_size


def _geometry_rows(model: nn.Module, batch: torch.Tensor, label: int, bias_in_margin: bool
                   ) -> torch.Tensor:
    """(N, 4) metrics of OCCLUSION_METRICS and (N,) predictions of a batch of images."""
    features, _ = features_and_logits(model, batch)
    labels = torch.full((batch.shape[0],), label, dtype=torch.long, device=batch.device)
    geometry = geometry_of_features(model, features, labels, bias_in_margin=bias_in_margin)
    return torch.stack([geometry[m] for m in OCCLUSION_METRICS], dim=1), geometry["pred"]


def occlusion(model: nn.Module, image, label: int, *, window: int = 4, stride: int = 2,
              baseline: float = 0.0, chunk_size: int = 256, bias_in_margin: bool = True,
              return_base: bool = False):
    """Occlusion maps of the last-layer geometry of one sample.

    Args:
        model: any classifier whose head is its last ``nn.Linear``; evaluated in eval mode (its
            training flag is restored afterwards), without gradients.
        image: (C, H, W) float array or tensor, as the model takes it (e.g. pixels in [0, 1]).
        label: the sample's true class, in [0, num_classes).
        window: side of the square occluding patch, in pixels (all channels), 1..min(H, W).
        stride: step between patch positions, in pixels, 1..window.
        baseline: value the occluded pixels take (in the image's units).
        chunk_size: occluded images per forward pass (bounds memory; the result does not depend
            on it).
        return_base: also return the metrics of the unoccluded image.

    Returns:
        ``{"angle", "l2", "margin", "prob"}`` → (H, W) float numpy arrays: the mean, over the
        windows covering the pixel, of metric(occluded) − metric(original), in the metric's unit
        (degrees, feature norm, signed distance, probability). Positive: hiding the region
        increases the metric. A pixel covered by a window whose metric is undefined (NaN, e.g.
        an all-zero feature) is NaN. With ``return_base``, a pair ``(maps, base)`` where ``base``
        holds the original image's four metrics (floats) and ``"pred"`` (int).
    """
    x, label, window, stride, baseline, chunk_size = _validate(
        model, image, label, window, stride, baseline, chunk_size)
    _, height, width = x.shape
    rows = _intervals(height, window, stride, x.device)      # (n_r, H)
    cols = _intervals(width, window, stride, x.device)       # (n_c, W)
    n_r, n_c = rows.shape[0], cols.shape[0]

    # A window whose pixels all equal the baseline leaves the image unchanged (e.g. black
    # background with baseline 0): its metrics are the original's, no forward pass needed.
    differs = (x != baseline).any(dim=0).to(x.dtype)                 # (H, W)
    changed = torch.einsum("ih,hw,jw->ij", rows.to(x.dtype), differs, cols.to(x.dtype)) > 0
    win_rows, win_cols = changed.nonzero(as_tuple=True)
    # Position 0 of the evaluated sequence is the original image: an all-false "window".
    rows_ext = torch.cat([torch.zeros_like(rows[:1]), rows])
    cols_ext = torch.cat([torch.zeros_like(cols[:1]), cols])
    zero = torch.zeros(1, dtype=torch.long, device=x.device)
    row_index, col_index = torch.cat([zero, win_rows + 1]), torch.cat([zero, win_cols + 1])

    metrics = []
    with eval_mode(model), torch.inference_mode():
        for start in range(0, row_index.shape[0], chunk_size):
            part = slice(start, start + chunk_size)
            mask = rows_ext[row_index[part]][:, :, None] & cols_ext[col_index[part]][:, None, :]
            batch = torch.where(mask[:, None], baseline, x[None])
            chunk_metrics, chunk_pred = _geometry_rows(model, batch, label, bias_in_margin)
            metrics.append(chunk_metrics)
            if start == 0:
                pred = int(chunk_pred[0])
    metrics = torch.cat(metrics)                              # (1 + evaluated windows, 4)
    base = metrics[0]
    per_window = base.repeat(n_r, n_c, 1)                     # unchanged windows: the original
    per_window[win_rows, win_cols] = metrics[1:]
    delta = (per_window - base).permute(2, 0, 1)              # (4, n_r, n_c)
    maps = _spread(delta, rows.to(delta.dtype), cols.to(delta.dtype))
    result = {name: maps[k].cpu().numpy() for k, name in enumerate(OCCLUSION_METRICS)}
    if not return_base:
        return result
    base_values = {name: float(base[k]) for k, name in enumerate(OCCLUSION_METRICS)}
    base_values["pred"] = pred
    return result, base_values


def _spread(delta: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """Mean of the per-window changes (M, n_r, n_c) over the windows covering each pixel →
    (M, H, W); NaN where any covering window's change is NaN."""
    undefined = torch.isnan(delta)
    sums = torch.einsum("ih,mij,jw->mhw", rows, delta.masked_fill(undefined, 0.0), cols)
    hits = torch.einsum("ih,mij,jw->mhw", rows, undefined.to(delta.dtype), cols)
    counts = torch.outer(rows.sum(0), cols.sum(0))
    return (sums / counts).masked_fill(hits > 0, math.nan)
