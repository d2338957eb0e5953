"""CIFAR-10-C style common corruptions (19 types × 5 severities), batched and deterministic.

Re-implements the algorithms of Hendrycks & Dietterich's CIFAR-10-C generation script with the
CIFAR-10-C severity parameters (SPEC §4); ``params="imagenet"`` instead delegates, image by image,
to the ``imagecorruptions`` package (ImageNet-C parameters, images of at least 32 px).

Images are uint8, ``(N, H, W)`` grey or ``(N, H, W, 3)`` colour, ``H, W >= 28``. Internally they
are float32 tensors ``(N, C, H, W)`` in [0, 1]; results are clipped to [0, 255], NaN is replaced
by the clean pixel, and values are rounded (the reference script truncated) to uint8.

Grey images are corrupted as single-channel images, not as three identical channels, so that
per-pixel statistics match the colour case (gaussian_noise adds σ·255 of noise to every grey
pixel, not a channel mean of three draws):
- channel-wise operations (noise, blur, zoom, elastic, pixelate, contrast, fog, jpeg) act on the
  one channel directly (jpeg encodes a greyscale JPEG);
- brightness and saturate replicate the grey image to RGB, change V or S in HSV, and convert
  back with ITU-R 601 luma (0.299, 0.587, 0.114). A grey pixel has no saturation and hue 0, so
  **saturate leaves grey images unchanged at severities 1-3** (it only scales S) and at 4-5 adds
  S = 0.1 / 0.2 of red hue, which in luma darkens the image by 7 % / 14 %;
- snow compares the image with its own grey value; frost textures and the spatter tints
  (turquoise water, brown mud) are converted to luma.

Determinism: every random number is a counter-based hash (splitmix64) of (seed, corruption,
severity, sample id, stream, element index), so a sample's output depends only on those and on its
own pixels — not on the other samples of the batch. ``sample_ids`` default to ``arange(N)``.

Deviations from the reference script, all deliberate:
- motion blur (ImageMagick in the script) uses the ``imagecorruptions`` re-implementation:
  Gaussian weights over ``2·radius+1`` one-sided shifts along a random angle, edge pixels repeated;
- elastic_transform scales its CIFAR parameters by ``min(H, W)`` (the script's 32), and the affine
  warp samples bilinearly in floating point (OpenCV uses 1/32-pixel fixed point);
- pixelate applies PIL's BOX filters as float matrices (PIL rounds to uint8 between passes, so
  pixels may differ from PIL by one grey level);
- frost picks one of the first five textures, like the script (``randint(5)``); for images larger
  than a texture scaled by 0.2, the texture is scaled up just enough to cover them;
- spatter clips its liquid layer to [0, 255] before the uint8 cast (the script let it wrap) and
  treats an all-dry liquid layer as no spatter (the division by its maximum gave NaN).
Spatter's edge map (Canny, distance transform, histogram equalisation: whole-image algorithms)
and jpeg (a codec) run image by image; everything else is batched tensor code.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import io
import json
import math
import os
from pathlib import Path
from typing import Callable, Iterable, Sequence

import cv2
import imagecorruptions
import numpy as np
import scipy.ndimage
import scipy.sparse
import scipy.stats
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm.auto import tqdm

# Names and categories live in a light module, so that importing them does not load this one.
from ..corruption_names import CATEGORY, CORRUPTIONS

__all__ = ["CORRUPTIONS", "CATEGORY", "SEVERITIES", "CIFAR_PARAMETERS", "NON_MONOTONE_SEVERITIES",
           "corrupt", "generate_benchmark_set", "load_c_directory", "severity_block"]

SEVERITIES: tuple[int, ...] = (1, 2, 3, 4, 5)

#: CIFAR-10-C parameters per corruption, one entry per severity 1..5 (SPEC §4).
CIFAR_PARAMETERS: dict[str, tuple] = {
    "gaussian_noise": (0.04, 0.06, 0.08, 0.09, 0.10),
    "shot_noise": (500, 250, 100, 75, 50),
    "impulse_noise": (0.01, 0.02, 0.03, 0.05, 0.07),
    "defocus_blur": ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)),
    "glass_blur": ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)),
    "motion_blur": ((6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)),
    "zoom_blur": (1.06, 1.11, 1.16, 1.21, 1.26),
    "snow": ((0.1, 0.2, 1, 0.6, 8, 3, 0.95), (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
             (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9), (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
             (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8)),
    "frost": ((1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)),
    "fog": ((0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)),
    "brightness": (0.05, 0.1, 0.15, 0.2, 0.3),
    "contrast": (0.75, 0.5, 0.4, 0.3, 0.15),
    "elastic_transform": ((0, 0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06),
                          (0.1, 0.04, 0.05), (0.1, 0.03, 0.03)),
    "pixelate": (0.95, 0.9, 0.85, 0.75, 0.65),
    "jpeg_compression": (80, 65, 58, 50, 40),
    "speckle_noise": (0.06, 0.1, 0.12, 0.16, 0.2),
    "gaussian_blur": (0.4, 0.6, 0.7, 0.8, 1),
    "spatter": ((0.62, 0.1, 0.7, 0.7, 0.5, 0), (0.65, 0.1, 0.8, 0.7, 0.5, 0),
                (0.65, 0.3, 1, 0.69, 0.5, 0), (0.65, 0.1, 0.7, 0.69, 0.6, 1),
                (0.65, 0.1, 0.5, 0.68, 0.6, 1)),
    "saturate": ((0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2)),
}

#: Severities whose mean absolute pixel change may be *smaller* than the previous severity's,
#: by design of the CIFAR-10-C parameters; every other step changes the image at least as much.
NON_MONOTONE_SEVERITIES: dict[str, tuple[int, ...]] = {
    # (σ, δ, iterations): severities 1 and 2 blur by σ 0.05 and 0.25 (neighbour weights < 0.1 %),
    # so they differ only by their random swaps; the stronger blur of severities 3 and 5
    # averages away part of the shuffling.
    "glass_blur": (2, 3, 5),
    # Same σ = 2 as severity 3; the longer kernel only adds weights below 0.3 %.
    "motion_blur": (4,),
    # The image weight drops (1 → 0.9 → 0.85 → 0.75) while the frost weight grows by 0.1, 0,
    # 0.05: on images brighter than the frost texture the change shrinks.
    "frost": (3, 4, 5),
    # The random affine part (±0.08·32 → ±0.03·32 px) shrinks faster than the elastic part grows.
    "elastic_transform": (2, 3, 4, 5),
    # Severity 4 switches from water (edges tinted turquoise) to sparser mud.
    "spatter": (4,),
    # Severities 1-2 desaturate (S × 0.3, × 0.1); severity 3 saturates (S × 1.5), a smaller change.
    "saturate": (3,),
}

_LUMA = (0.299, 0.587, 0.114)
_MIN_SIDE = {"cifar": 28, "imagenet": 32}
# Samples per internal chunk: about 4 M float32 values per tensor, whatever the image size.
_CHUNK_VALUES = 1 << 22
# Bumped whenever an algorithm changes, so that generated caches are invalidated.
_ALGORITHM_VERSION = "cifar-c/1"

Tensor = torch.Tensor


# ----------------------------------------------------------------------------------------------
# Counter-based random numbers
# ----------------------------------------------------------------------------------------------

_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


def _mix64_int(z: int) -> int:
    """splitmix64 finaliser of one Python int (64-bit wrap-around)."""
    z &= _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def _mix64(z: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, in place on a uint64 array (a bijection of 64-bit words)."""
    z ^= z >> np.uint64(30)
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(27)
    z *= np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return z


