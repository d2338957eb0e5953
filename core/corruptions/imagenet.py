"""ImageNet-C parameters: delegation, image by image, to the ``imagecorruptions`` package
(imagecorruptions-imaug); see docs/corruptions.md, ImageNet-C parameters."""

from __future__ import annotations

import imagecorruptions
import numpy as np
from PIL import Image

from ._ops import LUMA
from ._random import CounterRandom


def corrupt_imagenet(images: np.ndarray, corruption: str, severity: int,
                     sample_ids: np.ndarray, seed: int) -> np.ndarray:
    """``imagecorruptions.corruption_dict[corruption]`` on each image (uint8 (N, H, W[, 3])).

    Each image gets its own numpy seed, the low 32 bits of its counter-based key, so outputs
    do not depend on the batch; numpy's global random state is restored afterwards. Grey images
    are replicated to RGB and brought back by luma; NaN becomes the clean pixel; results are
    clipped and rounded to uint8.
    """
    function = imagecorruptions.corruption_dict[corruption]
    image_seeds = CounterRandom(seed, corruption, severity, sample_ids).keys % np.uint64(2**32)
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
                    result = result @ np.array(LUMA) if result.ndim == 3 else result
                out[i] = np.round(np.clip(result, 0, 255)).astype(np.uint8)
    finally:
        np.random.set_state(saved_state)
    return out
