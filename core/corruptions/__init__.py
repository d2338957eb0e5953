"""CIFAR-10-C style common corruptions (19 types × 5 severities), batched and deterministic.

Re-implements the algorithms of Hendrycks & Dietterich's CIFAR-10-C generation script with the
CIFAR-10-C severity parameters (see docs/corruptions.md, Severity parameters);
``params="imagenet"`` instead delegates, image by image, to the ``imagecorruptions`` package
(ImageNet-C parameters, images of at least 32 px).

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

Modules: ``parameters`` (the severity table), ``noise``, ``blur``, ``weather``, ``digital`` (the
19 algorithms, each module's deliberate deviations from the reference script in its docstring),
``apply`` (``corrupt``), ``imagenet`` (ImageNet-C delegation), ``benchmark_sets`` (-C
directories); ``_random`` (counter-based random numbers) and ``_ops`` (shared filters,
resampling and colour conversions) are internal.
"""

# Names and categories live in a light module, so that importing them does not load this package.
from ..corruption_names import CATEGORY, CORRUPTIONS
from .apply import corrupt
from .benchmark_sets import generate_benchmark_set, load_c_directory, severity_block
from .parameters import CIFAR_PARAMETERS, NON_MONOTONE_SEVERITIES, SEVERITIES

__all__ = ["CORRUPTIONS", "CATEGORY", "SEVERITIES", "CIFAR_PARAMETERS", "NON_MONOTONE_SEVERITIES",
           "corrupt", "generate_benchmark_set", "load_c_directory", "severity_block"]
