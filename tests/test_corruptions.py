"""Tests of core.corruptions: the 19 CIFAR-10-C corruptions and -C benchmark directories.

Reference computations: the CIFAR-10-C script's per-image code (skimage, scipy, OpenCV, PIL) for
the deterministic corruptions, imagecorruptions' motion blur, PIL's JPEG codec, and statistics.
"""

from __future__ import annotations

import io
import re

import cv2
import numpy as np
import pytest
import skimage
import torch
from imagecorruptions.corruptions import _motion_blur as library_motion_blur
from imagecorruptions.corruptions import _shuffle_pixels_njit_glass_blur as library_glass_shuffle
from numba import njit
from PIL import Image
from scipy.ndimage import zoom as scipy_zoom

from core.corruptions import (CATEGORY, CIFAR_PARAMETERS, CORRUPTIONS, NON_MONOTONE_SEVERITIES,
                              SEVERITIES, corrupt, generate_benchmark_set, load_c_directory,
                              severity_block)
from core.corruptions import apply, benchmark_sets
from core.corruptions._ops import LUMA, motion_blur_batch
from core.corruptions._random import CounterRandom
from core.corruptions import blur
from core.corruptions.apply import CORRUPTION_FUNCTIONS
from core.corruptions.weather import spatter

# Corruptions without randomness: their output cannot depend on the seed.
SEED_FREE = {"defocus_blur", "zoom_blur", "brightness", "contrast", "pixelate",
             "jpeg_compression", "gaussian_blur", "saturate"}
# A grey pixel has no saturation, and saturate only scales S at these severities
# (see docs/corruptions.md, Grey images).
GREY_UNCHANGED = {("saturate", 1), ("saturate", 2), ("saturate", 3)}
# Per-channel algorithms whose random draws do not depend on the number of channels: a grey
# image must give the first channel of its 3-channel copy.
CHANNELWISE = ("defocus_blur", "glass_blur", "motion_blur", "zoom_blur", "snow", "fog",
               "brightness", "contrast", "elastic_transform", "pixelate", "gaussian_blur")


