"""Validation shared by the attribution methods: the model, the image, integer options, the
baseline, and running a model in eval mode."""

from __future__ import annotations

import contextlib
import math
import numbers

import torch
from torch import nn


def check_model(model) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"`model` must be a torch.nn.Module. Got {type(model).__name__} instead.")


def check_int(value, name: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an integer. Got {value!r} instead.")
    if value < low or (high is not None and value > high):
        bound = f"in [{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"`{name}` must be {bound}. Got {value} instead.")
    return int(value)


def check_baseline(baseline) -> float:
    if isinstance(baseline, bool) or not isinstance(baseline, numbers.Real) \
            or not math.isfinite(baseline):
        raise ValueError(f"`baseline` must be a finite number. Got {baseline!r} instead.")
    return float(baseline)


def as_image(image, model: nn.Module) -> torch.Tensor:
    """``image`` (C, H, W) as a float tensor on the model's device and in its dtype."""
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    x = torch.as_tensor(image)
    if x.ndim != 3:
        raise ValueError(f"`image` must be 3-D (C, H, W). Got shape {tuple(x.shape)} instead.")
    if not x.is_floating_point():
        raise ValueError(f"`image` must be a float array (C, H, W), e.g. pixels in [0, 1]. "
                         f"Got dtype {x.dtype} instead.")
    return x.to(device=device, dtype=dtype)


@contextlib.contextmanager
def eval_mode(model: nn.Module):
    """Run ``model`` in eval mode (dropout off, batch-norm statistics frozen); its training
    flag is restored afterwards."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)
