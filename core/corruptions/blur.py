"""Blur corruptions: gaussian, glass, defocus, motion, zoom.

See docs/corruptions.md, Severity parameters and Deviations from the reference script. Motion
blur follows the ``imagecorruptions`` re-implementation (Gaussian weights over ``2·radius+1``
one-sided shifts along a random angle, edge pixels repeated), not the ImageMagick call of the
reference script.
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.ndimage
import scipy.sparse
import torch

from ._ops import (CorruptionFunction, Tensor, apply_pixel_operator, clipped_zoom_matrix,
                   filter2d, gaussian, motion_blur_batch, separable_operator)
from ._random import CounterRandom


def gaussian_blur(x: Tensor, sigma: float, rng: CounterRandom) -> Tensor:
    return gaussian(x, sigma)


def _glass_permutation(rng: CounterRandom, h: int, w: int, delta: int, iterations: int
                       ) -> np.ndarray:
    """Source pixel (flat index) of every output pixel after the script's local swaps.

    The script sweeps rows and columns from the bottom right, swapping each pixel with a random
    neighbour offset in [-delta, delta); a swap can move a pixel that an earlier swap moved, so
    the sweep is sequential over positions, and each step is vectorised over the batch.
    """
    n = len(rng)
    rows, cols = np.arange(h - delta, delta, -1), np.arange(w - delta, delta, -1)
    offsets = rng.integers(0, -delta, delta, (iterations, rows.size, cols.size, 2))
    here = (rows[:, None] * w + cols[None, :]).ravel()
    there = ((rows[None, None, :, None] + offsets[..., 1]) * w
             + cols[None, None, None, :] + offsets[..., 0]).reshape(n, iterations, -1)
    there = np.ascontiguousarray(there.transpose(1, 2, 0))  # (iterations, positions, n)
    source = np.tile(np.arange(h * w), (n, 1))
    samples = np.arange(n)
    for iteration in range(iterations):
        for position, partner in zip(here, there[iteration]):
            moved = source[:, position].copy()
            source[:, position] = source[samples, partner]
            source[samples, partner] = moved
    return source


def glass_blur(x: Tensor, params: tuple, rng: CounterRandom) -> Tensor:
    sigma, delta, iterations = params
    n, c, h, w = x.shape
    # The script's np.uint8 cast truncates; the 1e-3 keeps float32 error (v/255·255 = v − ulp)
    # from dropping unblurred pixels by one level.
    quantised = torch.floor(gaussian(x, sigma) * 255 + 1e-3)
    source = torch.from_numpy(_glass_permutation(rng, h, w, delta, iterations))
    shuffled = torch.gather(quantised.reshape(n, c, h * w), 2, source[:, None].expand(n, c, -1))
    return gaussian(shuffled.reshape(n, c, h, w) / 255, sigma)


@functools.lru_cache(maxsize=8)
def _defocus_kernel(radius: float, alias_sigma: float) -> np.ndarray:
    """The script's ``disk``: an aliased disk on a 17×17 grid (all CIFAR radii are <= 8),
    antialiased by a 3×3 Gaussian, cropped to its non-zero support."""
    grid = np.arange(-8, 9)
    disk = ((grid[:, None] ** 2 + grid[None, :] ** 2) <= radius**2).astype(np.float64)
    disk /= disk.sum()
    taps = np.exp(-np.arange(-1, 2) ** 2 / (2 * alias_sigma**2))
    taps /= taps.sum()
    kernel = scipy.ndimage.correlate(scipy.ndimage.correlate1d(disk, taps, axis=0, mode="mirror"),
                                     taps[None, :], mode="mirror")
    support = int(np.ceil(radius)) + 1
    return kernel[8 - support:9 + support, 8 - support:9 + support]


def defocus_blur(x: Tensor, params: tuple, rng: CounterRandom) -> Tensor:
    return filter2d(x, _defocus_kernel(*params), "mirror")


def motion_blur(x: Tensor, params: tuple, rng: CounterRandom) -> Tensor:
    radius, sigma = params
    angles = rng.uniform64(0) * 90 - 45
    return motion_blur_batch(x, radius, sigma, angles)


@functools.lru_cache(maxsize=16)
def _zoom_blur_operator(h: int, w: int, max_zoom: float) -> scipy.sparse.csr_matrix:
    """Mean of the image and its clipped zooms by 1, 1.01, ... < max_zoom, as one linear map."""
    zooms = np.arange(1, max_zoom, 0.01)  # the script's own arange (1.06 → 7 zoom factors)
    total = scipy.sparse.identity(h * w, format="csr")
    for zoom in zooms:
        total = total + separable_operator(clipped_zoom_matrix(h, float(zoom)),
                                           clipped_zoom_matrix(w, float(zoom)))
    return (total / (len(zooms) + 1)).astype(np.float32).tocsr()


def zoom_blur(x: Tensor, max_zoom: float, rng: CounterRandom) -> Tensor:
    return apply_pixel_operator(x, _zoom_blur_operator(*x.shape[-2:], max_zoom))



FUNCTIONS: dict[str, CorruptionFunction] = {
    "defocus_blur": defocus_blur,
    "glass_blur": glass_blur,
    "motion_blur": motion_blur,
    "zoom_blur": zoom_blur,
    "gaussian_blur": gaussian_blur,
}