def structured_images(n: int, size: int, colour: bool, seed: int = 0) -> np.ndarray:
    """Smooth gratings with a bright square: content with both flat areas and edges."""
    rng = np.random.default_rng(seed)
    channels = 3 if colour else 1
    grid = np.linspace(0, 1, size)
    freq = rng.uniform(1, 4, (n, channels, 2, 1, 1))
    phase = rng.uniform(0, 2 * np.pi, (n, channels, 2, 1, 1))
    image = 0.5 + 0.25 * (np.sin(2 * np.pi * freq[:, :, 0] * grid[None, :] + phase[:, :, 0])
                          * np.cos(2 * np.pi * freq[:, :, 1] * grid[:, None] + phase[:, :, 1]))
    image[:, :, size // 4:size // 2, size // 3:2 * size // 3] += 0.3
    image = np.clip(image * 255, 0, 255).astype(np.uint8)
    return image.transpose(0, 2, 3, 1) if colour else image[:, 0]


GREY = structured_images(8, 28, colour=False)
COLOUR = structured_images(8, 32, colour=True, seed=1)
IMAGES = {"grey": GREY, "colour": COLOUR}


def mean_change(corrupted: np.ndarray, clean: np.ndarray) -> float:
    return float(np.abs(corrupted.astype(np.float64) - clean).mean())


# ---------------------------------------------------------------------------------------------
# Names and categories
# ---------------------------------------------------------------------------------------------

def test_names_and_categories_follow_the_spec():
    assert len(CORRUPTIONS) == 19 and len(set(CORRUPTIONS)) == 19
    assert set(CATEGORY) == set(CORRUPTIONS) == set(CIFAR_PARAMETERS)
    counts = {kind: sum(v == kind for v in CATEGORY.values()) for kind in set(CATEGORY.values())}
    assert counts == {"noise": 4, "blur": 5, "weather": 4, "digital": 6}
    assert all(len(values) == 5 for values in CIFAR_PARAMETERS.values())
    assert set(NON_MONOTONE_SEVERITIES) <= set(CORRUPTIONS)


# ---------------------------------------------------------------------------------------------
# Per-corruption properties
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("corruption", CORRUPTIONS)
@pytest.mark.parametrize("kind", ["grey", "colour"])
def test_shape_dtype_change_and_severity_order(corruption, kind):
    images = IMAGES[kind]
    changes = []
    for severity in SEVERITIES:
        out = corrupt(images, corruption, severity)
        assert out.shape == images.shape and out.dtype == np.uint8
        change = mean_change(out, images)
        if kind == "grey" and (corruption, severity) in GREY_UNCHANGED:
            np.testing.assert_array_equal(out, images)
        else:
            assert change > 0.1, f"{corruption} severity {severity} barely changes the image"
        changes.append(change)
    allowed = NON_MONOTONE_SEVERITIES.get(corruption, ())
    for severity in SEVERITIES[1:]:
        if severity not in allowed:
            assert changes[severity - 1] >= changes[severity - 2], (corruption, changes)


@pytest.mark.parametrize("corruption", CORRUPTIONS)
@pytest.mark.parametrize("severity", [3, 5])  # spatter: water at 3, mud at 5
def test_deterministic_and_independent_of_the_batch(corruption, severity):
    ids = np.arange(100, 108)
    full = corrupt(COLOUR, corruption, severity, sample_ids=ids, seed=7)
    np.testing.assert_array_equal(full, corrupt(COLOUR, corruption, severity, sample_ids=ids,
                                                seed=7))
    rows = [3, 7]
    np.testing.assert_array_equal(
        corrupt(COLOUR[rows], corruption, severity, sample_ids=ids[rows], seed=7), full[rows])
    other_seed = corrupt(COLOUR, corruption, severity, sample_ids=ids, seed=8)
    assert np.array_equal(other_seed, full) == (corruption in SEED_FREE)


@pytest.mark.parametrize("corruption", ["glass_blur", "motion_blur", "frost", "shot_noise"])
def test_internal_chunking_does_not_change_results(corruption, monkeypatch):
    whole = corrupt(COLOUR, corruption, 4)
    monkeypatch.setattr(apply, "_CHUNK_VALUES", 3 * 32 * 32 * 3)  # chunks of 3 images
    np.testing.assert_array_equal(corrupt(COLOUR, corruption, 4), whole)


@pytest.mark.parametrize("corruption", CHANNELWISE)
def test_grey_images_match_the_first_channel_of_their_rgb_copy(corruption):
    images = structured_images(4, 32, colour=False, seed=2)
    rgb = np.repeat(images[..., None], 3, axis=3)
    for severity in (2, 5):
        grey = corrupt(images, corruption, severity).astype(int)
        assert np.abs(grey - corrupt(rgb, corruption, severity)[..., 0]).max() <= 1


@pytest.mark.parametrize("corruption", CORRUPTIONS)
def test_no_nan_on_flat_extreme_images(corruption):
    """The float result, before rounding, is finite for black, white and mid-grey images."""
    flat = torch.stack([torch.full((3, 32, 32), v) for v in (0.0, 1.0, 0.5)])
    rng = CounterRandom(0, corruption, 5, np.arange(3))
    for severity in SEVERITIES:
        out = CORRUPTION_FUNCTIONS[corruption](flat, CIFAR_PARAMETERS[corruption][severity - 1],
                                               rng)
        assert torch.isfinite(out).all(), (corruption, severity)


def test_spatter_without_any_liquid_leaves_the_image_unchanged():
    """An all-dry liquid layer made the reference divide 0 by 0 (NaN); here it is no spatter."""
    x = torch.rand(2, 3, 32, 32)
    rng = CounterRandom(0, "spatter", 1, np.arange(2))
    out = spatter(x, (0.0, 0.0, 0.7, 0.7, 0.5, 0), rng)
    torch.testing.assert_close(out, x)


# ---------------------------------------------------------------------------------------------
# Against independent computations
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["grey", "colour"])
def test_gaussian_noise_std_matches_sigma_on_mid_grey(kind):
    shape = (16, 28, 28) if kind == "grey" else (16, 32, 32, 3)
    mid = np.full(shape, 128, np.uint8)
    for severity, sigma in zip(SEVERITIES, CIFAR_PARAMETERS["gaussian_noise"]):
        residual = corrupt(mid, "gaussian_noise", severity).astype(float) - 128
        assert abs(residual.mean()) < 0.05 * sigma * 255
        assert residual.std() == pytest.approx(sigma * 255, rel=0.05)


