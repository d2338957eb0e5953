"""Digital corruptions: brightness, contrast, elastic transform, pixelate, JPEG, saturate.

See docs/corruptions.md, Severity parameters and Deviations from the reference script.
elastic_transform scales its CIFAR parameters by ``min(H, W)`` (the script's 32) and warps
bilinearly in floating point (OpenCV uses 1/32-pixel fixed point); pixelate applies PIL's BOX
filters as float matrices (PIL rounds to uint8 between passes, so pixels may differ from PIL by
one grey level). JPEG is a codec and runs image by image.
"""

from __future__ import annotations

import functools
import io

import numpy as np
import scipy.sparse
import torch
from PIL import Image

from ._ops import (CorruptionFunction, Tensor, apply_pixel_operator, bilinear, gaussian,
                   hsv_to_rgb, rgb_to_hsv, separable_operator, through_rgb, to_tensor)
from ._random import CounterRandom


def brightness(x: Tensor, shift: float, rng: CounterRandom) -> Tensor:
    def brighten(rgb: Tensor) -> Tensor:
        hsv = rgb_to_hsv(rgb)
        hsv[:, 2] = (hsv[:, 2] + shift).clamp(0, 1)
        return hsv_to_rgb(hsv)

    return through_rgb(x, brighten)


def saturate(x: Tensor, params: tuple, rng: CounterRandom) -> Tensor:
    scale, shift = params

    def scale_saturation(rgb: Tensor) -> Tensor:
        hsv = rgb_to_hsv(rgb)
        hsv[:, 1] = (hsv[:, 1] * scale + shift).clamp(0, 1)
        return hsv_to_rgb(hsv)

    return through_rgb(x, scale_saturation)


def contrast(x: Tensor, factor: float, rng: CounterRandom) -> Tensor:
    means = x.mean(dim=(2, 3), keepdim=True)
    return (x - means) * factor + means


def elastic_transform(x: Tensor, params: tuple, rng: CounterRandom) -> Tensor:
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
    inverse = to_tensor(inverse)
    gy, gx = torch.meshgrid(torch.arange(h, dtype=torch.float32),
                            torch.arange(w, dtype=torch.float32), indexing="ij")
    src_x = gx * inverse[:, 0, 0, None, None] + gy * inverse[:, 1, 0, None, None] \
        + inverse[:, 2, 0, None, None]
    src_y = gx * inverse[:, 0, 1, None, None] + gy * inverse[:, 1, 1, None, None] \
        + inverse[:, 2, 1, None, None]
    warped = bilinear(x, src_y, src_x, "mirror")
    if displacement == 0:  # severity 1 is affine only (the script's zero-scaled field)
        return warped
    field = to_tensor(rng.uniform(1, (2, h, w)) * 2 - 1)
    field = gaussian(field, smoothing, truncate=3.0, mode="reflect") * displacement
    return bilinear(warped, gy + field[:, 1], gx + field[:, 0], "reflect")


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
    return separable_operator(_pixelate_matrix(h, scale),
                              _pixelate_matrix(w, scale)).astype(np.float32)


def pixelate(x: Tensor, scale: float, rng: CounterRandom) -> Tensor:
    return apply_pixel_operator(x, _pixelate_operator(*x.shape[-2:], scale))


def jpeg_compression(x: Tensor, quality: int, rng: CounterRandom) -> Tensor:
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


FUNCTIONS: dict[str, CorruptionFunction] = {
    "brightness": brightness,
    "contrast": contrast,
    "elastic_transform": elastic_transform,
    "pixelate": pixelate,
    "jpeg_compression": jpeg_compression,
    "saturate": saturate,
}
