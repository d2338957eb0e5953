import gzip
import pickle
import struct

import numpy as np
import pytest

from core.data import DatasetError, evaluation_subset, load_dataset


def write_idx(folder, prefix, images, labels, *, gz=False):
    folder.mkdir(parents=True, exist_ok=True)
    img = struct.pack(">IIII", 0x0803, len(images), *images.shape[1:]) + images.tobytes()
    lab = struct.pack(">II", 0x0801, len(labels)) + labels.astype(np.uint8).tobytes()
    for name, blob in ((f"{prefix}-images-idx3-ubyte", img), (f"{prefix}-labels-idx1-ubyte", lab)):
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(blob))
        else:
            (folder / name).write_bytes(blob)


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (12, 28, 28), dtype=np.uint8), np.arange(12) % 10


@pytest.mark.parametrize("name, folder", [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
@pytest.mark.parametrize("gz", [False, True])
def test_idx_formats_round_trip(tmp_path, images, name, folder, gz):
    x, y = images
    for prefix in ("train", "t10k"):
        write_idx(tmp_path / folder / "raw", prefix, x, y, gz=gz)
    ds = load_dataset(name, split="test", root=tmp_path)
    assert ds.images.dtype == np.uint8 and ds.images.shape == (12, 28, 28)
    np.testing.assert_array_equal(ds.images, x)
    np.testing.assert_array_equal(ds.labels, y)
    assert ds.labels.dtype == np.int64 and len(ds.class_names) == 10


def test_truncated_idx_file_is_rejected(tmp_path, images):
    x, y = images
    raw = tmp_path / "MNIST" / "raw"
    write_idx(raw, "train", x, y)
    write_idx(raw, "t10k", x, y)
    blob = (raw / "t10k-images-idx3-ubyte").read_bytes()
    (raw / "t10k-images-idx3-ubyte").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DatasetError, match="malformed or truncated"):
        load_dataset("mnist", split="test", root=tmp_path)


def test_missing_dataset_names_path_and_layout(tmp_path):
    with pytest.raises(DatasetError, match=r"MNIST/raw does not exist.*t10k-images-idx3-ubyte"):
        load_dataset("mnist", root=tmp_path)
    (tmp_path / "MNIST" / "raw").mkdir(parents=True)
    with pytest.raises(DatasetError, match=r"incomplete: .*train-images-idx3-ubyte.* missing"):
        load_dataset("mnist", root=tmp_path)
    with pytest.raises(DatasetError, match="cifar-10-batches-py does not exist"):
        load_dataset("cifar10", root=tmp_path)
    with pytest.raises(DatasetError, match="needs a root"):
        load_dataset("cifar100")
    with pytest.raises(ValueError, match="`name` must be one of"):
        load_dataset("imagenet", root=tmp_path)


def write_cifar(root, *, hundred=False, n=6):
    rng = np.random.default_rng(1)
    folder = root / ("cifar-100-python" if hundred else "cifar-10-batches-py")
    folder.mkdir(parents=True)
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    labels = list(range(n))
    key = "fine_labels" if hundred else "labels"
    names_key = "fine_label_names" if hundred else "label_names"
    batches = ["train", "test"] if hundred else [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in batches:
        with open(folder / name, "wb") as f:
            pickle.dump({"data": data, key: labels}, f)
    with open(folder / ("meta" if hundred else "batches.meta"), "wb") as f:
        pickle.dump({names_key: [f"c{i}" for i in range(100 if hundred else 10)]}, f)
    return folder, data, labels


@pytest.mark.parametrize("hundred", [False, True])
def test_cifar_pickle_format(tmp_path, hundred):
    _, data, labels = write_cifar(tmp_path, hundred=hundred)
    ds = load_dataset("cifar100" if hundred else "cifar10", split="test", root=tmp_path)
    assert ds.images.shape == (6, 32, 32, 3) and ds.images.dtype == np.uint8
    # CIFAR rows are channel-major: the red plane comes first.
    np.testing.assert_array_equal(ds.images[0, :, :, 0].ravel(), data[0, :1024])
    assert ds.labels.tolist() == labels
    assert len(ds.class_names) == (100 if hundred else 10)
    train = load_dataset("cifar100" if hundred else "cifar10", split="train", root=tmp_path)
    assert len(train.labels) == (6 if hundred else 30)


def test_cifar_truncated_and_hostile_pickles_are_refused(tmp_path):
    folder, _, _ = write_cifar(tmp_path)
    blob = (folder / "test_batch").read_bytes()
    (folder / "test_batch").write_bytes(blob[:100])
    with pytest.raises(DatasetError, match="test_batch is truncated or malformed"):
        load_dataset("cifar10", root=tmp_path)

    class Payload:
        def __reduce__(self):
            return (print, ("pwned",))

    with open(folder / "test_batch", "wb") as f:
        pickle.dump({"data": Payload()}, f)
    with pytest.raises(DatasetError, match="refusing to load builtins.print"):
        load_dataset("cifar10", root=tmp_path)


def test_image_folder(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(2)
    for cls in ("cat", "dog"):
        (tmp_path / "test" / cls).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(
                tmp_path / "test" / cls / f"{i}.png")
    ds = load_dataset("imagefolder", split="test", root=tmp_path)
    assert ds.images.shape == (6, 16, 16, 3)
    assert ds.class_names == ("cat", "dog") and ds.labels.tolist() == [0, 0, 0, 1, 1, 1]
    with pytest.raises(DatasetError, match="train does not exist"):
        load_dataset("imagefolder", split="train", root=tmp_path)


def test_evaluation_subset_is_stratified_seeded_and_sorted():
    labels = np.repeat(np.arange(4), [10, 3, 7, 20])
    ids = evaluation_subset(labels, n_per_class=5, seed=3)
    assert np.all(np.diff(ids) > 0)
    assert np.bincount(labels[ids]).tolist() == [5, 3, 5, 5]
    np.testing.assert_array_equal(ids, evaluation_subset(labels, n_per_class=5, seed=3))
    assert not np.array_equal(ids, evaluation_subset(labels, n_per_class=5, seed=4))
    with pytest.raises(ValueError, match="`n_per_class` must be >= 1"):
        evaluation_subset(labels, n_per_class=0)


def test_fashion_mnist_from_the_debian_package(tmp_path, monkeypatch):
    from core.data import FASHION_MNIST_SYSTEM_DIR

    if not FASHION_MNIST_SYSTEM_DIR.is_dir():
        pytest.skip("dataset-fashion-mnist is not installed (the README's set-up installs it)")
    monkeypatch.setenv("ROBUSTNESS_CACHE", str(tmp_path))
    ds = load_dataset("fashion_mnist", split="test")
    assert ds.images.shape == (10_000, 28, 28) and np.bincount(ds.labels).tolist() == [1000] * 10
    assert ds.class_names[0] == "T-shirt/top"


def test_image_folder_train_and_test_must_list_the_same_classes(tmp_path):
    from PIL import Image

    for split, classes in (("train", ("cat", "dog")), ("test", ("cat", "fox"))):
        for cls in classes:
            (tmp_path / split / cls).mkdir(parents=True)
            Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / split / cls / "0.png")
    with pytest.raises(DatasetError, match=r"same class folders. Only in test: \['fox'\]; "
                                           r"only in train: \['dog'\]"):
        load_dataset("imagefolder", split="test", root=tmp_path)
