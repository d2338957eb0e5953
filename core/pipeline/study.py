"""The curse-of-dimensionality study (see docs/analysis.md, Dimension angles): LeNet-5 with
its penultimate width m swept, each measured freshly initialised and after a short training.

For every width m the study seeds the generator, builds a LeNet-5 with ``feature_dim = m`` —
the same seed gives every width the same convolutions and first linear layer, so only the
layers around the swept width differ — and measures the angle of each clean evaluation sample's
feature to its true class direction (the ``angle`` of docs/geometry.md): first untrained, then
after ``epochs`` of training on a stratified subset of the training split. Each measurement
becomes one row (kind, dim, mean, std, model_id, accuracy).

Study models are not registered in ``models``: they would otherwise join the population's
families. The build stage (:func:`update_dimension_study`) writes the rows to the
``dimension_study`` table in one transaction and skips when the fingerprint of the settings and
the data is unchanged; the analysis step copies them into ``dimension_angles`` beside the random
vectors.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass

import duckdb
import numpy as np
import pandas as pd
import torch

from ..analysis import trained_dimension_angles
from ..data import Dataset, evaluation_subset
from ..features import evaluate_geometry
from ..models import LeNet5
from ..store import analysis as queries
from ..store import replace_rows
from ..train import fit, seed_everything, to_input
from .executors import Executor, LocalExecutor, Task, collect
from .experiment import ArchSpec, Experiment

__all__ = ["StudySettings", "STUDY_COLUMNS", "study_settings", "study_fingerprint",
           "study_width_task", "run_dimension_study", "update_dimension_study"]

logger = logging.getLogger(__name__)

STUDY_COLUMNS = ["kind", "dim", "mean", "std", "model_id", "accuracy"]
# The name under which the study's fingerprint is kept in ``analysis_state``.
_STATE_NAME = "dimension_study"


@dataclass(frozen=True)
class StudySettings:
    """What the study trains: the widths m and the training recipe of every study model.

    ``train_limit`` is the size of the stratified training subset (0: the whole training data
    the study is given); ``epochs`` may be fractional.
    """

    widths: tuple[int, ...] = (8, 16, 32, 84, 256, 512)
    epochs: float = 1.0
    train_limit: int = 10000
    lr: float = 0.01
    optimizer: str = "sgd"
    batch_size: int = 128
    weight_decay: float = 5e-4
    seed: int = 0

    def __post_init__(self):
        if not self.widths or any(isinstance(m, bool) or int(m) != m or m < 1
                                  for m in self.widths):
            raise ValueError(f"`widths` must be a non-empty list of positive integers. "
                             f"Got {list(self.widths)} instead.")
        if len(set(self.widths)) != len(self.widths):
            raise ValueError(f"`widths` must not repeat a width. Got {list(self.widths)} instead.")
        if not self.epochs > 0:
            raise ValueError(f"`epochs` must be > 0. Got {self.epochs} instead.")
        if self.train_limit < 0:
            raise ValueError(f"`train_limit` must be >= 0. Got {self.train_limit} instead.")


def study_settings(experiment: Experiment) -> StudySettings:
    """The study settings of an experiment: its ``[dimension_study]`` widths, epochs and
    training subset, the optimiser recipe of its first LeNet-5 ``[[arch]]`` (defaults when it
    has none) and its seed."""
    spec = next((a for a in experiment.archs if a.arch == "lenet5"), ArchSpec())
    return StudySettings(
        widths=tuple(int(m) for m in experiment.dimension_study_widths),
        epochs=float(experiment.dimension_study_epochs),
        train_limit=int(experiment.dimension_study_train_limit), lr=spec.lr,
        optimizer=spec.optimizer, batch_size=spec.batch_size, weight_decay=spec.weight_decay,
        seed=experiment.seed)


def _study_train_set(train: Dataset, settings: StudySettings) -> Dataset:
    if not settings.train_limit or settings.train_limit >= len(train.labels):
        return train
    keep = evaluation_subset(train.labels, seed=settings.seed,
                             n_per_class=max(1, settings.train_limit // len(train.class_names)))
    return Dataset(train.images[keep], train.labels[keep], train.class_names)


def study_fingerprint(settings: StudySettings, train: Dataset, images: np.ndarray,
                      labels: np.ndarray) -> str:
    """md5 of the settings and of the data the study reads (its training subset, the clean
    evaluation images and labels): equal fingerprints give equal rows."""
    digest = hashlib.md5(json.dumps(asdict(settings), sort_keys=True).encode())
    subset = _study_train_set(train, settings)
    for array in (subset.images, subset.labels, images, labels):
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _angle_rows(model: LeNet5, x: torch.Tensor, labels: np.ndarray, *, kind: str,
                model_id: str, width: int) -> pd.DataFrame:
    geometry, _ = evaluate_geometry(model, x, labels)
    angles = pd.DataFrame({"model_id": model_id, "angle": geometry["angle"].numpy()})
    rows = trained_dimension_angles(angles, pd.DataFrame({"model_id": [model_id],
                                                          "feature_dim": [width]}), kind=kind)
    return rows.assign(accuracy=float((geometry["pred"].numpy() == labels).mean()))


def study_width_task(width: int, train_images: np.ndarray, train_labels: np.ndarray,
                     images: np.ndarray, labels: np.ndarray, settings: StudySettings,
                     num_classes: int) -> pd.DataFrame:
    """One width m of the study (a task an executor runs): the untrained and the trained row.
    ``train_images``: the study's training subset, uint8 (N, H, W[, C]); ``images``: the clean
    evaluation images, labels (n,)."""
    x_train, y_train = to_input(train_images), torch.tensor(train_labels).long()
    x_eval, labels = to_input(np.ascontiguousarray(images)), np.array(labels)
    # The same seed for every width: the layers before the swept one start identical.
    seed_everything(settings.seed)
    model = LeNet5(in_channels=x_train.shape[1], num_classes=num_classes,
                   input_size=x_train.shape[2], feature_dim=int(width))
    untrained = _angle_rows(model, x_eval, labels, kind="untrained", width=width,
                            model_id=f"lenet5-m{width}-untrained-study")
    fit(model, x_train, y_train, epochs=settings.epochs, lr=settings.lr,
        optimizer=settings.optimizer, batch_size=settings.batch_size,
        weight_decay=settings.weight_decay, seed=settings.seed, progress=False,
        desc=f"study m={width}")
    trained = _angle_rows(model, x_eval, labels, kind="trained", width=width,
                          model_id=f"lenet5-m{width}-trained-study")
    return pd.concat([untrained, trained], ignore_index=True)


def run_dimension_study(train: Dataset, images: np.ndarray, labels: np.ndarray,
                        settings: StudySettings, *, executor: Executor | None = None
                        ) -> pd.DataFrame:
    """Run the study: untrained and trained LeNet-5 at every width of ``settings``.

    Args:
        train: the training data (uint8 images (N, H, W) or (N, H, W, C), labels (N,)); the
            study trains on its stratified ``train_limit`` subset.
        images: (n, H, W[, C]) uint8 clean evaluation images; labels: (n,) their classes.
        settings: the widths and training recipe.
        executor: runs one task per width (default: this process, one after another); the
            rows do not depend on where a width ran.

    Returns:
        One row per (kind in {'untrained', 'trained'}, width): ``dim`` = m, ``mean`` and ``std``
        (ddof 1) in degrees of the angle of each evaluation sample's feature to its true class
        direction (samples with a zero feature have no angle and are left out), ``model_id`` =
        ``lenet5-m{m}-{kind}-study`` (no ``models`` row), ``accuracy`` on the evaluation samples
        (fraction). Columns ``STUDY_COLUMNS``, sorted by (kind, dim).
    """
    executor = executor or LocalExecutor()
    subset = _study_train_set(train, settings)
    shared = (executor.put(np.ascontiguousarray(subset.images)),
              executor.put(np.ascontiguousarray(subset.labels)),
              executor.put(np.ascontiguousarray(images)), executor.put(np.asarray(labels)))
    tasks = (Task(width, f"dimension study m={width}", study_width_task,
                  (width, *shared, settings, len(train.class_names)))
             for width in settings.widths)
    rows = pd.concat(collect(executor, tasks).values(), ignore_index=True)[STUDY_COLUMNS]
    return rows.sort_values(["kind", "dim"], ignore_index=True)


def update_dimension_study(con: duckdb.DuckDBPyConnection, experiment: Experiment,
                           train: Dataset, images: np.ndarray, labels: np.ndarray, *,
                           executor: Executor | None = None) -> bool:
    """The build stage: run the study of ``experiment`` into the ``dimension_study`` table.

    Skipped (returns False) when the study is disabled or its fingerprint (settings + data) is
    the one recorded for the stored rows. Otherwise the rows replace the table's in one
    transaction and the fingerprint is recorded after it, so a crash in between only costs a
    rerun of the study, never rows marked current that are not. Returns whether it wrote.
    """
    if not experiment.dimension_study:
        return False
    settings = study_settings(experiment)
    fingerprint = study_fingerprint(settings, train, images, labels)
    if queries.stored_fingerprints(con).get(_STATE_NAME) == fingerprint:
        logger.info("dimension study: skipped (settings and data unchanged)")
        return False
    start = time.perf_counter()
    rows = run_dimension_study(train, images, labels, settings, executor=executor)
    replace_rows(con, "dimension_study", rows)
    seconds = time.perf_counter() - start
    queries.record_fingerprint(con, _STATE_NAME, fingerprint, seconds)
    logger.info("dimension study: %d widths in %.1f s", len(settings.widths), seconds)
    return True