def test_shot_noise_has_poisson_mean_and_variance():
    mid = np.full((16, 32, 32, 3), 128, np.uint8)
    for severity, rate in zip(SEVERITIES, CIFAR_PARAMETERS["shot_noise"]):
        photons = corrupt(mid, "shot_noise", severity).astype(float) / 255 * rate
        expected = 128 / 255 * rate
        assert photons.mean() == pytest.approx(expected, rel=0.01)
        # rounding to 8 bits adds (rate/255)²/12 to the variance
        assert photons.var() == pytest.approx(expected + (rate / 255) ** 2 / 12, rel=0.05)


def test_impulse_noise_flips_the_stated_fraction_to_black_or_white():
    mid = np.full((16, 32, 32, 3), 128, np.uint8)
    for severity, amount in zip(SEVERITIES, CIFAR_PARAMETERS["impulse_noise"]):
        out = corrupt(mid, "impulse_noise", severity)
        assert set(np.unique(out)) <= {0, 128, 255}
        assert (out != 128).mean() == pytest.approx(amount, rel=0.1)
        assert (out == 255).mean() == pytest.approx(amount / 2, rel=0.15)


@pytest.mark.parametrize("kind", ["grey", "colour"])
def test_jpeg_quality_matches_pil_encoding(kind):
    images = IMAGES[kind]
    for severity, quality in zip(SEVERITIES, CIFAR_PARAMETERS["jpeg_compression"]):
        expected = []
        for image in images:
            buffer = io.BytesIO()
            Image.fromarray(image).save(buffer, "JPEG", quality=quality)
            expected.append(np.asarray(Image.open(buffer)))
        np.testing.assert_array_equal(corrupt(images, "jpeg_compression", severity),
                                      np.stack(expected))


def _script_disk(radius, alias_blur):
    grid = np.arange(-8, 9)
    xx, yy = np.meshgrid(grid, grid)
    disk = ((xx**2 + yy**2) <= radius**2).astype(np.float32)
    disk /= disk.sum()
    return cv2.GaussianBlur(disk, ksize=(3, 3), sigmaX=alias_blur)


def _script_clipped_zoom(image, zoom):
    h = image.shape[0]
    crop = int(np.ceil(h / zoom))
    top = (h - crop) // 2
    image = scipy_zoom(image[top:top + crop, top:top + crop], (zoom, zoom, 1), order=1)
    trim = (image.shape[0] - h) // 2
    return image[trim:trim + h, trim:trim + h]


def _script_zoom_blur(image, max_zoom):
    image = (image / 255).astype(np.float32)
    zooms = np.arange(1, max_zoom, 0.01)
    out = sum(_script_clipped_zoom(image, z) for z in zooms)
    return (image + out) / (len(zooms) + 1) * 255


def _script_hsv(image, channel, scale, shift):
    hsv = skimage.color.rgb2hsv(image / 255)
    hsv[..., channel] = np.clip(hsv[..., channel] * scale + shift, 0, 1)
    return skimage.color.hsv2rgb(hsv) * 255


def _script_pixelate(image, scale):
    side = image.shape[0]
    small = Image.fromarray(image.astype(np.uint8)).resize((int(side * scale),) * 2, Image.Resampling.BOX)
    return np.asarray(small.resize((side, side), Image.Resampling.BOX), dtype=float)


# The CIFAR-10-C script's per-image code for its deterministic corruptions, (H, W, 3) in 0..255.
SCRIPT = {
    "gaussian_blur": lambda im, p: skimage.filters.gaussian(im / 255, sigma=p,
                                                            channel_axis=-1) * 255,
    "defocus_blur": lambda im, p: np.stack([cv2.filter2D(im[..., d] / 255, -1, _script_disk(*p))
                                            for d in range(3)], -1) * 255,
    "zoom_blur": _script_zoom_blur,
    "contrast": lambda im, p: (im - im.mean((0, 1), keepdims=True)) * p
    + im.mean((0, 1), keepdims=True),
    "brightness": lambda im, p: _script_hsv(im, 2, 1, p),
    "saturate": lambda im, p: _script_hsv(im, 1, *p),
    "pixelate": _script_pixelate,
}


@pytest.mark.parametrize("corruption", sorted(SCRIPT))
def test_deterministic_corruptions_match_the_reference_script(corruption):
    for severity in SEVERITIES:
        parameter = CIFAR_PARAMETERS[corruption][severity - 1]
        expected = np.stack([np.round(np.clip(SCRIPT[corruption](im.astype(float), parameter),
                                              0, 255)) for im in COLOUR])
        got = corrupt(COLOUR, corruption, severity).astype(float)
        # float32 here vs float64 there (and PIL's 8-bit passes): at most one grey level
        assert np.abs(got - expected).max() <= 1, (corruption, severity)