class _CounterRandom:
    """Random numbers for a batch, each a hash of (key of its sample, stream, element index).

    Every method returns an array of shape ``(n_samples, *shape)``; ``stream`` separates the
    independent random quantities one algorithm needs.
    """

    def __init__(self, seed: int, corruption: str, severity: int, sample_ids: np.ndarray):
        prefix = _mix64_int(_mix64_int(_mix64_int(seed + _GOLDEN)
                                       ^ CORRUPTIONS.index(corruption)) ^ severity)
        ids = np.ascontiguousarray(sample_ids, dtype=np.int64).view(np.uint64)
        self.keys = _mix64(ids * np.uint64(_GOLDEN) ^ np.uint64(prefix))

    def __len__(self) -> int:
        return self.keys.shape[0]

    def bits(self, stream: int, count: int) -> np.ndarray:
        """(n, count) uint64 words."""
        base = _mix64(self.keys ^ np.uint64(_mix64_int(stream + 1)))
        counters = np.arange(1, count + 1, dtype=np.uint64) * np.uint64(_GOLDEN)
        return _mix64(base[:, None] + counters[None, :])

    def uniform(self, stream: int, shape: tuple[int, ...] = ()) -> np.ndarray:
        """float32 uniform on the open interval (0, 1), 24 random bits, two values per word."""
        count = math.prod(shape)
        halves = self.bits(stream, (count + 1) // 2).view(np.uint32)[:, :count]
        unit = ((halves >> np.uint32(8)).astype(np.float32) + np.float32(0.5)) * np.float32(2**-24)
        return unit.reshape(len(self), *shape)

    def uniform64(self, stream: int, shape: tuple[int, ...] = ()) -> np.ndarray:
        """float64 uniform on [0, 1) with 53 random bits."""
        words = self.bits(stream, math.prod(shape)) >> np.uint64(11)
        return (words.astype(np.float64) * 2.0**-53).reshape(len(self), *shape)

    def normal(self, stream: int, shape: tuple[int, ...] = ()) -> np.ndarray:
        """float32 standard normal (Box-Muller on the two halves of each word)."""
        count = math.prod(shape)
        pairs = self.uniform(stream, (2 * ((count + 1) // 2),))
        radius = np.sqrt(-2.0 * np.log(pairs[:, 0::2]))
        phase = np.float32(2 * np.pi) * pairs[:, 1::2]
        out = np.empty_like(pairs)
        out[:, 0::2] = radius * np.cos(phase)
        out[:, 1::2] = radius * np.sin(phase)
        return out[:, :count].reshape(len(self), *shape)

    def integers(self, stream: int, low, high, shape: tuple[int, ...] = ()) -> np.ndarray:
        """int64 uniform on [low, high) (``high`` may be an (n,) array of per-sample bounds)."""
        span = np.asarray(high) - np.asarray(low)
        if span.ndim:
            span = span.reshape(-1, *([1] * len(shape)))
        return (np.floor(self.uniform64(stream, shape) * span) + low).astype(np.int64)


def _t(array: np.ndarray) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


# ----------------------------------------------------------------------------------------------
# Filters and resampling shared by several corruptions
# ----------------------------------------------------------------------------------------------

# Border modes are scipy.ndimage's: "nearest" (aaa|abcd|ddd), "mirror" (cb|abcd|cb, OpenCV's
# default BORDER_REFLECT_101) and "reflect" (ba|abcd|dc, skimage's "reflect").

def _filter2d(x: Tensor, kernel: np.ndarray, mode: str) -> Tensor:
    """Correlate every channel of ``x`` (n, c, h, w) with a 2-D ``kernel`` (like cv2.filter2D)."""
    return torch.from_numpy(scipy.ndimage.correlate(x.numpy(), kernel[None, None], mode=mode))


def _separable(x: Tensor, kernel: np.ndarray, mode: str) -> Tensor:
    """Correlate rows and columns of every channel of ``x`` with the same 1-D ``kernel``."""
    rows_done = scipy.ndimage.correlate1d(x.numpy(), kernel, axis=2, mode=mode)
    return torch.from_numpy(scipy.ndimage.correlate1d(rows_done, kernel, axis=3, mode=mode))


def _gaussian_kernel(sigma: float, truncate: float) -> np.ndarray:
    """scipy.ndimage.gaussian_filter1d's kernel: radius int(truncate·σ + 0.5)."""
    radius = int(truncate * sigma + 0.5)
    t = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * t**2 / sigma**2)
    return kernel / kernel.sum()


def _gaussian(x: Tensor, sigma: float, *, truncate: float = 4.0, mode: str = "nearest") -> Tensor:
    """skimage.filters.gaussian per channel (defaults: mode 'nearest', truncate 4)."""
    return _separable(x, _gaussian_kernel(sigma, truncate), mode)


def _bilinear(x: Tensor, ys: Tensor, xs: Tensor, mode: str) -> Tensor:
    """Sample ``x`` (n, c, h, w) bilinearly at source coordinates ``ys``, ``xs`` (n, h, w).

    mode "mirror" reflects about the border pixel centres, "reflect" about the image edges (as
    scipy.ndimage.map_coordinates): grid_sample's reflection padding, with pixel-centre or
    edge-aligned normalisation.
    """
    h, w = x.shape[-2:]
    if mode == "mirror":
        grid = torch.stack([2 * xs / (w - 1) - 1, 2 * ys / (h - 1) - 1], dim=-1)
    else:
        grid = torch.stack([(2 * xs + 1) / w - 1, (2 * ys + 1) / h - 1], dim=-1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection",
                         align_corners=mode == "mirror")


def _luma(x: Tensor) -> Tensor:
    """(n, 3, h, w) RGB → (n, 1, h, w) ITU-R 601 luma."""
    return torch.tensordot(torch.tensor(_LUMA), x, dims=([0], [1]))[:, None]


def _rgb_to_hsv(rgb: Tensor) -> Tensor:
    """skimage.color.rgb2hsv on (n, 3, h, w): hue in [0, 1), grey pixels get hue 0 and S 0."""
    r, g, b = rgb.unbind(1)
    value = rgb.amax(1)
    delta = value - rgb.amin(1)
    safe_delta = torch.where(delta > 0, delta, torch.ones_like(delta))
    # skimage assigns the red, green, blue cases in that order, so blue wins ties, then green
    hue = torch.where(b == value, 4 + (r - g) / safe_delta,
                      torch.where(g == value, 2 + (b - r) / safe_delta, (g - b) / safe_delta))
    hue = torch.where(delta > 0, (hue / 6).remainder(1.0), torch.zeros_like(hue))
    saturation = torch.where(delta > 0, delta / torch.where(value > 0, value, 1), 0)
    return torch.stack([hue, saturation, value], 1)


def _hsv_to_rgb(hsv: Tensor) -> Tensor:
    """skimage.color.hsv2rgb on (n, 3, h, w), in the sector-free form
    channel = v − v·s·clamp(min(k, 4 − k), 0, 1) with k = (m + 6h) mod 6, m = 5, 3, 1 for R, G, B.
    """
    h, s, v = hsv[:, 0:1], hsv[:, 1:2], hsv[:, 2:3]
    k = (torch.tensor([5.0, 3.0, 1.0]).view(1, 3, 1, 1) + 6 * h).remainder(6)
    return v - v * s * torch.minimum(k, 4 - k).clamp(0, 1)


def _through_rgb(x: Tensor, change: Callable[[Tensor], Tensor]) -> Tensor:
    """Apply a colour operation; grey images are replicated to RGB and converted back by luma."""
    if x.shape[1] == 3:
        return change(x)
    return _luma(change(x.expand(-1, 3, -1, -1)))


def _motion_kernel_weights(radius: int, sigma: float) -> np.ndarray:
    offsets = np.arange(2 * radius + 1)
    weights = np.exp(-offsets**2 / (2 * sigma**2))
    return weights / weights.sum()


def _motion_blur_batch(x: Tensor, radius: int, sigma: float, angles: np.ndarray) -> Tensor:
    """imagecorruptions' motion blur, with one angle (degrees) per sample.

    Sums the image shifted by 0 .. 2·radius pixels along the angle (edge pixels repeated),
    weighted by a one-sided Gaussian; shifts as large as the image are dropped (the library stops
    there, and shift lengths only grow along the kernel).
    Samples are sorted by angle, so that at every step the samples sharing one integer shift form
    a contiguous run: each run is one slice of the edge-padded batch, not a per-pixel gather.
    """
    n, c, h, w = x.shape
    width = 2 * radius + 1
    weights = _motion_kernel_weights(radius, sigma)
    order = np.argsort(angles, kind="stable")
    radians = np.deg2rad(angles[order])
    point_y, point_x = width * np.sin(radians), width * np.cos(radians)
    hypot = np.hypot(point_y, point_x)[:, None]
    step = np.arange(width)[None, :]
    dy = -np.ceil(step * point_y[:, None] / hypot - 0.5).astype(np.int64)
    dx = -np.ceil(step * point_x[:, None] / hypot - 0.5).astype(np.int64)
    pad = width - 1  # |shift| <= step < width, so the padding serves every shift
    padded = F.pad(x[torch.from_numpy(order)], (pad, pad, pad, pad), mode="replicate")
    out = torch.zeros_like(x)
    for i in range(width):
        shift = dy[:, i] * (4 * width) + dx[:, i]
        bounds = np.concatenate([[0], np.flatnonzero(np.diff(shift)) + 1, [n]])
        for start, stop in zip(bounds[:-1], bounds[1:]):
            sy, sx = dy[start, i], dx[start, i]
            if abs(sy) < h and abs(sx) < w:
                out[start:stop] += weights[i] * padded[start:stop, :, pad - sy:pad - sy + h,
                                                       pad - sx:pad - sx + w]
    restore = torch.from_numpy(np.argsort(order))
    return out[restore]


@functools.lru_cache(maxsize=64)
def _clipped_zoom_matrix(n: int, zoom: float) -> np.ndarray:
    """(n, n) linear map of the script's ``clipped_zoom`` along one axis.

    Crop the centre ceil(n/zoom) pixels, zoom with scipy's order-1 spline, trim the centre n.
    scipy's zoom is separable, so zooming an identity matrix gives the exact operator.
    """
    crop = int(np.ceil(n / zoom))
    top = (n - crop) // 2
    zoomed = scipy.ndimage.zoom(np.eye(n)[top:top + crop], (zoom, 1), order=1)
    trim = (zoomed.shape[0] - n) // 2
    return zoomed[trim:trim + n]


def _separable_operator(rows: np.ndarray, cols: np.ndarray) -> scipy.sparse.csr_matrix:
    """The (h·w, h·w) sparse map X → rows @ X @ cols.T on row-major flattened images."""
    return scipy.sparse.kron(scipy.sparse.csr_matrix(rows), scipy.sparse.csr_matrix(cols),
                             format="csr")


@functools.lru_cache(maxsize=16)
def _clipped_zoom_operator(h: int, w: int, zoom: float) -> scipy.sparse.csr_matrix:
    return _separable_operator(_clipped_zoom_matrix(h, zoom),
                               _clipped_zoom_matrix(w, zoom)).astype(np.float32)


def _apply_pixel_operator(x: Tensor, operator: scipy.sparse.csr_matrix) -> Tensor:
    """Apply a sparse (h·w, h·w) linear map to every channel of every image of ``x``.

    The maps here have a few to a dozen non-zeros per row, far cheaper than dense matrices.
    """
    n, c, h, w = x.shape
    pixels_first = x.reshape(n * c, h * w).T.contiguous().numpy()
    return torch.from_numpy(operator @ pixels_first).T.contiguous().reshape(n, c, h, w)


# ----------------------------------------------------------------------------------------------
# The 19 corruptions: (x (n, c, h, w) float32 in [0, 1], parameters, random) → float32 in [0, 1]
# ----------------------------------------------------------------------------------------------

def _gaussian_noise(x: Tensor, sigma: float, rng: _CounterRandom) -> Tensor:
    return x + sigma * _t(rng.normal(0, x.shape[1:]))


_POISSON_GUIDE_BITS = 12
_POISSON_GUIDE = 1 << _POISSON_GUIDE_BITS


@functools.lru_cache(maxsize=8)
def _poisson_tables(rate_scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Inverse-CDF tables of Poisson(level/255 · rate_scale) for the 256 pixel levels.

    ``cdf[level, k] = P(K <= k)``. ``guide[level · G + j]`` is the draw for every uniform in
    [j/G, (j+1)/G) when that cell holds no jump of the CDF, else −(smallest possible draw) − 1.
    """
    rates = np.arange(256) / 255 * rate_scale
    k_max = int(np.ceil(rate_scale + 10 * np.sqrt(rate_scale) + 10))
    cdf = scipy.stats.poisson.cdf(np.arange(k_max + 1)[None, :], rates[:, None])
    cdf[:, -1] = 1.0  # the tail beyond k_max has probability < 1e-20
    grid = np.arange(_POISSON_GUIDE + 1) / _POISSON_GUIDE
    # One search over all levels at once: level ℓ's CDF is shifted into [2ℓ, 2ℓ + 1].
    shift = 2.0 * np.arange(256)[:, None]
    found = np.searchsorted((cdf + shift).ravel(), (grid[None, :] + shift).ravel(), side="left")
    smallest = found.reshape(256, -1) - (k_max + 1) * np.arange(256)[:, None]
    exact = smallest[:, :-1] == smallest[:, 1:]
    guide = np.where(exact, smallest[:, :-1], -smallest[:, :-1] - 1)
    return cdf, guide.ravel()


def _poisson_by_inversion(levels: np.ndarray, words: np.ndarray, rate_scale: float
                          ) -> np.ndarray:
    """Exact Poisson draws: the inverse CDF of each value's level at a uniform number.

    ``levels`` and random uint64 ``words`` are 1-D; the uniform is the top 53 bits of the word
    over 2⁵³ (as ``uniform64``), so its guide cell is the top 12 bits, and only values in a cell
    with a CDF jump need the uniform itself.
    """
    cdf, guide = _poisson_tables(rate_scale)
    cells = (words >> np.uint64(64 - _POISSON_GUIDE_BITS)).view(np.int64)
    draws = guide[levels * _POISSON_GUIDE + cells]
    pending = np.flatnonzero(draws < 0)
    draws[pending] = -draws[pending] - 1
    uniforms = (words[pending] >> np.uint64(11)).astype(np.float64) * 2.0**-53
    flat_cdf, stride = cdf.ravel(), cdf.shape[1]
    while pending.size:
        below = flat_cdf[levels[pending] * stride + draws[pending]] < uniforms
        pending, uniforms = pending[below], uniforms[below]
        draws[pending] += 1
    return draws


def _shot_noise(x: Tensor, rate: float, rng: _CounterRandom) -> Tensor:
    levels = torch.round(x * 255).long().numpy().ravel()
    counts = _poisson_by_inversion(levels, rng.bits(0, math.prod(x.shape[1:])).ravel(), rate)
    return _t(counts).reshape(x.shape) / rate


def _impulse_noise(x: Tensor, amount: float, rng: _CounterRandom) -> Tensor:
    """skimage's 's&p' noise: each value flipped with probability ``amount``, half to 1, half to 0."""
    flipped = _t(rng.uniform(0, x.shape[1:])) < amount
    salt = (_t(rng.uniform(1, x.shape[1:])) < 0.5).float()
    return torch.where(flipped, salt, x)


def _speckle_noise(x: Tensor, sigma: float, rng: _CounterRandom) -> Tensor:
    return x + x * sigma * _t(rng.normal(0, x.shape[1:]))


def _gaussian_blur(x: Tensor, sigma: float, rng: _CounterRandom) -> Tensor:
    return _gaussian(x, sigma)


def _glass_permutation(rng: _CounterRandom, h: int, w: int, delta: int, iterations: int
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


def _glass_blur(x: Tensor, params: tuple, rng: _CounterRandom) -> Tensor:
    sigma, delta, iterations = params
    n, c, h, w = x.shape
    # The script's np.uint8 cast truncates; the 1e-3 keeps float32 error (v/255·255 = v − ulp)
    # from dropping unblurred pixels by one level.
    quantised = torch.floor(_gaussian(x, sigma) * 255 + 1e-3)
    source = torch.from_numpy(_glass_permutation(rng, h, w, delta, iterations))
    shuffled = torch.gather(quantised.reshape(n, c, h * w), 2, source[:, None].expand(n, c, -1))
    return _gaussian(shuffled.reshape(n, c, h, w) / 255, sigma)


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


def _defocus_blur(x: Tensor, params: tuple, rng: _CounterRandom) -> Tensor:
    return _filter2d(x, _defocus_kernel(*params), "mirror")


def _motion_blur(x: Tensor, params: tuple, rng: _CounterRandom) -> Tensor:
    radius, sigma = params
    angles = rng.uniform64(0) * 90 - 45
    return _motion_blur_batch(x, radius, sigma, angles)


@functools.lru_cache(maxsize=16)
def _zoom_blur_operator(h: int, w: int, max_zoom: float) -> scipy.sparse.csr_matrix:
    """Mean of the image and its clipped zooms by 1, 1.01, ... < max_zoom, as one linear map."""
    zooms = np.arange(1, max_zoom, 0.01)  # the script's own arange (1.06 → 7 zoom factors)
    total = scipy.sparse.identity(h * w, format="csr")
    for zoom in zooms:
        total = total + _separable_operator(_clipped_zoom_matrix(h, float(zoom)),
                                            _clipped_zoom_matrix(w, float(zoom)))
    return (total / (len(zooms) + 1)).astype(np.float32).tocsr()


def _zoom_blur(x: Tensor, max_zoom: float, rng: _CounterRandom) -> Tensor:
    return _apply_pixel_operator(x, _zoom_blur_operator(*x.shape[-2:], max_zoom))


def _snow(x: Tensor, params: tuple, rng: _CounterRandom) -> Tensor:
    mean, std, zoom, threshold, radius, sigma, blend = params
    n, c, h, w = x.shape
    layer = _apply_pixel_operator(mean + std * _t(rng.normal(0, (1, h, w))),
                                  _clipped_zoom_operator(h, w, zoom))
    layer = torch.where(layer < threshold, 0, layer)
    layer = torch.floor(layer.clamp(0, 1) * 255) / 255  # the script blurs an 8-bit image
    angles = rng.uniform64(1) * 90 - 135
    layer = torch.round(_motion_blur_batch(layer, radius, sigma, angles) * 255) / 255
    grey = _luma(x) if c == 3 else x
    x = blend * x + (1 - blend) * torch.maximum(x, grey * 1.5 + 0.5)
    return x + layer + torch.flip(layer, dims=(-2, -1))


_FROST_FILES = ("frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg")
_FROST_SCALE = 0.2


@functools.lru_cache(maxsize=4)
def _frost_textures(min_h: int, min_w: int) -> tuple[Tensor, np.ndarray]:
    """The five frost textures (RGB, 0..255) scaled by 0.2 (or more, to exceed ``min_h × min_w``),
    stacked top-left aligned into (5, H_max, W_max, 3), with their (height, width)."""
    textures = []
    for name in _FROST_FILES:
        ref = importlib.resources.files(imagecorruptions).joinpath("frost", name)
        with importlib.resources.as_file(ref) as path:
            bgr = cv2.imread(str(path))
        scale = max(_FROST_SCALE, (min_h + 1) / bgr.shape[0], (min_w + 1) / bgr.shape[1])
        textures.append(cv2.resize(bgr, (0, 0), fx=scale, fy=scale)[..., ::-1])
    sizes = np.array([t.shape[:2] for t in textures])
    stack = np.zeros((len(textures), *sizes.max(0), 3), dtype=np.float32)
    for slot, texture in zip(stack, textures):
        slot[:texture.shape[0], :texture.shape[1]] = texture
    return torch.from_numpy(stack), sizes


def _frost(x: Tensor, params: tuple, rng: _CounterRandom) -> Tensor:
    image_weight, frost_weight = params
    n, c, h, w = x.shape
    textures, sizes = _frost_textures(h, w)
    choice = rng.integers(0, 0, len(_FROST_FILES))
    top = rng.integers(1, 0, sizes[choice, 0] - h)
    left = rng.integers(2, 0, sizes[choice, 1] - w)
    rows = torch.from_numpy(top[:, None] + np.arange(h))
    cols = torch.from_numpy(left[:, None] + np.arange(w))
    crops = textures[torch.from_numpy(choice)[:, None, None], rows[:, :, None], cols[:, None, :]]
    crops = crops.permute(0, 3, 1, 2) / 255
    return image_weight * x + frost_weight * (crops if c == 3 else _luma(crops))


def _plasma_fractal(rng: _CounterRandom, size: int, decay: float) -> np.ndarray:
    """Diamond-square height maps (n, size, size) in [0, 1], one per sample (``size`` a power of 2)."""
    n = len(rng)
    heights = np.zeros((n, size, size), dtype=np.float32)
    step, wibble, stream = size, 100.0, 0

    def wibbled_mean(total: np.ndarray) -> np.ndarray:
        nonlocal stream
        noise = rng.uniform(stream, total.shape[1:]) * (2 * wibble) - wibble
        stream += 1
        return total / 4 + wibble * noise

    while step >= 2:
        half = step // 2
        corners = heights[:, 0::step, 0::step]
        squares = corners + np.roll(corners, -1, axis=1)
        squares += np.roll(squares, -1, axis=2)
        heights[:, half::step, half::step] = wibbled_mean(squares)
        centres = heights[:, half::step, half::step]
        corners = heights[:, 0::step, 0::step]
        left_right = centres + np.roll(centres, 1, axis=1) + corners + np.roll(corners, -1, axis=2)
        heights[:, 0::step, half::step] = wibbled_mean(left_right)
        top_bottom = centres + np.roll(centres, 1, axis=2) + corners + np.roll(corners, -1, axis=1)
        heights[:, half::step, 0::step] = wibbled_mean(top_bottom)
        step = half
        wibble /= decay
    heights -= heights.min(axis=(1, 2), keepdims=True)
    return heights / heights.max(axis=(1, 2), keepdims=True)


def _fog(x: Tensor, params: tuple, rng: _CounterRandom) -> Tensor:
    amount, decay = params
    h, w = x.shape[-2:]
    size = 1 << (max(h, w) - 1).bit_length()
    plasma = _t(_plasma_fractal(rng, size, decay)[:, None, :h, :w])
    brightest = x.amax(dim=(1, 2, 3), keepdim=True)
    return (x + amount * plasma) * brightest / (brightest + amount)


def _brightness(x: Tensor, shift: float, rng: _CounterRandom) -> Tensor:
    def brighten(rgb: Tensor) -> Tensor:
        hsv = _rgb_to_hsv(rgb)
        hsv[:, 2] = (hsv[:, 2] + shift).clamp(0, 1)
        return _hsv_to_rgb(hsv)

    return _through_rgb(x, brighten)


def _saturate(x: Tensor, params: tuple, rng: _CounterRandom) -> Tensor:
    scale, shift = params

    def saturate(rgb: Tensor) -> Tensor:
        hsv = _rgb_to_hsv(rgb)
        hsv[:, 1] = (hsv[:, 1] * scale + shift).clamp(0, 1)
        return _hsv_to_rgb(hsv)

    return _through_rgb(x, saturate)


def _contrast(x: Tensor, factor: float, rng: _CounterRandom) -> Tensor:
    means = x.mean(dim=(2, 3), keepdim=True)
    return (x - means) * factor + means


def _elastic_transform(x: Tensor, params: tuple, rng: _CounterRandom) -> Tensor:
    n, c, h, w = x.shape
    side = min(h, w)
    displacement, smoothing, affine = (side * p for p in params)
    # Random affine: three reference points (x, y) each moved by up to ±affine pixels.
    cx, cy, arm = w // 2, h // 2, side // 3
    reference = np.array([[cx + arm, cy + arm], [cx + arm, cy - arm], [cx - arm, cy - arm]],
                         dtype=np.float64)
    moved = reference + (rng.uniform64(0, (3, 2)) * 2 - 1) * affine
    # OpenCV's warpAffine samples the source at the inverse map: solve moved → reference.
    inverse = np.linalg.solve(np.concatenate([moved, np.ones((n, 3, 1))], axis=2), reference)
    inverse = _t(inverse)
    gy, gx = torch.meshgrid(torch.arange(h, dtype=torch.float32),
                            torch.arange(w, dtype=torch.float32), indexing="ij")
    src_x = gx * inverse[:, 0, 0, None, None] + gy * inverse[:, 1, 0, None, None] \
        + inverse[:, 2, 0, None, None]
    src_y = gx * inverse[:, 0, 1, None, None] + gy * inverse[:, 1, 1, None, None] \
        + inverse[:, 2, 1, None, None]
    warped = _bilinear(x, src_y, src_x, "mirror")
    if displacement == 0:  # severity 1 is affine only (the script's zero-scaled field)
        return warped
    field = _t(rng.uniform(1, (2, h, w)) * 2 - 1)
    field = _gaussian(field, smoothing, truncate=3.0, mode="reflect") * displacement
    return _bilinear(warped, gy + field[:, 1], gx + field[:, 0], "reflect")


def _pixelate_matrix(n: int, scale: float) -> np.ndarray:
    """(n, n) map of PIL's BOX resize to int(n·scale) and BOX resize back, along one axis."""
    def box_resize_matrix(size_in: int, size_out: int) -> np.ndarray:
        # Resizing the identity image horizontally gives the filter weights, one row per input.
        identity = Image.fromarray(np.eye(size_in, dtype=np.float32), mode="F")
        return np.asarray(identity.resize((size_out, size_in), Image.Resampling.BOX)).T

    small = int(n * scale)
    return box_resize_matrix(small, n) @ box_resize_matrix(n, small)


@functools.lru_cache(maxsize=16)
def _pixelate_operator(h: int, w: int, scale: float) -> scipy.sparse.csr_matrix:
    return _separable_operator(_pixelate_matrix(h, scale),
                               _pixelate_matrix(w, scale)).astype(np.float32)


def _pixelate(x: Tensor, scale: float, rng: _CounterRandom) -> Tensor:
    return _apply_pixel_operator(x, _pixelate_operator(*x.shape[-2:], scale))


def _jpeg_compression(x: Tensor, quality: int, rng: _CounterRandom) -> Tensor:
    pixels = torch.round(x * 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    if pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    decoded = np.empty_like(pixels)
    for i, image in enumerate(pixels):  # a codec: one image at a time
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, "JPEG", quality=quality)
        decoded[i] = np.asarray(Image.open(buffer))
    decoded = decoded.reshape(x.shape[0], *x.shape[2:], -1)
    return torch.from_numpy(decoded).permute(0, 3, 1, 2).float() / 255


_WATER = (175 / 255, 238 / 255, 238 / 255)
_MUD = (63 / 255, 42 / 255, 20 / 255)
_SPATTER_EMBOSS = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]])


def _water_edges(liquid: np.ndarray) -> np.ndarray:
    """The script's OpenCV chain from an 8-bit liquid layer to the water-drop shading, per image."""
    shading = np.empty(liquid.shape, dtype=np.float32)
    for i, layer in enumerate(liquid):  # Canny, distance transform, equalisation: whole-image ops
        dist = cv2.distanceTransform(255 - cv2.Canny(layer, 50, 150), cv2.DIST_L2, 5)
        _, dist = cv2.threshold(dist, 20, 20, cv2.THRESH_TRUNC)
        dist = cv2.equalizeHist(cv2.blur(dist, (3, 3)).astype(np.uint8))
        shading[i] = cv2.blur(cv2.filter2D(dist, cv2.CV_8U, _SPATTER_EMBOSS), (3, 3))
    return shading


def _spatter(x: Tensor, params: tuple, rng: _CounterRandom) -> Tensor:
    mean, std, sigma, threshold, intensity, mud = params
    c = x.shape[1]
    liquid = _gaussian(mean + std * _t(rng.normal(0, (1, *x.shape[2:]))), sigma)
    liquid = torch.where(liquid < threshold, 0, liquid)
    if mud:
        mask = _gaussian((liquid > threshold).float(), intensity)
        mask = torch.where(mask < 0.8, 0, mask)
        colour = torch.tensor(_MUD).view(1, 3, 1, 1)
        colour = colour if c == 3 else _luma(colour)
        return x * (1 - mask) + colour * mask
    liquid_u8 = torch.floor(liquid.clamp(0, 1) * 255).to(torch.uint8)  # the script truncates
    drops = liquid_u8.float() * torch.from_numpy(_water_edges(liquid_u8[:, 0].numpy()))[:, None]
    peak = drops.amax(dim=(2, 3), keepdim=True)
    drops = torch.where(peak > 0, drops / torch.where(peak > 0, peak, 1), 0) * intensity
    colour = torch.tensor(_WATER).view(1, 3, 1, 1)
    colour = colour if c == 3 else _luma(colour)
    return x + drops * colour


_CORRUPTION_FUNCTIONS: dict[str, Callable[[Tensor, object, _CounterRandom], Tensor]] = {
    "gaussian_noise": _gaussian_noise, "shot_noise": _shot_noise,
    "impulse_noise": _impulse_noise, "defocus_blur": _defocus_blur, "glass_blur": _glass_blur,
    "motion_blur": _motion_blur, "zoom_blur": _zoom_blur, "snow": _snow, "frost": _frost,
    "fog": _fog, "brightness": _brightness, "contrast": _contrast,
    "elastic_transform": _elastic_transform, "pixelate": _pixelate,
    "jpeg_compression": _jpeg_compression, "speckle_noise": _speckle_noise,
    "gaussian_blur": _gaussian_blur, "spatter": _spatter, "saturate": _saturate,
}


# ----------------------------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------------------------

def _check_images(images, params: str) -> np.ndarray:
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


def _check_sample_ids(sample_ids, n: int) -> np.ndarray:
    if sample_ids is None:
        return np.arange(n, dtype=np.int64)
    ids = np.asarray(sample_ids)
    if ids.shape != (n,) or (n and not np.issubdtype(ids.dtype, np.integer)):
        raise ValueError(f"`sample_ids` must be {n} integers, one per image. "
                         f"Got {ids.dtype} array of shape {ids.shape} instead.")
    return ids.astype(np.int64)


def _corrupt_cifar(images: np.ndarray, corruption: str, severity: int, sample_ids: np.ndarray,
                   seed: int) -> np.ndarray:
    function = _CORRUPTION_FUNCTIONS[corruption]
    parameter = CIFAR_PARAMETERS[corruption][severity - 1]
    chunk = max(1, _CHUNK_VALUES // math.prod(images.shape[1:]))
    out = np.empty_like(images)
    for start in range(0, images.shape[0], chunk):  # bounded memory; samples are independent
        part = torch.from_numpy(np.ascontiguousarray(images[start:start + chunk]))
        x = (part[:, None] if part.ndim == 3 else part.permute(0, 3, 1, 2)).float() / 255
        rng = _CounterRandom(seed, corruption, severity, sample_ids[start:start + chunk])
        y = function(x, parameter, rng)
        y = torch.where(torch.isnan(y), x, y)  # no path is known to give NaN; never pass it on
        pixels = torch.round(y.clamp(0, 1) * 255).to(torch.uint8)
        out[start:start + chunk] = (pixels[:, 0] if images.ndim == 3
                                    else pixels.permute(0, 2, 3, 1)).numpy()
    return out


def _corrupt_imagenet(images: np.ndarray, corruption: str, severity: int,
                      sample_ids: np.ndarray, seed: int) -> np.ndarray:
    function = imagecorruptions.corruption_dict[corruption]
    image_seeds = _CounterRandom(seed, corruption, severity, sample_ids).keys % np.uint64(2**32)
    seeded = corruption in ("glass_blur", "impulse_noise")  # they take a seed; others use np.random
    out = np.empty_like(images)
    saved_state = np.random.get_state()
    try:
        with np.errstate(all="ignore"):
            for i, (image, image_seed) in enumerate(zip(images, image_seeds.tolist())):
                np.random.seed(image_seed)  # the library draws from numpy's global generator
                rgb = image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=2)
                result = np.asarray(function(Image.fromarray(rgb), severity,
                                             **({"seed": image_seed} if seeded else {})),
                                    dtype=np.float64)
                result = np.where(np.isnan(result), rgb, result)
                if image.ndim == 2:
                    result = result @ np.array(_LUMA) if result.ndim == 3 else result
                out[i] = np.round(np.clip(result, 0, 255)).astype(np.uint8)
    finally:
        np.random.set_state(saved_state)
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
    images = _check_images(images, params)
    ids = _check_sample_ids(sample_ids, images.shape[0])
    if params == "imagenet":
        return _corrupt_imagenet(images, corruption, int(severity), ids, int(seed))
    return _corrupt_cifar(images, corruption, int(severity), ids, int(seed))


# ----------------------------------------------------------------------------------------------
# Benchmark directories (CIFAR-10-C layout)
# ----------------------------------------------------------------------------------------------

_FINGERPRINT_FILE = "fingerprint.json"


def _atomic_save(path: Path, array: np.ndarray) -> None:
    """Write ``path`` so that it is either absent, the old file, or the complete new file."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        with open(partial, "wb") as handle:
            np.save(handle, array)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _valid_array(path: Path, shape: tuple[int, ...]) -> bool:
    try:
        array = np.load(path, mmap_mode="r")
    except (OSError, ValueError):
        return False
    return array.dtype == np.uint8 and array.shape == shape


def _fingerprint(images: np.ndarray, sample_ids: np.ndarray, seed: int) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps([_ALGORITHM_VERSION, seed, list(images.shape)]).encode())
    digest.update(np.ascontiguousarray(images).tobytes())
    digest.update(sample_ids.astype("<i8").tobytes())
    return digest.hexdigest()


def _claim_cache_dir(cache_dir: Path, fingerprint: str) -> None:
    """Make ``cache_dir`` hold only files generated for ``fingerprint``.

    A directory with our fingerprint file but another fingerprint is emptied of its .npy files;
    a directory with .npy files and no fingerprint file was not written here and is refused.
    """
    marker = cache_dir / _FINGERPRINT_FILE
    ours = [cache_dir / f"{name}.npy" for name in (*CORRUPTIONS, "labels")]
    if marker.exists():
        try:
            current = json.loads(marker.read_text()).get("fingerprint")
        except (OSError, ValueError, AttributeError):
            current = None
        if current == fingerprint:
            return
        marker.unlink()
        for path in ours:
            path.unlink(missing_ok=True)
    elif any(path.exists() for path in ours):
        raise ValueError(f"{cache_dir}: holds corruption .npy files but no {_FINGERPRINT_FILE}, "
                         "so they were not generated for these images; use an empty directory.")
    partial = marker.with_name(f".{marker.name}.{os.getpid()}.partial")
    partial.write_text(json.dumps({"fingerprint": fingerprint, "version": _ALGORITHM_VERSION}))
    os.replace(partial, marker)


def generate_benchmark_set(images: np.ndarray, *, sample_ids: Sequence[int] | np.ndarray,
                           cache_dir: str | os.PathLike, seed: int = 0,
                           labels: Sequence[int] | np.ndarray | None = None,
                           corruptions: Iterable[str] = CORRUPTIONS,
                           progress: bool = True) -> Path:
    """Write a CIFAR-10-C style directory: ``<corruption>.npy`` per corruption, uint8
    (5·N, H, W[, 3]) with severities 1..5 stacked in that order, and ``labels.npy`` (the N labels
    tiled 5 times) when ``labels`` are given.

    Valid files from an earlier run with the same images, ids and seed are kept (a
    ``fingerprint.json`` records them); each file is written atomically, so an interrupted run
    leaves only complete files. Returns ``cache_dir`` as a Path.
    """
    images = _check_images(images, "cifar")
    n = images.shape[0]
    ids = _check_sample_ids(sample_ids, n)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"`seed` must be a non-negative integer. Got {seed!r} instead.")
    corruptions = tuple(corruptions)
    unknown = [name for name in corruptions if name not in CORRUPTIONS]
    if unknown:
        raise ValueError(f"`corruptions` must be names from {CORRUPTIONS}. Got {unknown} instead.")
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    _claim_cache_dir(cache_dir, _fingerprint(images, ids, int(seed)))
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"`labels` must be {n} integers, one per image. "
                             f"Got {labels.dtype} array of shape {labels.shape} instead.")
        tiled = np.tile(labels, len(SEVERITIES))
        label_path = cache_dir / "labels.npy"
        try:
            current = np.load(label_path)
        except (OSError, ValueError):
            current = None
        if current is None or not np.array_equal(current, tiled):
            _atomic_save(label_path, tiled)
    shape = (len(SEVERITIES) * n, *images.shape[1:])
    bar = tqdm(corruptions, desc="corruptions", disable=not progress, unit="set×5")
    for name in bar:
        path = cache_dir / f"{name}.npy"
        if _valid_array(path, shape):
            continue
        bar.set_postfix_str(name)
        stacked = np.concatenate([corrupt(images, name, severity, sample_ids=ids, seed=seed)
                                  for severity in SEVERITIES])
        _atomic_save(path, stacked)
    return cache_dir


def _layout_hint(n: int) -> str:
    return f"({len(SEVERITIES)} severities × {n} images)"


def load_c_directory(path: str | os.PathLike, *, clean_labels: Sequence[int] | np.ndarray | None,
                     corruptions: Iterable[str] = CORRUPTIONS,
                     image_shape: tuple[int, ...] | None = None) -> dict[str, np.ndarray]:
    """Open and validate a pre-made corruption directory (CIFAR-10-C / CIFAR-100-C layout).

    The directory holds ``<corruption>.npy`` (uint8, (5·N, H, W) or (5·N, H, W, 3), severity
    1..5 stacked in that order) and ``labels.npy`` (5·N integers: the N test labels, 5 times).
    With ``clean_labels`` (N,), N is their count and every severity block of ``labels.npy`` must
    equal them; with None, N is ``len(labels.npy) / 5`` and the blocks must agree with each other.
    ``image_shape`` (H, W) or (H, W, 3), when given, is required of every file; otherwise all files
    must share one shape.

    Returns ``{corruption: read-only memory-mapped array}``; slice severities with
    ``severity_block``. Raises FileNotFoundError or ValueError naming the offending file.
    """
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(
            f"{root}: corruption benchmark directory not found. Expected a directory with "
            "<corruption>.npy files (uint8, 5·N images, severity 1..5 stacked) and labels.npy, "
            "as CIFAR-10-C is distributed.")
    corruptions = tuple(corruptions)
    unknown = [name for name in corruptions if name not in CORRUPTIONS]
    if unknown:
        raise ValueError(f"`corruptions` must be names from {CORRUPTIONS}. Got {unknown} instead.")
    n = _check_labels_file(root / "labels.npy", clean_labels)
    expected_shape = None if image_shape is None else (len(SEVERITIES) * n, *image_shape)
    arrays: dict[str, np.ndarray] = {}
    for name in corruptions:
        file = root / f"{name}.npy"
        if not file.is_file():
            raise FileNotFoundError(f"{file}: missing. Expected uint8 array of shape "
                                    f"{expected_shape or (len(SEVERITIES) * n, 'H', 'W')} "
                                    f"{_layout_hint(n)}.")
        try:
            array = np.load(file, mmap_mode="r")
        except (OSError, ValueError) as error:
            raise ValueError(f"{file}: not a readable .npy array ({error}).") from error
        shape_ok = (array.shape == expected_shape if expected_shape is not None else
                    array.ndim in (3, 4) and array.shape[0] == len(SEVERITIES) * n
                    and (array.ndim == 3 or array.shape[-1] == 3))
        if array.dtype != np.uint8 or not shape_ok:
            wanted = expected_shape or (f"({len(SEVERITIES) * n}, H, W) or "
                                        f"({len(SEVERITIES) * n}, H, W, 3)")
            raise ValueError(f"{file}: expected uint8 array of shape {wanted} {_layout_hint(n)}, "
                             f"got {array.dtype} array of shape {array.shape}.")
        expected_shape = array.shape
        arrays[name] = array
    return arrays


def _check_labels_file(file: Path, clean_labels) -> int:
    """Validate ``labels.npy`` against ``clean_labels``; return N, the images per severity."""
    if not file.is_file():
        raise FileNotFoundError(f"{file}: missing. Expected the 5·N labels of the corrupted "
                                "images (the N test labels repeated for severities 1..5).")
    try:
        labels = np.load(file)
    except (OSError, ValueError) as error:
        raise ValueError(f"{file}: not a readable .npy array ({error}).") from error
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{file}: expected a 1-D integer array of labels, "
                         f"got {labels.dtype} array of shape {labels.shape}.")
    if clean_labels is None:
        if labels.size % len(SEVERITIES):
            raise ValueError(f"{file}: expected 5·N labels (5 severities × N images), "
                             f"got {labels.size}, not divisible by 5.")
        n = labels.size // len(SEVERITIES)
        reference = labels[:n]
    else:
        reference = np.asarray(clean_labels)
        n = reference.shape[0]
        if labels.size != len(SEVERITIES) * n:
            raise ValueError(f"{file}: expected {len(SEVERITIES) * n} labels {_layout_hint(n)}, "
                             f"got {labels.size}.")
    blocks = labels.reshape(len(SEVERITIES), n)
    mismatch = blocks != reference[None, :]
    if mismatch.any():
        block, index = np.argwhere(mismatch)[0]
        raise ValueError(f"{file}: labels of severity {block + 1} differ from the clean labels "
                         f"(first at image {index}: {blocks[block, index]} instead of "
                         f"{reference[index]}); the files do not match this test split.")
    return n


def severity_block(array: np.ndarray, severity: int, n: int) -> np.ndarray:
    """The ``n`` images of one severity (1..5) from a (5·n, ...) benchmark array."""
    if isinstance(severity, bool) or not isinstance(severity, (int, np.integer)) \
            or severity not in SEVERITIES:
        raise ValueError(f"`severity` must be an integer in 1..5. Got {severity!r} instead.")
    if array.shape[0] != len(SEVERITIES) * n:
        raise ValueError(f"`array` must hold {len(SEVERITIES)}·n = {len(SEVERITIES) * n} images "
                         f"for n={n}. Got {array.shape[0]} instead.")
    return array[(severity - 1) * n:severity * n]
