"""Weather corruptions: snow, frost, fog, spatter.

See docs/corruptions.md, Severity parameters and Deviations from the reference script. Frost
scales a texture up just enough to cover images larger than the texture scaled by 0.2; spatter
clips its liquid layer to [0, 255] before the uint8 cast (the script let it wrap) and treats an
all-dry liquid layer as no spatter (the script divided 0 by 0). Spatter's edge map (Canny,
distance transform, histogram equalisation: whole-image algorithms) runs image by image.
"""

from __future__ import annotations

import functools
import importlib.resources

import cv2
import imagecorruptions
import numpy as np
import torch

from ._ops import (CorruptionFunction, Tensor, apply_pixel_operator, clipped_zoom_operator,
                   gaussian, luma, motion_blur_batch, to_tensor)
from ._random import CounterRandom


def snow(x: Tensor, params: tuple, rng: CounterRandom) -> Tensor:
    mean, std, zoom, threshold, radius, sigma, blend = params
    n, c, h, w = x.shape
    layer = apply_pixel_operator(mean + std * to_tensor(rng.normal(0, (1, h, w))),
                                 clipped_zoom_operator(h, w, zoom))
    layer = torch.where(layer < threshold, 0, layer)
    layer = torch.floor(layer.clamp(0, 1) * 255) / 255  # the script blurs an 8-bit image
    angles = rng.uniform64(1) * 90 - 135
    # ImageMagick returns the blurred layer in 8 bits, truncated (measured: docs/corruptions.md);
    # the 1e-3 keeps float32 error (a whole level v computed as v − ulp) from dropping it by one.
    layer = torch.floor(motion_blur_batch(layer, radius, sigma, angles) * 255 + 1e-3) / 255
    grey = luma(x) if c == 3 else x
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


def frost(x: Tensor, params: tuple, rng: CounterRandom) -> Tensor:
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
    return image_weight * x + frost_weight * (crops if c == 3 else luma(crops))


def _plasma_fractal(rng: CounterRandom, size: int, decay: float) -> np.ndarray:
    """Diamond-square height maps (n, size, size) in [0, 1], one per sample (``size`` a power
    of 2)."""
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


def fog(x: Tensor, params: tuple, rng: CounterRandom) -> Tensor:
    amount, decay = params
    h, w = x.shape[-2:]
    size = 1 << (max(h, w) - 1).bit_length()
    plasma = to_tensor(_plasma_fractal(rng, size, decay)[:, None, :h, :w])
    brightest = x.amax(dim=(1, 2, 3), keepdim=True)
    return (x + amount * plasma) * brightest / (brightest + amount)



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


def spatter(x: Tensor, params: tuple, rng: CounterRandom) -> Tensor:
    mean, std, sigma, threshold, intensity, mud = params
    c = x.shape[1]
    liquid = gaussian(mean + std * to_tensor(rng.normal(0, (1, *x.shape[2:]))), sigma)
    liquid = torch.where(liquid < threshold, 0, liquid)
    if mud:
        mask = gaussian((liquid > threshold).float(), intensity)
        mask = torch.where(mask < 0.8, 0, mask)
        colour = torch.tensor(_MUD).view(1, 3, 1, 1)
        colour = colour if c == 3 else luma(colour)
        return x * (1 - mask) + colour * mask
    liquid_u8 = torch.floor(liquid.clamp(0, 1) * 255).to(torch.uint8)  # the script truncates
    drops = liquid_u8.float() * torch.from_numpy(_water_edges(liquid_u8[:, 0].numpy()))[:, None]
    peak = drops.amax(dim=(2, 3), keepdim=True)
    drops = torch.where(peak > 0, drops / torch.where(peak > 0, peak, 1), 0) * intensity
    colour = torch.tensor(_WATER).view(1, 3, 1, 1)
    colour = colour if c == 3 else luma(colour)
    return x + drops * colour


FUNCTIONS: dict[str, CorruptionFunction] = {
    "snow": snow,
    "frost": frost,
    "fog": fog,
    "spatter": spatter,
}