def test_motion_blur_matches_the_library_kernel_at_any_angle():
    images = COLOUR.astype(np.float32)
    angles = np.linspace(-135, 45, len(images))
    for radius, sigma in [(6, 1), (9, 2.5), (14, 12)]:  # (14, 12): shifts reach the image size
        ours = motion_blur_batch(torch.from_numpy(images).permute(0, 3, 1, 2), radius, sigma,
                                 angles).permute(0, 2, 3, 1).numpy()
        reference = np.stack([library_motion_blur(im, radius=radius, sigma=sigma, angle=a)
                              for im, a in zip(images, angles)])
        np.testing.assert_allclose(ours, reference, atol=1e-3)


def _hand_offsets(h, w, delta, table):
    """(1, 1, rows, cols, 2) offsets from {(row, col): (dx, dy)}, in the script's sweep order."""
    rows, cols = np.arange(h - delta, delta, -1), np.arange(w - delta, delta, -1)
    return np.array([[[[table[r, c] for c in cols] for r in rows]]])


def test_glass_blur_sweep_copies_the_partner_instead_of_swapping():
    """4×4 pixels holding their own flat index, one sweep over (3,3), (3,2), (2,3), (2,2)."""
    offsets = _hand_offsets(4, 4, 1, {(3, 3): (-1, 0), (3, 2): (0, -1), (2, 3): (0, -1),
                                      (2, 2): (-1, -1)})
    # x[3,3] ← x[3,2] = 14; x[3,2] ← x[2,2] = 10; x[2,3] ← x[1,3] = 7; x[2,2] ← x[1,1] = 5;
    # every partner keeps its value (a true swap would put 15 at (1,1) and 11 at (1,3)).
    expected = [[0, 1, 2, 3],
                [4, 5, 6, 7],
                [8, 9, 5, 7],
                [12, 13, 10, 14]]
    source = blur._glass_source(offsets, 4, 4, 1)
    np.testing.assert_array_equal(source.reshape(4, 4), expected)


def test_glass_blur_sweep_reads_values_copied_earlier_in_the_same_sweep():
    """δ = 2 (offsets in [-2, 2)): a partner to the right or below was overwritten earlier in
    the sweep, and the step takes the value copied there. 6×6 pixels holding their flat index,
    one sweep over (4,4), (4,3), (3,4), (3,3)."""
    offsets = _hand_offsets(6, 6, 2, {(4, 4): (-2, -2), (4, 3): (1, 0), (3, 4): (0, -1),
                                      (3, 3): (1, 1)})
    # x[4,4] ← x[2,2] = 14; x[4,3] ← x[4,4], already 14; x[3,4] ← x[2,4] = 16;
    # x[3,3] ← x[4,4] = 14 (a chain of one copy; the original 28 is gone).
    expected = np.arange(36).reshape(6, 6)
    expected[4, 4], expected[4, 3], expected[3, 4], expected[3, 3] = 14, 14, 16, 14
    np.testing.assert_array_equal(blur._glass_source(offsets, 6, 6, 2).reshape(6, 6), expected)


@njit
def _library_glass_draws(h, w, delta, iterations, seed):
    """The offsets the library's numba shuffle draws for ``seed``: (iterations, h, w, 2)."""
    np.random.seed(seed)
    out = np.zeros((iterations, h, w, 2), np.int64)
    for i in range(iterations):
        for row in range(h - delta, delta, -1):
            for col in range(w - delta, delta, -1):
                dx, dy = np.random.randint(-delta, delta, size=(2,))
                out[i, row, col, 0], out[i, row, col, 1] = dx, dy
    return out


def _library_offsets(h, w, delta, iterations, seeds):
    rows, cols = np.arange(h - delta, delta, -1), np.arange(w - delta, delta, -1)
    return np.stack([_library_glass_draws(h, w, delta, iterations, seed)[:, rows][:, :, cols]
                     for seed in seeds])


