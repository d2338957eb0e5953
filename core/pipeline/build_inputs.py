"""What a build reads and checks before it writes anything: the training set, the evaluation
subset of the test split (:class:`BuildData`), every benchmark's images (generated corruptions,
cached under ``<cache>/corrupted/``, or a pre-made ``-C`` directory), and whether an existing
database fits the experiment at all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import store
from ..corruption_names import benchmark_id
from ..data import Dataset, evaluation_subset, load_dataset
from ..store import builds as store_builds
from ..train import config_hash
from .experiment import Experiment
from .plan import BuildPlan, DataShape, subset_fingerprint

__all__ = ["BuildData", "load_build_data", "benchmark_images", "subset_key",
           "check_database_fits"]


@dataclass(frozen=True)
class BuildData:
    """The data of one build: the training set, the test split and its evaluation subset."""

    train: Dataset
    test: Dataset               # the whole test split (pre-made benchmark sets cover all of it)
    sample_ids: np.ndarray      # (n,) indices of the evaluation subset in the test split
    images: np.ndarray          # (n, H, W) or (n, H, W, C) uint8 clean evaluation images
    labels: np.ndarray          # (n,) their classes

    @property
    def height(self) -> int:
        return self.test.images.shape[1]

    @property
    def width(self) -> int:
        return self.test.images.shape[2]

    @property
    def channels(self) -> int:
        return 1 if self.test.images.ndim == 3 else self.test.images.shape[3]

    @property
    def shape(self) -> DataShape:
        return DataShape(num_classes=len(self.test.class_names), in_channels=self.channels,
                         input_size=self.height)


def load_build_data(e: Experiment) -> BuildData:
    """The training set (stratified to ``train_limit`` when set) and the seeded, stratified
    evaluation subset of the test split."""
    train = load_dataset(e.dataset, split="train", root=e.root)
    test = load_dataset(e.dataset, split="test", root=e.root)
    if e.train_limit:
        keep = evaluation_subset(train.labels, seed=e.seed,
                                 n_per_class=max(1, e.train_limit // len(train.class_names)))
        train = Dataset(train.images[keep], train.labels[keep], train.class_names)
    sample_ids = evaluation_subset(test.labels, n_per_class=e.n_per_class, seed=e.subset_seed)
    return BuildData(train, test, sample_ids, test.images[sample_ids], test.labels[sample_ids])


def subset_key(e: Experiment) -> str:
    """Names the cache folder of the corrupted sets of one evaluation subset."""
    return config_hash(dict(dataset=e.dataset, root=e.root, n=e.n_per_class, seed=e.subset_seed,
                            corruption_seed=e.seed))


def benchmark_images(e: Experiment, data: BuildData, *, cache: Path,
                     progress: bool = True) -> dict[str, np.ndarray]:
    """Images (n, H, W[, C]) uint8 of every benchmark, by benchmark id (``clean`` first)."""
    from .. import corruptions

    n = len(data.sample_ids)
    if e.benchmark_source == "generated":
        directory = corruptions.generate_benchmark_set(
            data.images, sample_ids=data.sample_ids, seed=e.seed, labels=data.labels,
            corruptions=e.corruptions, cache_dir=Path(cache) / "corrupted" / subset_key(e),
            progress=progress)
        arrays = corruptions.load_c_directory(directory, clean_labels=data.labels,
                                              corruptions=e.corruptions)
    else:
        full = corruptions.load_c_directory(Path(e.benchmark_path), clean_labels=data.test.labels,
                                            corruptions=e.corruptions,
                                            image_shape=data.test.images.shape[1:])
        # Pre-made sets cover the whole test split: keep the evaluation subset of each block.
        index = (np.arange(5)[:, None] * len(data.test.labels) + data.sample_ids[None, :]).ravel()
        arrays = {name: arr[index] for name, arr in full.items()}
    images = {"clean": data.images}
    for corruption, array in arrays.items():
        for s in e.severities:
            images[benchmark_id(corruption, s)] = corruptions.severity_block(array, s, n)
    return images


def check_database_fits(e: Experiment, data: BuildData, plan: BuildPlan, *,
                        source: Path | None, db_path: Path) -> None:
    """Refuse, before any work, a database that does not fit this experiment: another
    dataset or evaluation subset, or planned model ids registered by ``add-model``."""
    if source is None:
        return
    con = store.connect(source, read_only=True)
    try:
        if not store.table_exists(con, "dataset_info"):
            return
        existing = store_builds.dataset_row(con)
        if existing is None:
            return
        n_eval = len(data.sample_ids)
        if existing["dataset"] != e.dataset or int(existing["n_eval"]) != n_eval:
            raise ValueError(
                f"Database {db_path} holds dataset {existing['dataset']!r} with "
                f"{int(existing['n_eval'])} evaluation samples; this experiment uses "
                f"{e.dataset!r} with {n_eval}. Use another --db.")
        recorded = (store_builds.build_fingerprint(con, "evaluation_subset")
                    if store.table_exists(con, "build_fingerprints") else None)
        wanted = subset_fingerprint(e, n_eval)
        stored_ids = store_builds.evaluation_sample_ids(con)
        if (recorded is not None and recorded != wanted) or (
                recorded is None and stored_ids is not None
                and not np.array_equal(stored_ids, np.sort(data.sample_ids))):
            held = (f"the evaluation subset of {_subset_words(recorded)}" if recorded
                    else "another evaluation subset")
            raise ValueError(
                f"Database {db_path} holds {held}; this experiment uses "
                f"{_subset_words(wanted)}. Use another --db.")
        users = {m for m, row in store_builds.registered_models(con).items()
                 if row.source == "user"}
        taken = sorted(users & {job.model_id for job in plan.models})
        if taken:
            raise ValueError(
                f"Database {db_path} holds model(s) {taken} registered by add-model; "
                "this experiment builds models of the same id(s). Register them under "
                "another --model-id, or use another --db.")
    finally:
        con.close()


def _subset_words(fingerprint: str) -> str:
    s = json.loads(fingerprint)
    return (f"{s['dataset']} with subset_seed {s['subset_seed']} and n_per_class "
            f"{s['n_per_class']} ({s['n_eval']} images)")
