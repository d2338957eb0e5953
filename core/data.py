"""Datasets as plain arrays: ``Dataset(images uint8 (N,H,W) or (N,H,W,3), labels int64 (N,), class_names)``.

Nothing is ever downloaded. Fashion-MNIST comes from the Debian package ``dataset-fashion-mnist``
(``/usr/share/datasets/fashion-mnist``) or a given root; MNIST, CIFAR-10/100 and ImageFolder trees
come from a user-given root in torchvision's standard on-disk formats. A missing or malformed
dataset raises ``DatasetError`` naming the path looked at and the layout expected.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import shutil
from pathlib import Path
from typing import NamedTuple

import numpy as np

__all__ = ["Dataset", "DatasetError", "DATASETS", "SPLIT_SIZES", "load_dataset",
           "evaluation_subset", "FASHION_MNIST_SYSTEM_DIR"]

FASHION_MNIST_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                         "Sneaker", "Bag", "Ankle boot")
_IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
              "t10k-labels-idx1-ubyte")


class DatasetError(ValueError):
    """A dataset is missing or does not have the expected on-disk layout."""


class Dataset(NamedTuple):
    images: np.ndarray        # uint8 (N, H, W) grey or (N, H, W, 3) colour
    labels: np.ndarray        # int64 (N,)
    class_names: tuple[str, ...]


def _check_split(split: str) -> bool:
    if split not in ("train", "test"):
        raise ValueError(f"`split` must be 'train' or 'test'. Got {split!r} instead.")
    return split == "train"


def _load_idx(root: Path, folder: str, split: str, class_names) -> Dataset:
    """MNIST-style idx files in ``root/<folder>/raw`` via torchvision (download=False)."""
    import torchvision

    train = _check_split(split)
    raw = root / folder / "raw"
    layout = (f"{raw}/{{{','.join(_IDX_FILES)}}} (uncompressed idx files; .gz files there are "
              "unpacked automatically)")
    if not raw.is_dir():
        raise DatasetError(f"{folder} not found: directory {raw} does not exist. Expected {layout}.")
    _gunzip_missing(raw, raw)
    missing = [name for name in _IDX_FILES if not (raw / name).is_file()]
    if missing:
        raise DatasetError(f"{folder} incomplete: {', '.join(str(raw / m) for m in missing)} "
                           f"missing. Expected {layout}.")
    cls = torchvision.datasets.FashionMNIST if folder == "FashionMNIST" else torchvision.datasets.MNIST
    try:
        ds = cls(str(root), train=train, download=False)
    except (RuntimeError, ValueError, TypeError, IndexError, AssertionError) as exc:
        raise DatasetError(f"{folder} files in {raw} are malformed or truncated ({exc}). "
                           f"Expected {layout}.") from exc
    images = ds.data.numpy().astype(np.uint8)
    labels = ds.targets.numpy().astype(np.int64)
    if images.ndim != 3 or len(images) != len(labels):
        raise DatasetError(f"{folder} files in {raw} disagree: {images.shape} images vs "
                           f"{labels.shape} labels. Expected {layout}.")
    return Dataset(images, labels, tuple(class_names))


def _gunzip_missing(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for name in _IDX_FILES:
        gz, out = src / f"{name}.gz", dst / name
        if gz.is_file() and not out.is_file():
            tmp = out.with_suffix(".partial")
            try:
                with gzip.open(gz, "rb") as fin, open(tmp, "wb") as fout:
                    shutil.copyfileobj(fin, fout)
            except (OSError, EOFError) as exc:
                tmp.unlink(missing_ok=True)
                raise DatasetError(f"{gz} is not a valid gzip file ({exc}).") from exc
            tmp.replace(out)


def _fashion_root(root: Path | None) -> Path:
    """With no root, unpack the Debian package's files into the cache once."""
    if root is not None:
        return root
    cache_root = Path(os.environ.get("ROBUSTNESS_CACHE", "cache")) / "data"
    if not (cache_root / "FashionMNIST" / "raw" / _IDX_FILES[0]).is_file():
        if not FASHION_MNIST_SYSTEM_DIR.is_dir():
            raise DatasetError(
                f"Fashion-MNIST not found: {FASHION_MNIST_SYSTEM_DIR} does not exist. Install the "
                "Debian package `dataset-fashion-mnist` (apt-get install dataset-fashion-mnist), or "
                "pass a root holding FashionMNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte.")
        _gunzip_missing(FASHION_MNIST_SYSTEM_DIR, cache_root / "FashionMNIST" / "raw")
    return cache_root


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles CIFAR batch files: dicts, lists, bytes and numpy arrays only — no code."""

    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
                ("numpy._core.multiarray", "scalar"), ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only arrays are allowed")


def _read_cifar_batch(path: Path, layout: str) -> dict:
    if not path.is_file():
        raise DatasetError(f"CIFAR file {path} does not exist. Expected {layout}.")
    try:
        with open(path, "rb") as f:
            return _ArrayUnpickler(io.BytesIO(f.read()), encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
        raise DatasetError(f"CIFAR file {path} is truncated or malformed ({exc}). "
                           f"Expected {layout}.") from exc


def _load_cifar(root: Path, split: str, *, hundred: bool) -> Dataset:
    train = _check_split(split)
    folder = root / ("cifar-100-python" if hundred else "cifar-10-batches-py")
    if hundred:
        files, meta, label_key, names_key = (["train"] if train else ["test"]), "meta", \
            "fine_labels", "fine_label_names"
    else:
        files = [f"data_batch_{i}" for i in range(1, 6)] if train else ["test_batch"]
        meta, label_key, names_key = "batches.meta", "labels", "label_names"
    layout = (f"{folder}/{{{','.join(files + [meta])}}} (torchvision's python pickle format: dicts "
              f"with 'data' uint8 (N, 3072) and '{label_key}')")
    if not folder.is_dir():
        raise DatasetError(f"CIFAR-{100 if hundred else 10} not found: directory {folder} does "
                           f"not exist. Expected {layout}.")
    images, labels = [], []
    for name in files:
        batch = _read_cifar_batch(folder / name, layout)
        try:
            data = np.asarray(batch["data"], dtype=np.uint8)
            lab = np.asarray(batch[label_key], dtype=np.int64)
        except KeyError as exc:
            raise DatasetError(f"CIFAR file {folder / name} lacks key {exc}. Expected {layout}.")
        if data.ndim != 2 or data.shape[1] != 3072 or len(data) != len(lab):
            raise DatasetError(f"CIFAR file {folder / name}: data has shape {data.shape} for "
                               f"{len(lab)} labels. Expected {layout}.")
        images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        labels.append(lab)
    names = _read_cifar_batch(folder / meta, layout).get(names_key)
    if names is None:
        raise DatasetError(f"CIFAR file {folder / meta} lacks key '{names_key}'. Expected {layout}.")
    return Dataset(np.ascontiguousarray(np.concatenate(images)), np.concatenate(labels),
                   tuple(str(n) for n in names))


def _load_image_folder(root: Path, split: str) -> Dataset:
    import torchvision

    _check_split(split)
    folder = root / split
    layout = f"{folder}/<class name>/<image files> (torchvision ImageFolder, all images one size)"
    if not folder.is_dir():
        raise DatasetError(f"ImageFolder not found: directory {folder} does not exist. "
                           f"Expected {layout}.")
    try:
        ds = torchvision.datasets.ImageFolder(str(folder))
    except (FileNotFoundError, RuntimeError) as exc:
        raise DatasetError(f"ImageFolder {folder}: {exc}. Expected {layout}.") from exc
    arrays = []
    for path, _ in ds.samples:
        try:
            arrays.append(np.asarray(ds.loader(path).convert("RGB"), dtype=np.uint8))
        except OSError as exc:
            raise DatasetError(f"Image {path} cannot be read ({exc}).") from exc
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise DatasetError(f"ImageFolder {folder}: images have different sizes {sorted(shapes)}; "
                           "resize them to one size first.")
    _check_same_classes(root, split, ds.classes)
    return Dataset(np.stack(arrays), np.asarray(ds.targets, dtype=np.int64), tuple(ds.classes))


def _check_same_classes(root: Path, split: str, classes: list[str]) -> None:
    """Label ids are positions in the sorted class list: train and test must list the same
    classes, or the same id would name different classes in the two splits."""
    other = root / ("test" if split == "train" else "train")
    if not other.is_dir():
        return
    other_classes = sorted(p.name for p in other.iterdir() if p.is_dir())
    if other_classes != list(classes):
        only_here = sorted(set(classes) - set(other_classes))
        only_there = sorted(set(other_classes) - set(classes))
        raise DatasetError(
            f"ImageFolder {root}: {root / split} and {other} must hold the same class folders. "
            f"Only in {split}: {only_here or 'none'}; only in {other.name}: {only_there or 'none'}.")


DATASETS = ("fashion_mnist", "mnist", "cifar10", "cifar100", "imagefolder")
# Images in the train split, and in the largest class of the test split, of each dataset of fixed
# size (an image folder's are only known once it is read): the most an experiment's
# `train_limit` and `n_per_class` can take.
SPLIT_SIZES = {"fashion_mnist": (60_000, 1_000), "mnist": (60_000, 1_135),
               "cifar10": (50_000, 1_000), "cifar100": (50_000, 100)}


def load_dataset(name: str, *, split: str = "test", root: str | os.PathLike | None = None
                 ) -> Dataset:
    """Load a dataset split as arrays.

    Args:
        name: one of ``DATASETS``.
        split: "train" or "test".
        root: directory holding the dataset in torchvision's layout (``FashionMNIST/raw``,
            ``MNIST/raw``, ``cifar-10-batches-py``, ``cifar-100-python``, ``<split>/<class>/``).
            Optional for Fashion-MNIST (the Debian package's files are used).
    """
    root_path = None if root is None else Path(root)
    if name == "fashion_mnist":
        return _load_idx(_fashion_root(root_path), "FashionMNIST", split, FASHION_MNIST_CLASSES)
    if name not in DATASETS:
        raise ValueError(f"`name` must be one of {', '.join(DATASETS)}. Got {name!r} instead.")
    if root_path is None:
        raise DatasetError(f"Dataset {name!r} needs a root directory (it cannot be downloaded "
                           "here); pass root=<directory in torchvision's layout>.")
    if name == "mnist":
        return _load_idx(root_path, "MNIST", split, [str(i) for i in range(10)])
    if name in ("cifar10", "cifar100"):
        return _load_cifar(root_path, split, hundred=name == "cifar100")
    return _load_image_folder(root_path, split)


def evaluation_subset(labels: np.ndarray, *, n_per_class: int, seed: int = 0) -> np.ndarray:
    """Stratified, seeded subset: sorted indices into the split (the stable ``sample_id``).

    Takes ``min(n_per_class, class size)`` samples of every class.
    """
    if n_per_class < 1:
        raise ValueError(f"`n_per_class` must be >= 1. Got {n_per_class} instead.")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    # One random key per sample, then the n smallest keys within each class: no loop over samples.
    keys = rng.random(len(labels))
    order = np.lexsort((keys, labels))
    sorted_labels = labels[order]
    starts = np.searchsorted(sorted_labels, sorted_labels, side="left")
    rank = np.arange(len(labels)) - starts
    return np.sort(order[rank < n_per_class])