@pytest.mark.parametrize("delta, iterations", [(1, 2), (2, 3)])
def test_glass_blur_shuffle_matches_the_library_on_colour_images(delta, iterations):
    """The library's shuffle (the script's loop, numba-compiled) on (H, W, 3) arrays copies like
    the script; fed the same offsets, ours moves every pixel the same way."""
    h = w = 32
    seeds = [3, 4]
    pixel_ids = np.arange(h * w, dtype=np.int64).reshape(h, w, 1).repeat(3, axis=2)
    expected = [library_glass_shuffle(h, w, pixel_ids.copy(), (0.0, delta, iterations),
                                      seed)[..., 0] for seed in seeds]
    ours = blur._glass_source(_library_offsets(h, w, delta, iterations, seeds), h, w, delta)
    np.testing.assert_array_equal(ours.reshape(len(seeds), h, w), np.stack(expected))


def _script_glass_blur(image, params, seed):
    """The reference script's glass blur (the library's shuffle, CIFAR parameters), 0..255."""
    sigma, delta, iterations = params
    x = np.uint8(skimage.filters.gaussian(image / 255, sigma=sigma, channel_axis=-1) * 255)
    x = library_glass_shuffle(*x.shape[:2], x, (sigma, delta, iterations), seed)
    return np.clip(skimage.filters.gaussian(x / 255, sigma=sigma, channel_axis=-1), 0, 1) * 255


def test_glass_blur_matches_the_reference_script_given_its_offsets(monkeypatch):
    seeds = np.arange(len(COLOUR)) + 10
    for severity in SEVERITIES:
        params = CIFAR_PARAMETERS["glass_blur"][severity - 1]
        offsets = _library_offsets(32, 32, params[1], params[2], seeds)
        monkeypatch.setattr(blur, "_glass_offsets", lambda *args: offsets)
        expected = np.stack([np.round(_script_glass_blur(im, params, seed))
                             for im, seed in zip(COLOUR, seeds)])
        difference = np.abs(corrupt(COLOUR, "glass_blur", severity) - expected)
        # the 8-bit step is computed as the script does (float64); the second blur, in float32,
        # moves a value across a rounding boundary now and then
        assert difference.max() <= 1 and (difference > 0).mean() < 0.001, severity


def _script_snow(image, params, layer, angle):
    """The reference script's snow on the given normal layer (H, W) and angle, 0..255. Its
    ImageMagick motion blur is the library's kernel, truncated to 8 bits as ImageMagick's
    output is (see docs/corruptions.md, Deviations from the reference script)."""
    mean, std, zoom, threshold, radius, sigma, blend = params
    layer = _script_clipped_zoom(layer[..., None], zoom)[..., 0]
    layer[layer < threshold] = 0
    layer = (np.clip(layer, 0, 1) * 255).astype(np.uint8)
    blurred = library_motion_blur(layer / 255, radius=radius, sigma=sigma, angle=angle)
    layer = np.floor(blurred * 255)[..., None] / 255
    x = image.astype(np.float32) / 255
    grey = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY)[..., None]
    x = blend * x + (1 - blend) * np.maximum(x, grey * 1.5 + 0.5)
    return np.clip(x + layer + np.rot90(layer, k=2), 0, 1) * 255


def test_snow_matches_the_reference_script_given_its_draws():
    n = len(COLOUR)
    for severity in SEVERITIES:
        params = CIFAR_PARAMETERS["snow"][severity - 1]
        rng = CounterRandom(0, "snow", severity, np.arange(n))
        layers = params[0] + params[1] * rng.normal(0, (32, 32)).astype(np.float64)
        angles = rng.uniform64(1) * 90 - 135
        expected = np.stack([np.round(_script_snow(im, params, layer, angle))
                             for im, layer, angle in zip(COLOUR, layers, angles)])
        difference = np.abs(corrupt(COLOUR, "snow", severity) - expected)
        # float32 here vs float64 there moves a value across a level now and then; rounding the
        # blurred layer instead of truncating it would differ by up to 2 levels in 2-7 % of them
        assert difference.max() <= 1 and (difference > 0).mean() < 0.01, severity


def test_saturate_darkens_grey_images_by_the_luma_of_the_added_red():
    for severity in (4, 5):
        added = CIFAR_PARAMETERS["saturate"][severity - 1][1]
        expected = np.round(GREY * (1 - (1 - LUMA[0]) * added))
        assert np.abs(corrupt(GREY, "saturate", severity) - expected).max() <= 1


