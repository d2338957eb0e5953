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


def _glass_offsets(rng: CounterRandom, h: int, w: int, delta: int, iterations: int
                   ) -> np.ndarray:
    """Every sweep position's random offset (dx, dy), uniform in [-delta, delta).

    Returns int64 (n, iterations, rows, cols, 2), rows and columns in sweep order (from the
    bottom right, ``h - delta`` down to ``delta + 1``), dx (column offset) first, as the script
    draws them.
    """
    rows, cols = np.arange(h - delta, delta, -1), np.arange(w - delta, delta, -1)
    return rng.integers(0, -delta, delta, (iterations, rows.size, cols.size, 2))


def _glass_source(offsets: np.ndarray, h: int, w: int, delta: int) -> np.ndarray:
    """Source pixel (flat index) of every output pixel after the script's sweeps, (n, h·w).

    The script's "swap" ``x[h, w], x[h', w'] = x[h', w'], x[h, w]`` runs on an (H, W, 3) array
    whose right-hand side holds views: it copies the partner into ``x[h, w]`` and leaves the
    partner as it is. A step therefore reads its partner's current value: the original one,
    unless an earlier step of the same sweep overwrote the partner, in which case it is the value
    that step copied, and so on back along the chain (each link goes to an earlier step, so
    chains end). With delta = 1 (all CIFAR severities) partners lie up or left, never visited
    yet, so no chain forms and a sweep is one gather.
    """
    n, iterations = offsets.shape[:2]
    rows, cols = np.arange(h - delta, delta, -1), np.arange(w - delta, delta, -1)
    here = (rows[:, None] * w + cols[None, :]).ravel()  # flat positions in visit order
    partners = ((rows[:, None] + offsets[..., 1]) * w + cols[None, :] + offsets[..., 0])
    # (iterations, positions, samples): each step's rows are contiguous for the writes below
    partners = np.ascontiguousarray(partners.reshape(n, iterations, -1).transpose(1, 2, 0))
    visit = np.full(h * w, here.size)  # never visited: after every step
    visit[here] = np.arange(here.size)
    samples = np.arange(n)
    source = np.repeat(np.arange(h * w)[:, None], n, axis=1)  # (h·w, n)
    for partner in partners:
        read_from, step = partner, np.broadcast_to(np.arange(here.size)[:, None], partner.shape)
        earlier = visit[read_from] < step
        while earlier.any():  # follow copies made earlier in this sweep back to their origin
            step = np.where(earlier, visit[read_from], step)
            read_from = np.where(earlier, partner[step, samples], read_from)
            earlier = visit[read_from] < step
        source[here] = source[read_from, samples]
    return np.ascontiguousarray(source.T)


def glass_blur(x: Tensor, params: tuple, rng: CounterRandom) -> Tensor:
    sigma, delta, iterations = params
    n, c, h, w = x.shape
    # The script blurs v/255 in float64 and truncates (np.uint8). The same arithmetic, from the
    # exact 8-bit levels, lands every pixel on the script's level; float32 moved 4 % of them by
    # one at σ = 0.25, whose neighbour weights (3e-4) leave many values just below a level.
    levels = (x * 255).round_().double().div_(255)
    quantised = torch.floor(gaussian(levels, sigma) * 255).float()
    source = torch.from_numpy(_glass_source(_glass_offsets(rng, h, w, delta, iterations), h, w,
                                            delta))
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
