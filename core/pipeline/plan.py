"""What a build makes, as a pure function of the experiment and the dataset's shape: the model
jobs (dense, pruned, MPT) with their ids, fingerprints and dense parents, the benchmarks, and the
(model, benchmark) pairs to evaluate. No I/O: the builder compares the plan with the database.

A model's *fingerprint* is everything that produced it, as canonical JSON: the training data,
the architecture config, the training recipe (dense), the pruning method and ratio, the
retraining settings (retrained models), the MPT settings (MPT), and the hash of its dense
parent's fingerprint (pruned models). A stored model whose fingerprint differs from the plan's is
rebuilt; :func:`describe_change` says why.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from ..corruption_names import benchmark_id, category_of
from ..model_configs import arch_config
from .experiment import GRID_FIELDS, MPT_FIELDS, ArchSpec, Experiment

__all__ = ["ModelJob", "DataShape", "BenchmarkRow", "BuildPlan", "plan_build", "guide_jobs",
           "model_job", "model_id_for", "dense_parent", "checkpoint_key", "evaluation_pairs",
           "model_fingerprint", "subset_fingerprint", "describe_change"]

PARENTLESS_METHODS = ("dense", "mpt")   # dense trains from scratch, MPT from a fresh network


@dataclass(frozen=True)
class ModelJob:
    """One model to build: everything its task needs besides the training data."""

    model_id: str
    spec: ArchSpec
    width: float
    method: str                 # "dense", "mpt" or a pruning score method
    ratio: float
    retrained: bool
    config: str                 # ``arch_config`` JSON
    seed: int
    retrain_epochs: float
    retrain_lr: float
    mpt_epochs: float
    mpt_lr: float
    registered: bool = True     # False: a dense parent rebuilt only for its pruned children
    fingerprint: str = ""       # everything that produced the model, see core.pipeline.plan
    taylor2_probes: int = 4     # Hutchinson probes per scoring batch (method taylor2 only)


def model_id_for(arch: str, width: float, method: str, ratio: float, retrained: bool,
                 seed: int) -> str:
    """``lenet5-magnitude-r0.5-rt-s0``: architecture (with ``x{width}`` unless 1), method, ratio,
    ``-rt`` when retrained, seed.

    The ratio keeps one decimal when that is exact (``r0.5``, the ids of earlier builds) and
    otherwise as many as it needs (``r0.95``), so different ratios never share an id.
    """
    name = arch if width == 1 else f"{arch}x{width:g}"
    ratio = float(ratio)
    shown = f"{ratio:.1f}" if float(f"{ratio:.1f}") == ratio else repr(ratio)
    return f"{name}-{method}-r{shown}{'-rt' if retrained else ''}-s{seed}"


def _canonical(settings: dict) -> str:
    return json.dumps(settings, sort_keys=True, separators=(",", ":"))


def _digest(fingerprint: str) -> str:
    return hashlib.sha256(fingerprint.encode()).hexdigest()[:16]


def model_fingerprint(experiment: Experiment, job: ModelJob, parent: ModelJob | None = None
                      ) -> str:
    """Canonical JSON of everything that produces ``job``'s weights (see the module docstring).
    ``parent``: the dense model a pruned ``job`` starts from (its fingerprint set)."""
    # Real-valued settings as floats: `epochs = 3` and `epochs = 3.0` are the same recipe.
    e, spec = experiment, job.spec
    settings = dict(dataset=e.dataset, train_limit=e.train_limit, seed=job.seed,
                    arch_config=json.loads(job.config), method=job.method,
                    ratio=float(job.ratio))
    if job.method == "dense":
        settings.update(epochs=float(spec.epochs), lr=float(spec.lr), optimizer=spec.optimizer,
                        batch_size=spec.batch_size, weight_decay=float(spec.weight_decay))
        if spec.loss is not None:
            settings.update(loss=spec.loss)
    elif job.method == "mpt":
        settings.update(mpt_epochs=float(job.mpt_epochs), mpt_lr=float(job.mpt_lr))
    else:
        if parent is None or not parent.fingerprint:
            raise ValueError(f"{job.model_id}: a pruned model's fingerprint needs its dense "
                             "parent's.")
        settings.update(retrained=job.retrained,
                        parent=f"{parent.model_id}@{_digest(parent.fingerprint)}")
        if job.retrained:
            settings.update(retrain_epochs=float(job.retrain_epochs),
                            retrain_lr=float(job.retrain_lr))
        if job.method == "taylor2":
            settings.update(taylor2_probes=job.taylor2_probes)
    return _canonical(settings)


def subset_fingerprint(experiment: Experiment, n_eval: int) -> str:
    """Canonical JSON of what picks the evaluation subset: dataset, images per class, seed and
    the resulting size."""
    e = experiment
    return _canonical(dict(dataset=e.dataset, n_per_class=e.n_per_class,
                           subset_seed=e.subset_seed, n_eval=int(n_eval)))


def _flat(settings: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in settings.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _shown(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def describe_change(old: str | None, new: str) -> str:
    """What differs between two fingerprints, for the log: ``epochs 8 → 9, lr 0.01 → 0.02``;
    ``dense parent lenet5-dense-r0.0-s0 changed``; ``no fingerprint recorded``."""
    if not old:
        return "no fingerprint recorded (built by an earlier version)"
    before, after = _flat(json.loads(old)), _flat(json.loads(new))
    parts = []
    for key in sorted(before.keys() | after.keys()):
        a, b = before.get(key, "unset"), after.get(key, "unset")
        if a == b:
            continue
        if key == "parent":
            parts.append(f"dense parent {str(b).split('@')[0]} changed")
        else:
            parts.append(f"{key} {_shown(a)} → {_shown(b)}")
    return ", ".join(parts) or "fingerprint changed"


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


def _or(own, default):
    """An [[arch]] entry's own setting, or the experiment's when the entry leaves it unset."""
    return default if own is None else own


def model_job(e: Experiment, shape: DataShape, spec: ArchSpec, width: float, method: str,
              ratio: float, retrained: bool, *, registered: bool = True) -> ModelJob:
    """The job of one model of ``spec`` in ``e``'s grid (or outside it, e.g. a seed population's
    models): its config, id, recipe and fingerprint (over its dense parent's for a pruned one)."""
    config = arch_config(spec.arch, in_channels=shape.in_channels,
                         num_classes=shape.num_classes, width=width, input_size=shape.input_size,
                         feature_dim=spec.feature_dim)
    job = ModelJob(
        model_id=model_id_for(spec.label, width, method, ratio, retrained, e.seed),
        spec=spec, width=width, method=method, ratio=ratio, retrained=retrained, config=config,
        seed=e.seed, retrain_epochs=e.retrain_epochs, retrain_lr=e.retrain_lr,
        mpt_epochs=_or(spec.mpt_epochs, e.mpt_epochs), mpt_lr=_or(spec.mpt_lr, e.mpt_lr),
        registered=registered,
        taylor2_probes=e.taylor2_probes)
    parent = None
    if method not in PARENTLESS_METHODS:
        parent = model_job(e, shape, spec, spec.width, "dense", 0.0, False, registered=False)
    return dataclasses.replace(job, fingerprint=model_fingerprint(e, job, parent))


def plan_build(experiment: Experiment, shape: DataShape) -> BuildPlan:
    """The models and benchmarks of ``experiment`` on a dataset of ``shape``.

    Per architecture: the dense model, then every method × retrained × ratio, then (when MPT is
    enabled) MPT at every MPT ratio on a network ``mpt_width`` times wider (an [[arch]] entry may
    set its own ``mpt_width``, ``mpt_epochs`` and ``mpt_lr``).
    """
    e = experiment
    grid = []
    for spec in e.archs:
        # An [[arch]] entry may choose its own grid; unset keys fall back to the experiment's.
        methods, ratios, retrain, mpt, mpt_ratios = (
            e_value if s_value is None else s_value
            for s_value, e_value in ((spec.methods, e.methods), (spec.ratios, e.ratios),
                                     (spec.retrain, e.retrain), (spec.mpt, e.mpt),
                                     (spec.mpt_ratios, e.mpt_ratios)))
        grid.append((spec, spec.width, "dense", 0.0, False))
        for method in methods:
            for retrained in retrain:
                grid += [(spec, spec.width, method, r, retrained) for r in ratios]
        if mpt:
            mpt_width = spec.width * _or(spec.mpt_width, e.mpt_width)
            grid += [(spec, mpt_width, "mpt", r, False) for r in mpt_ratios]
    models = tuple(model_job(e, shape, *g) for g in grid) + guide_jobs(e, shape)
    seen: set[str] = set()
    for job in models:
        if job.model_id in seen:
            raise ValueError(f"The experiment plans two models with the id {job.model_id!r}: "
                             "two [[arch]] entries (or ratios) describe the same model.")
        seen.add(job.model_id)
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
        job = ModelJob(
            model_id=model_id_for(spec.label, spec.width, "dense", 0.0, False, e.seed),
            spec=spec, width=spec.width, method="dense", ratio=0.0, retrained=False,
            config=config, seed=e.seed, retrain_epochs=e.retrain_epochs,
            retrain_lr=e.retrain_lr, mpt_epochs=e.mpt_epochs, mpt_lr=e.mpt_lr)
        jobs.append(dataclasses.replace(job, fingerprint=model_fingerprint(e, job)))
    return tuple(jobs)


def dense_parent(experiment: Experiment, shape: DataShape, job: ModelJob) -> ModelJob:
    """The dense model a pruned ``job`` starts from (a job that is built, not registered, when
    its checkpoint is missing)."""
    return model_job(experiment, shape, job.spec, job.spec.width, "dense", 0.0, False,
                      registered=False)


def checkpoint_key(experiment: Experiment, job: ModelJob) -> dict:
    """What a model's checkpoint depends on (hashed into its file name): the training data, the
    architecture config, the training recipe and the job; pruning settings for pruned models."""
    e = experiment
    # Spec fields added later are left out while unset, so older checkpoints keep their names;
    # the grid fields choose models, they do not change how one is made.
    spec = {k: v for k, v in asdict(job.spec).items()
            if not (k in ("feature_dim", "loss") and v is None)
            and k not in GRID_FIELDS + MPT_FIELDS}
    key = dict(experiment_data=(e.dataset, e.train_limit), arch=job.config,
               spec=spec, method=job.method, ratio=job.ratio,
               retrained=job.retrained, seed=job.seed)
    if job.method != "dense":
        key.update(retrain_epochs=e.retrain_epochs, retrain_lr=e.retrain_lr,
                   # Pruned models keep the experiment's [mpt] in their key, as before
                   # architectures could set their own recipe: their names stay the same.
                   mpt=(job.mpt_epochs, job.mpt_lr) if job.method == "mpt"
                   else (e.mpt_epochs, e.mpt_lr))
    if job.method == "taylor2":
        # The Hutchinson criterion replaced an empirical-Fisher one under the same name: the
        # probe count keeps its checkpoints apart from those of the old criterion.
        key.update(taylor2_probes=job.taylor2_probes)
    return key


def evaluation_pairs(model_ids: Iterable[str], benchmark_ids: Iterable[str]
                     ) -> list[tuple[str, str]]:
    """Every (model_id, benchmark_id), grouped by model in the given orders."""
    return list(itertools.product(model_ids, benchmark_ids))
