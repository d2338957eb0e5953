"""``corrupt``: one corruption at one severity on a batch of uint8 images, and its validation.

See docs/corruptions.md, Image format and rounding.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

from ..corruption_names import CORRUPTIONS
from . import blur, digital, noise, weather
from ._ops import CorruptionFunction
from ._random import CounterRandom
from .imagenet import corrupt_imagenet
from .parameters import CIFAR_PARAMETERS, SEVERITIES

_MIN_SIDE = {"cifar": 28, "imagenet": 32}
# Samples per internal chunk: about 4 M float32 values per tensor, whatever the image size.
_CHUNK_VALUES = 1 << 22

#: The 19 corruption functions of the CIFAR-10-C parameters, in ``CORRUPTIONS`` order.
CORRUPTION_FUNCTIONS: dict[str, CorruptionFunction] = {
    name: {**noise.FUNCTIONS, **blur.FUNCTIONS, **weather.FUNCTIONS, **digital.FUNCTIONS}[name]
    for name in CORRUPTIONS}


def check_images(images, params: str) -> np.ndarray:
    """``images`` itself if it is uint8 (N, H, W) or (N, H, W, 3), large enough for ``params``."""
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8:
        kind = images.dtype if isinstance(images, np.ndarray) else type(images).__name__
        raise TypeError(f"`images` must be a uint8 numpy array. Got {kind} instead.")
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[-1] != 3):
        raise ValueError("`images` must have shape (N, H, W) or (N, H, W, 3). "
                         f"Got {images.shape} instead.")
    side = _MIN_SIDE[params]
    if min(images.shape[1:3]) < side:
        raise ValueError(f"`images` must be at least {side}×{side} pixels for params={params!r}. "
                         f"Got {images.shape[1]}×{images.shape[2]} instead.")
    return images


def _check_options(corruption: str, severity: int, seed: int, params: str) -> None:
    if corruption not in CORRUPTIONS:
        raise ValueError(f"`corruption` must be one of {CORRUPTIONS}. Got {corruption!r} instead.")
    if isinstance(severity, bool) or not isinstance(severity, (int, np.integer)) \
            or severity not in SEVERITIES:
        raise ValueError(f"`severity` must be an integer in 1..5. Got {severity!r} instead.")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"`seed` must be a non-negative integer. Got {seed!r} instead.")
    if params not in _MIN_SIDE:
        raise ValueError(f"`params` must be 'cifar' or 'imagenet'. Got {params!r} instead.")


def check_sample_ids(sample_ids, n: int) -> np.ndarray:
    """(n,) int64 sample ids: ``sample_ids`` checked, or ``arange(n)`` when None."""
    if sample_ids is None:
        return np.arange(n, dtype=np.int64)
    ids = np.asarray(sample_ids)
    if ids.shape != (n,) or (n and not np.issubdtype(ids.dtype, np.integer)):
        raise ValueError(f"`sample_ids` must be {n} integers, one per image. "
                         f"Got {ids.dtype} array of shape {ids.shape} instead.")
    return ids.astype(np.int64)


def _corrupt_cifar(images: np.ndarray, corruption: str, severity: int, sample_ids: np.ndarray,
                   seed: int) -> np.ndarray:
    function = CORRUPTION_FUNCTIONS[corruption]
    parameter = CIFAR_PARAMETERS[corruption][severity - 1]
    chunk = max(1, _CHUNK_VALUES // math.prod(images.shape[1:]))
    out = np.empty_like(images)
    for start in range(0, images.shape[0], chunk):  # bounded memory; samples are independent
        part = torch.from_numpy(np.ascontiguousarray(images[start:start + chunk]))
        x = (part[:, None] if part.ndim == 3 else part.permute(0, 3, 1, 2)).float() / 255
        rng = CounterRandom(seed, corruption, severity, sample_ids[start:start + chunk])
        y = function(x, parameter, rng)
        y = torch.where(torch.isnan(y), x, y)  # no path is known to give NaN; never pass it on
        pixels = torch.round(y.clamp(0, 1) * 255).to(torch.uint8)
        out[start:start + chunk] = (pixels[:, 0] if images.ndim == 3
                                    else pixels.permute(0, 2, 3, 1)).numpy()
    return out


def corrupt(images: np.ndarray, corruption: str, severity: int, *,
            sample_ids: Sequence[int] | np.ndarray | None = None, seed: int = 0,
            params: str = "cifar") -> np.ndarray:
    """Corrupt a batch of images with one corruption at one severity.

    Parameters
    ----------
    images : uint8 array (N, H, W) grey or (N, H, W, 3) RGB, H, W >= 28 (>= 32 for "imagenet").
    corruption : one of ``CORRUPTIONS``.
    severity : 1..5.
    sample_ids : (N,) integers identifying the samples (default ``arange(N)``); a sample's
        output depends only on (corruption, severity, seed, its id, its pixels).
    seed : non-negative integer.
    params : "cifar" (CIFAR-10-C parameters, batched) or "imagenet" (the ``imagecorruptions``
        package, image by image).

    Returns
    -------
    uint8 array of the same shape as ``images``.
    """
    _check_options(corruption, severity, seed, params)
    images = check_images(images, params)
    ids = check_sample_ids(sample_ids, images.shape[0])
    if params == "imagenet":
        return corrupt_imagenet(images, corruption, int(severity), ids, int(seed))
    return _corrupt_cifar(images, corruption, int(severity), ids, int(seed))
