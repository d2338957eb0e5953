"""Filters, resampling, colour conversions and sparse pixel operators shared by the corruptions.

Tensors are float32 ``(n, c, h, w)`` in [0, 1] unless a docstring says otherwise.
"""

from __future__ import annotations

import functools
from typing import Callable

import numpy as np
import scipy.ndimage
import scipy.sparse
import torch
import torch.nn.functional as F

from ._random import CounterRandom

Tensor = torch.Tensor
#: A corruption at one severity: (x (n, c, h, w) float32 in [0, 1], the severity's CIFAR-10-C
#: parameters, the batch's random numbers) → float32 (n, c, h, w); the caller clips to [0, 1].
CorruptionFunction = Callable[[Tensor, object, CounterRandom], Tensor]

#: ITU-R 601 luma weights of R, G, B.
LUMA = (0.299, 0.587, 0.114)



def to_tensor(array: np.ndarray) -> Tensor:
    """A float32 tensor sharing memory with ``array`` where its dtype and layout allow."""
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


# Border modes are scipy.ndimage's: "nearest" (aaa|abcd|ddd), "mirror" (cb|abcd|cb, OpenCV's
# default BORDER_REFLECT_101) and "reflect" (ba|abcd|dc, skimage's "reflect").

def filter2d(x: Tensor, kernel: np.ndarray, mode: str) -> Tensor:
    """Correlate every channel of ``x`` (n, c, h, w) with a 2-D ``kernel`` (like cv2.filter2D)."""
    return torch.from_numpy(scipy.ndimage.correlate(x.numpy(), kernel[None, None], mode=mode))


def separable(x: Tensor, kernel: np.ndarray, mode: str) -> Tensor:
    """Correlate rows and columns of every channel of ``x`` with the same 1-D ``kernel``."""
    rows_done = scipy.ndimage.correlate1d(x.numpy(), kernel, axis=2, mode=mode)
    return torch.from_numpy(scipy.ndimage.correlate1d(rows_done, kernel, axis=3, mode=mode))


def gaussian_kernel(sigma: float, truncate: float) -> np.ndarray:
    """scipy.ndimage.gaussian_filter1d's kernel: radius int(truncate·σ + 0.5)."""
    radius = int(truncate * sigma + 0.5)
    t = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * t**2 / sigma**2)
    return kernel / kernel.sum()


def gaussian(x: Tensor, sigma: float, *, truncate: float = 4.0, mode: str = "nearest") -> Tensor:
    """skimage.filters.gaussian per channel (defaults: mode 'nearest', truncate 4)."""
    return separable(x, gaussian_kernel(sigma, truncate), mode)


def bilinear(x: Tensor, ys: Tensor, xs: Tensor, mode: str) -> Tensor:
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


def luma(x: Tensor) -> Tensor:
    """(n, 3, h, w) RGB → (n, 1, h, w) ITU-R 601 luma."""
    return torch.tensordot(torch.tensor(LUMA), x, dims=([0], [1]))[:, None]


def rgb_to_hsv(rgb: Tensor) -> Tensor:
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


def hsv_to_rgb(hsv: Tensor) -> Tensor:
    """skimage.color.hsv2rgb on (n, 3, h, w), in the sector-free form
    channel = v − v·s·clamp(min(k, 4 − k), 0, 1), k = (m + 6h) mod 6, m = 5, 3, 1 for R, G, B.
    """
    h, s, v = hsv[:, 0:1], hsv[:, 1:2], hsv[:, 2:3]
    k = (torch.tensor([5.0, 3.0, 1.0]).view(1, 3, 1, 1) + 6 * h).remainder(6)
    return v - v * s * torch.minimum(k, 4 - k).clamp(0, 1)


def through_rgb(x: Tensor, change: Callable[[Tensor], Tensor]) -> Tensor:
    """Apply a colour operation; grey images are replicated to RGB and converted back by luma."""
    if x.shape[1] == 3:
        return change(x)
    return luma(change(x.expand(-1, 3, -1, -1)))


def motion_kernel_weights(radius: int, sigma: float) -> np.ndarray:
    offsets = np.arange(2 * radius + 1)
    weights = np.exp(-offsets**2 / (2 * sigma**2))
    return weights / weights.sum()


def motion_blur_batch(x: Tensor, radius: int, sigma: float, angles: np.ndarray) -> Tensor:
    """imagecorruptions' motion blur, with one angle (degrees) per sample.

    Sums the image shifted by 0 .. 2·radius pixels along the angle (edge pixels repeated),
    weighted by a one-sided Gaussian; shifts as large as the image are dropped (the library stops
    there, and shift lengths only grow along the kernel).
    Samples are sorted by angle, so that at every step the samples sharing one integer shift form
    a contiguous run: each run is one slice of the edge-padded batch, not a per-pixel gather.
    """
    n, c, h, w = x.shape
    width = 2 * radius + 1
    weights = motion_kernel_weights(radius, sigma)
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
def clipped_zoom_matrix(n: int, zoom: float) -> np.ndarray:
    """(n, n) linear map of the script's ``clipped_zoom`` along one axis.

    Crop the centre ceil(n/zoom) pixels, zoom with scipy's order-1 spline, trim the centre n.
    scipy's zoom is separable, so zooming an identity matrix gives the exact operator.
    """
    crop = int(np.ceil(n / zoom))
    top = (n - crop) // 2
    zoomed = scipy.ndimage.zoom(np.eye(n)[top:top + crop], (zoom, 1), order=1)
    trim = (zoomed.shape[0] - n) // 2
    return zoomed[trim:trim + n]


def separable_operator(rows: np.ndarray, cols: np.ndarray) -> scipy.sparse.csr_matrix:
    """The (h·w, h·w) sparse map X → rows @ X @ cols.T on row-major flattened images."""
    return scipy.sparse.kron(scipy.sparse.csr_matrix(rows), scipy.sparse.csr_matrix(cols),
                             format="csr")


@functools.lru_cache(maxsize=16)
def clipped_zoom_operator(h: int, w: int, zoom: float) -> scipy.sparse.csr_matrix:
    return separable_operator(clipped_zoom_matrix(h, zoom),
                              clipped_zoom_matrix(w, zoom)).astype(np.float32)


def apply_pixel_operator(x: Tensor, operator: scipy.sparse.csr_matrix) -> Tensor:
    """Apply a sparse (h·w, h·w) linear map to every channel of every image of ``x``.

    The maps here have a few to a dozen non-zeros per row, far cheaper than dense matrices.
    """
    n, c, h, w = x.shape
    pixels_first = x.reshape(n * c, h * w).T.contiguous().numpy()
    return torch.from_numpy(operator @ pixels_first).T.contiguous().reshape(n, c, h, w)

