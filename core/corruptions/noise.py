"""Noise corruptions: gaussian, shot (Poisson), impulse (salt and pepper), speckle.

See docs/corruptions.md, Severity parameters.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import scipy.stats
import torch

from ._ops import CorruptionFunction, Tensor, to_tensor
from ._random import CounterRandom


def gaussian_noise(x: Tensor, sigma: float, rng: CounterRandom) -> Tensor:
    return x + sigma * to_tensor(rng.normal(0, x.shape[1:]))


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


def shot_noise(x: Tensor, rate: float, rng: CounterRandom) -> Tensor:
    levels = torch.round(x * 255).long().numpy().ravel()
    counts = _poisson_by_inversion(levels, rng.bits(0, math.prod(x.shape[1:])).ravel(), rate)
    return to_tensor(counts).reshape(x.shape) / rate


def impulse_noise(x: Tensor, amount: float, rng: CounterRandom) -> Tensor:
    """skimage's 's&p' noise: each value replaced with probability ``amount``, half of them by 1,
    half by 0."""
    flipped = to_tensor(rng.uniform(0, x.shape[1:])) < amount
    salt = (to_tensor(rng.uniform(1, x.shape[1:])) < 0.5).float()
    return torch.where(flipped, salt, x)


def speckle_noise(x: Tensor, sigma: float, rng: CounterRandom) -> Tensor:
    return x + x * sigma * to_tensor(rng.normal(0, x.shape[1:]))



FUNCTIONS: dict[str, CorruptionFunction] = {
    "gaussian_noise": gaussian_noise,
    "shot_noise": shot_noise,
    "impulse_noise": impulse_noise,
    "speckle_noise": speckle_noise,
}
