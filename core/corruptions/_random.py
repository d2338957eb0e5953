"""Counter-based random numbers for the corruptions (see docs/corruptions.md, Determinism).

Every number is a splitmix64 hash of (seed, corruption, severity, sample id, stream, element
index), so a sample's draws do not depend on the other samples of its batch.
"""

from __future__ import annotations

import math

import numpy as np

from ..corruption_names import CORRUPTIONS

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


class CounterRandom:
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