def test_imagenet_parameters_delegate_to_the_library():
    mid = np.full((6, 32, 32, 3), 128, np.uint8)
    residual = corrupt(mid, "gaussian_noise", 1, params="imagenet").astype(float) - 128
    assert residual.std() == pytest.approx(0.08 * 255, rel=0.05)  # ImageNet-C σ, not CIFAR's
    grey = structured_images(4, 32, colour=False)
    out = corrupt(grey, "spatter", 3, params="imagenet", sample_ids=[5, 6, 7, 8])
    assert out.shape == grey.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(
        corrupt(grey[[1, 3]], "spatter", 3, params="imagenet", sample_ids=[6, 8]), out[[1, 3]])


# ---------------------------------------------------------------------------------------------
# Argument validation
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("images, kwargs, match", [
    (GREY.astype(np.float32), {}, "uint8"),
    (GREY[:, :20, :20], {}, "at least 28"),
    (GREY, {"params": "imagenet"}, "at least 32"),
    (COLOUR[..., :2], {}, r"\(N, H, W, 3\)"),
    (GREY, {"corruption": "rain"}, "`corruption` must be one of"),
    (GREY, {"severity": 0}, "`severity` must be an integer in 1..5"),
    (GREY, {"seed": -1}, "`seed` must be a non-negative integer"),
    (GREY, {"sample_ids": [1, 2]}, "`sample_ids` must be 8 integers"),
    (GREY, {"params": "tiny"}, "`params` must be"),
])
def test_invalid_arguments_are_rejected(images, kwargs, match):
    arguments = {"corruption": "contrast", "severity": 1, **kwargs}
    with pytest.raises((TypeError, ValueError), match=match):
        corrupt(images, arguments.pop("corruption"), arguments.pop("severity"), **arguments)


# ---------------------------------------------------------------------------------------------
# Generated and pre-made benchmark directories
# ---------------------------------------------------------------------------------------------

SUBSET = ("gaussian_noise", "contrast")
LABELS = np.arange(8) % 3


def test_generated_directory_has_the_c_layout_and_loads(tmp_path):
    ids = np.arange(10, 18)
    root = generate_benchmark_set(GREY, sample_ids=ids, seed=3, cache_dir=tmp_path / "c",
                                  labels=LABELS, corruptions=SUBSET, progress=False)
    np.testing.assert_array_equal(np.load(root / "labels.npy"), np.tile(LABELS, 5))
    arrays = load_c_directory(root, clean_labels=LABELS, corruptions=SUBSET,
                              image_shape=(28, 28))
    for name in SUBSET:
        assert arrays[name].shape == (40, 28, 28) and arrays[name].dtype == np.uint8
        for severity in SEVERITIES:
            np.testing.assert_array_equal(severity_block(arrays[name], severity, 8),
                                          corrupt(GREY, name, severity, sample_ids=ids, seed=3))


def test_generation_reuses_valid_files_and_replaces_broken_ones(tmp_path, monkeypatch):
    ids = np.arange(8)
    root = generate_benchmark_set(GREY, sample_ids=ids, cache_dir=tmp_path, corruptions=SUBSET,
                                  progress=False)
    expected = np.load(root / "contrast.npy")
    (root / "gaussian_noise.npy").write_bytes(b"truncated")
    made = []
    real_corrupt = benchmark_sets.corrupt
    monkeypatch.setattr(benchmark_sets, "corrupt", lambda images, name, *a, **k: made.append(name)
                        or real_corrupt(images, name, *a, **k))
    generate_benchmark_set(GREY, sample_ids=ids, cache_dir=tmp_path, corruptions=SUBSET,
                           progress=False)
    assert set(made) == {"gaussian_noise"}
    np.testing.assert_array_equal(np.load(root / "contrast.npy"), expected)
    assert np.load(root / "gaussian_noise.npy").shape == (40, 28, 28)


def test_generation_for_other_images_regenerates(tmp_path):
    ids = np.arange(8)
    generate_benchmark_set(GREY, sample_ids=ids, cache_dir=tmp_path, corruptions=("contrast",),
                           progress=False)
    other = 255 - GREY
    generate_benchmark_set(other, sample_ids=ids, cache_dir=tmp_path, corruptions=("contrast",),
                           progress=False)
    np.testing.assert_array_equal(severity_block(np.load(tmp_path / "contrast.npy"), 2, 8),
                                  corrupt(other, "contrast", 2))


