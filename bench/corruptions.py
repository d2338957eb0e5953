"""Speed of core.corruptions against imagecorruptions-imaug's per-image ``corrupt``.

Workloads:
1. CIFAR-like: N colour 32×32 images × 19 corruptions × 5 severities (default N = 10,000);
   the library corrupts a subset of ``--library-n`` images per corruption and severity.
2. The demo: 1,000 grey 28×28 images × 95 sets (ours); the library needs >= 32 px, so it is timed
   on the same images padded to 32×32 and stacked to 3 channels (as the
   reference 45 s figure for the library was; see docs/corruptions.md, Speed).

Speeds are per image and severity; ratios are library time / our time (> 1: we are faster).
The library runs on one core; ``--torch-threads`` (default 1) makes the comparison one core each.
Run: ``.venv/bin/python bench/corruptions.py [--n 10000] [--library-n 200]``.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.corruptions import CORRUPTIONS, SEVERITIES, corrupt  # noqa: E402


def structured_images(n: int, size: int, colour: bool, seed: int = 0) -> np.ndarray:
    """Smooth random gratings with a bright rectangle and mild pixel noise, uint8."""
    rng = np.random.default_rng(seed)
    channels = 3 if colour else 1
    grid = np.linspace(0, 1, size, dtype=np.float32)
    freq = rng.uniform(1, 4, (n, channels, 2, 1, 1)).astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi, (n, channels, 2, 1, 1)).astype(np.float32)
    image = 0.5 + 0.25 * (np.sin(2 * np.pi * freq[:, :, 0] * grid[None, None, None, :]
                                 + phase[:, :, 0])
                          * np.cos(2 * np.pi * freq[:, :, 1] * grid[None, None, :, None]
                                   + phase[:, :, 1]))
    top, left = rng.integers(0, size // 2, (2, n))
    rows, cols = np.arange(size)[None, :], np.arange(size)[None, :]
    box = (((rows >= top[:, None]) & (rows < top[:, None] + size // 3))[:, :, None]
           & ((cols >= left[:, None]) & (cols < left[:, None] + size // 3))[:, None, :])
    image = image + 0.3 * box[:, None] + rng.normal(0, 0.02, image.shape)
    image = np.clip(image * 255, 0, 255).astype(np.uint8)
    return image.transpose(0, 2, 3, 1) if colour else image[:, 0]


def time_ours(images: np.ndarray) -> dict[str, float]:
    """Seconds to make all 5 severities of each corruption for the whole batch."""
    seconds = {}
    ids = np.arange(images.shape[0])
    for name in CORRUPTIONS:
        start = time.perf_counter()
        for severity in SEVERITIES:
            corrupt(images, name, severity, sample_ids=ids)
        seconds[name] = time.perf_counter() - start
    return seconds


def time_library(images: np.ndarray) -> dict[str, float]:
    """Seconds for the library's per-image calls, all 5 severities, after one warm-up call
    per corruption (glass_blur's first call compiles numba code)."""
    from imagecorruptions import corrupt as library_corrupt

    seconds = {}
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for name in CORRUPTIONS:
            library_corrupt(images[0], corruption_name=name, severity=1)
            start = time.perf_counter()
            for severity in SEVERITIES:
                for image in images:
                    library_corrupt(image, corruption_name=name, severity=severity)
            seconds[name] = time.perf_counter() - start
    return seconds


def report(title: str, ours: dict[str, float], n_ours: int, library: dict[str, float],
           n_library: int) -> None:
    print(f"\n{title}")
    print(f"{'corruption':20s} {'ours µs/img':>12s} {'library µs/img':>15s} {'ratio':>7s}")
    per_image = 1e6 / len(SEVERITIES)
    for name in CORRUPTIONS:
        mine, theirs = ours[name] / n_ours * per_image, library[name] / n_library * per_image
        print(f"{name:20s} {mine:12.1f} {theirs:15.1f} {theirs / mine:7.1f}")
    mine = sum(ours.values()) / n_ours * per_image
    theirs = sum(library.values()) / n_library * per_image
    print(f"{'all 19':20s} {mine:12.1f} {theirs:15.1f} {theirs / mine:7.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="colour 32×32 images (ours)")
    parser.add_argument("--library-n", type=int, default=200,
                        help="images per corruption and severity for the library")
    parser.add_argument("--grey-n", type=int, default=1_000, help="grey 28×28 images (demo)")
    parser.add_argument("--torch-threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.torch_threads)

    colour = structured_images(args.n, 32, colour=True)
    corrupt(colour[:8], "frost", 1)  # load the frost textures once, outside the timings
    ours = time_ours(colour)
    library = time_library(colour[:args.library_n])
    total = sum(ours.values())
    print(f"Ours: {args.n} colour 32×32 images × 95 sets in {total:.1f} s"
          + (f" (extrapolated to 10,000: {total * 10_000 / args.n:.1f} s)"
             if args.n != 10_000 else ""))
    print(f"Library: {args.library_n} images per set in {sum(library.values()):.1f} s, "
          f"extrapolated to {args.n} images: "
          f"{sum(library.values()) * args.n / args.library_n:.1f} s")
    report("Colour 32×32, per image and severity", ours, args.n, library, args.library_n)

    grey = structured_images(args.grey_n, 28, colour=False, seed=1)
    ours_grey = time_ours(grey)
    library_n = min(args.library_n, args.grey_n)
    padded = np.repeat(np.pad(grey[:library_n], ((0, 0), (2, 2), (2, 2)), mode="edge")[..., None],
                       3, axis=3)
    library_grey = time_library(padded)
    grey_total = sum(ours_grey.values())
    library_total = sum(library_grey.values()) * args.grey_n / library_n
    print(f"\nDemo: {args.grey_n} grey 28×28 images × 95 sets in {grey_total:.1f} s (ours); "
          f"library on them padded to 32×32 RGB, extrapolated from {library_n}: "
          f"{library_total:.1f} s; ratio {library_total / grey_total:.1f}")
    report("Grey 28×28 (library: 32×32 RGB), per image and severity", ours_grey, args.grey_n,
           library_grey, library_n)


if __name__ == "__main__":
    main()
