"""What a build makes, as a pure function of the experiment and the dataset's shape: the model
jobs (dense, pruned, MPT) with their ids and dense parents, the benchmarks, and the
(model, benchmark) pairs to evaluate. No I/O: the builder compares the plan with the database.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from .corruption_names import benchmark_id, category_of
from .experiment import ArchSpec, Experiment
from .models import arch_config
from .tasks import ModelJob

__all__ = ["DataShape", "BenchmarkRow", "BuildPlan", "plan_build", "guide_jobs", "model_id_for",
           "dense_parent", "checkpoint_key", "evaluation_pairs"]

PARENTLESS_METHODS = ("dense", "mpt")   # dense trains from scratch, MPT from a fresh network


def model_id_for(arch: str, width: float, method: str, ratio: float, retrained: bool,
                 seed: int) -> str:
    """``lenet5-magnitude-r0.5-rt-s0``: architecture (with ``x{width}`` unless 1), method, ratio,
    ``-rt`` when retrained, seed."""
    name = arch if width == 1 else f"{arch}x{width:g}"
    return f"{name}-{method}-r{ratio:.1f}{'-rt' if retrained else ''}-s{seed}"


@dataclass(frozen=True)
class DataShape:
    """What the models' configs need to know about the dataset."""

    num_classes: int
    in_channels: int
    input_size: int             # image height (= width) in pixels


@dataclass(frozen=True)
class BenchmarkRow:
    """One ``benchmarks`` row: ``clean`` (severity 0) or a corruption at a severity 1..5."""

    benchmark_id: str
    corruption: str
    severity: int

    @property
    def category(self) -> str:
        return category_of(self.corruption)


@dataclass(frozen=True)
class BuildPlan:
    """Everything an experiment builds, in build order."""

    models: tuple[ModelJob, ...]            # the registered models
    benchmarks: tuple[BenchmarkRow, ...]    # clean first, then corruption × severity

    @property
    def benchmark_ids(self) -> list[str]:
        return [b.benchmark_id for b in self.benchmarks]

    @property
    def evaluation_pairs(self) -> list[tuple[str, str]]:
        """(model_id, benchmark_id) of every planned model on every benchmark."""
        return evaluation_pairs([job.model_id for job in self.models], self.benchmark_ids)


def _model_job(e: Experiment, shape: DataShape, spec: ArchSpec, width: float, method: str,
               ratio: float, retrained: bool, *, registered: bool = True) -> ModelJob:
    config = arch_config(spec.arch, in_channels=shape.in_channels,
                         num_classes=shape.num_classes, width=width, input_size=shape.input_size,
                         feature_dim=spec.feature_dim)
    return ModelJob(
        model_id=model_id_for(spec.label, width, method, ratio, retrained, e.seed),
        spec=spec, width=width, method=method, ratio=ratio, retrained=retrained, config=config,
        seed=e.seed, retrain_epochs=e.retrain_epochs, retrain_lr=e.retrain_lr,
        mpt_epochs=e.mpt_epochs, mpt_lr=e.mpt_lr, registered=registered)


def plan_build(experiment: Experiment, shape: DataShape) -> BuildPlan:
    """The models and benchmarks of ``experiment`` on a dataset of ``shape``.

    Per architecture: the dense model, then every method × retrained × ratio, then (when MPT is
    enabled) MPT at every MPT ratio on a network ``mpt_width`` times wider.
    """
    e = experiment
    grid = []
    for spec in e.archs:
        grid.append((spec, spec.width, "dense", 0.0, False))
        for method in e.methods:
            for retrained in e.retrain:
                grid += [(spec, spec.width, method, r, retrained) for r in e.ratios]
        if e.mpt:
            grid += [(spec, spec.width * e.mpt_width, "mpt", r, False) for r in e.mpt_ratios]
    models = tuple(_model_job(e, shape, *g) for g in grid) + guide_jobs(e, shape)
    benchmarks = (BenchmarkRow("clean", "clean", 0),) + tuple(
        BenchmarkRow(benchmark_id(c, s), c, s) for c in e.corruptions for s in e.severities)
    return BuildPlan(models, benchmarks)


def guide_jobs(experiment: Experiment, shape: DataShape) -> tuple[ModelJob, ...]:
    """The Guide's dense models (``[guide]``, empty unless enabled): each loss on LeNet-5 with
    a linear ``feature_dim``-D feature layer and on LeNet-5 at its normal width."""
    e = experiment
    if not e.guide.enabled:
        return ()
    jobs = []
    for spec in e.guide.arch_specs():
        config = arch_config(spec.arch, in_channels=shape.in_channels,
                             num_classes=shape.num_classes, width=spec.width,
                             input_size=shape.input_size, feature_dim=spec.feature_dim,
                             linear_features=True if spec.feature_dim is not None else None)
        jobs.append(ModelJob(
            model_id=model_id_for(spec.label, spec.width, "dense", 0.0, False, e.seed),
            spec=spec, width=spec.width, method="dense", ratio=0.0, retrained=False,
            config=config, seed=e.seed, retrain_epochs=e.retrain_epochs,
            retrain_lr=e.retrain_lr, mpt_epochs=e.mpt_epochs, mpt_lr=e.mpt_lr))
    return tuple(jobs)


def dense_parent(experiment: Experiment, shape: DataShape, job: ModelJob) -> ModelJob:
    """The dense model a pruned ``job`` starts from (a job that is built, not registered, when
    its checkpoint is missing)."""
    return _model_job(experiment, shape, job.spec, job.spec.width, "dense", 0.0, False,
                      registered=False)


def checkpoint_key(experiment: Experiment, job: ModelJob) -> dict:
    """What a model's checkpoint depends on (hashed into its file name): the training data, the
    architecture config, the training recipe and the job; pruning settings for pruned models."""
    e = experiment
    # Spec fields added later are left out while unset, so older checkpoints keep their names.
    spec = {k: v for k, v in asdict(job.spec).items()
            if not (k in ("feature_dim", "loss") and v is None)}
    key = dict(experiment_data=(e.dataset, e.train_limit), arch=job.config,
               spec=spec, method=job.method, ratio=job.ratio,
               retrained=job.retrained, seed=job.seed)
    if job.method != "dense":
        key.update(retrain_epochs=e.retrain_epochs, retrain_lr=e.retrain_lr,
                   mpt=(e.mpt_epochs, e.mpt_lr))
    return key


def evaluation_pairs(model_ids: Iterable[str], benchmark_ids: Iterable[str]
                     ) -> list[tuple[str, str]]:
    """Every (model_id, benchmark_id), grouped by model in the given orders."""
    return list(itertools.product(model_ids, benchmark_ids))
