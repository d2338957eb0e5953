"""Benchmark directories in the CIFAR-10-C layout: generate (with a fingerprinted cache), open and
validate pre-made ones (CIFAR-10-C, CIFAR-100-C), slice severities. See docs/corruptions.md,
Benchmark directories."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from tqdm.auto import tqdm

from ..corruption_names import CORRUPTIONS
from .apply import check_images, check_sample_ids, corrupt
from .parameters import SEVERITIES

_log = logging.getLogger(__name__)

# Bumped whenever an algorithm changes, so that generated caches are invalidated.
_ALGORITHM_VERSION = "cifar-c/2"
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
        _log.info("%s: generated for other images, ids or seed; regenerating.", cache_dir)
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
    images = check_images(images, "cifar")
    n = images.shape[0]
    ids = check_sample_ids(sample_ids, n)
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
            _log.debug("%s: kept from an earlier run.", path)
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