def test_interrupted_generation_leaves_only_complete_files(tmp_path, monkeypatch):
    real_corrupt = benchmark_sets.corrupt

    def fail_on_contrast(images, name, *args, **kwargs):
        if name == "contrast":
            raise KeyboardInterrupt
        return real_corrupt(images, name, *args, **kwargs)

    monkeypatch.setattr(benchmark_sets, "corrupt", fail_on_contrast)
    with pytest.raises(KeyboardInterrupt):
        generate_benchmark_set(GREY, sample_ids=np.arange(8), cache_dir=tmp_path,
                               corruptions=SUBSET, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fingerprint.json",
                                                          "gaussian_noise.npy"]
    assert np.load(tmp_path / "gaussian_noise.npy").shape == (40, 28, 28)


def test_generation_refuses_a_directory_it_did_not_write(tmp_path):
    np.save(tmp_path / "contrast.npy", np.zeros((40, 28, 28), np.uint8))
    with pytest.raises(ValueError, match="no fingerprint.json"):
        generate_benchmark_set(GREY, sample_ids=np.arange(8), cache_dir=tmp_path,
                               corruptions=("contrast",), progress=False)


def _premade(root, n=4, shape=(32, 32, 3)):
    root.mkdir()
    np.save(root / "labels.npy", np.tile(np.arange(n), 5).astype(np.uint8))
    for name in SUBSET:
        np.save(root / f"{name}.npy", np.zeros((5 * n, *shape), np.uint8))
    return root


@pytest.mark.parametrize("damage, file, match", [
    (lambda r: np.save(r / "contrast.npy", np.zeros((20, 30, 30, 3), np.uint8)), "contrast.npy",
     r"expected uint8 array of shape \(20, 32, 32, 3\) \(5 severities × 4 images\), "
     r"got uint8 array of shape \(20, 30, 30, 3\)"),
    (lambda r: np.save(r / "contrast.npy", np.zeros((20, 32, 32, 3), np.float32)),
     "contrast.npy", "expected uint8 array .* got float32"),
    (lambda r: np.save(r / "contrast.npy", np.zeros((15, 32, 32, 3), np.uint8)), "contrast.npy",
     r"shape \(20, 32, 32, 3\) .* got uint8 array of shape \(15, 32, 32, 3\)"),
    (lambda r: np.save(r / "labels.npy", np.arange(21)), "labels.npy",
     "expected 20 labels .* got 21"),
    (lambda r: np.save(r / "labels.npy", np.tile([0, 1, 2, 0], 5)), "labels.npy",
     "labels of severity 1 differ from the clean labels"),
    (lambda r: (r / "contrast.npy").unlink(), "contrast.npy", "missing"),
])
def test_premade_directory_errors_name_the_file(tmp_path, damage, file, match):
    root = _premade(tmp_path / "CIFAR-10-C")
    load_c_directory(root, clean_labels=np.arange(4), corruptions=SUBSET,
                     image_shape=(32, 32, 3))
    damage(root)
    with pytest.raises((ValueError, FileNotFoundError),
                       match=re.escape(str(root / file)) + ".*" + match):
        load_c_directory(root, clean_labels=np.arange(4), corruptions=SUBSET,
                         image_shape=(32, 32, 3))


def test_premade_directory_without_clean_labels_checks_blocks_agree(tmp_path):
    root = _premade(tmp_path / "c", shape=(28, 28))
    arrays = load_c_directory(root, clean_labels=None, corruptions=SUBSET)
    assert arrays["contrast"].shape == (20, 28, 28)
    labels = np.tile(np.arange(4), 5)
    labels[-1] = 0
    np.save(root / "labels.npy", labels)
    with pytest.raises(ValueError, match="labels of severity 5 differ"):
        load_c_directory(root, clean_labels=None, corruptions=SUBSET)


def test_missing_directory_names_the_expected_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"CIFAR-10-C.*not found.*<corruption>\.npy"):
        load_c_directory(tmp_path / "CIFAR-10-C", clean_labels=None)


def test_severity_block_slices_and_validates():
    array = np.arange(20)
    np.testing.assert_array_equal(severity_block(array, 3, 4), [8, 9, 10, 11])
    with pytest.raises(ValueError, match="`severity` must be an integer in 1..5"):
        severity_block(array, 6, 4)
    with pytest.raises(ValueError, match=r"5·n = 15 images"):
        severity_block(array, 1, 3)
