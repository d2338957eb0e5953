"""The build's tasks: picklable jobs and results, and the pure functions an executor runs.

A task is a function of arrays, configs and checkpoint bytes (no database, no files), so that it
runs the same in this process or on a Ray worker (see ``core.executors``):

- :func:`train_model_task` trains a dense model, prunes (and retrains) a dense parent, or
  searches an MPT mask, for one :class:`ModelJob`; it returns a :class:`TrainedModel`.
- :func:`evaluate_task` evaluates one model (:class:`ModelWeights`) on one benchmark: features →
  geometry → ``sample_metrics`` rows; it returns an :class:`EvaluationResult`.
"""

from __future__ import annotations

import hashlib
import io
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

from . import store
from .experiment import ArchSpec
from .features import evaluate_geometry, head_parameters
from .models import load_state_dict_file, model_from_config
from .train import fit, seed_everything, to_input

__all__ = ["ModelJob", "TrainedModel", "ModelWeights", "EvaluationResult", "train_model_task",
           "evaluate_task", "state_to_bytes", "state_from_bytes", "model_summary"]


def state_to_bytes(model: torch.nn.Module) -> bytes:
    """``torch.save(model.state_dict())`` as bytes (CPU tensors)."""
    buffer = io.BytesIO()
    torch.save({k: v.cpu() for k, v in model.state_dict().items()}, buffer)
    return buffer.getvalue()


def state_from_bytes(state: bytes) -> dict[str, torch.Tensor]:
    """The state dict of :func:`state_to_bytes`' bytes (CPU tensors, ``weights_only``)."""
    return torch.load(io.BytesIO(state), map_location="cpu", weights_only=True)


def model_summary(model: torch.nn.Module) -> dict:
    """The ``models`` columns measured on the stored weights: sparsity (fraction of prunable
    weights that are zero), params_total, params_nonzero, feature_dim (m)."""
    from .pruning import sparsity

    measured, total, nonzero = sparsity(model)
    return dict(sparsity=measured, params_total=total, params_nonzero=nonzero,
                feature_dim=head_parameters(model)[0].shape[1])


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


@dataclass(frozen=True)
class TrainedModel:
    state: bytes                # state dict, see `state_to_bytes`
    summary: dict               # see `model_summary`
    seconds: float              # wall time of the task


def train_model_task(job: ModelJob, images: np.ndarray, labels: np.ndarray,
                     dense_state: bytes | None = None, *, device: str = "cpu",
                     progress: bool = False) -> TrainedModel:
    """Train (dense), prune (+ retrain) a dense parent, or search an MPT mask.

    ``images``: uint8 training images (N, H, W) or (N, H, W, C); ``labels``: (N,) class ids;
    ``dense_state``: the dense parent's state dict bytes (pruning methods only).
    """
    from .pruning import make_pruned_model

    t0 = time.perf_counter()
    x = to_input(images).to(device)
    y = torch.as_tensor(labels).to(device)
    spec = job.spec
    if job.method == "dense":
        seed_everything(job.seed)
        model = model_from_config(job.config).to(device)
        fit(model, x, y, epochs=spec.epochs, lr=spec.lr, optimizer=spec.optimizer,
            batch_size=spec.batch_size, weight_decay=spec.weight_decay, seed=job.seed,
            progress=progress, desc=f"train {spec.label}", loss=spec.loss or "ce")
    elif job.method == "mpt":
        # MPT never uses trained weights: a fresh (wider) network supplies the shape.
        model = make_pruned_model(
            model_from_config(job.config).to(device), "mpt", job.ratio, x=x, y=y,
            seed=job.seed, mpt_epochs=job.mpt_epochs, lr=job.mpt_lr, progress=progress)
    else:
        if dense_state is None:
            raise ValueError(f"{job.model_id}: method {job.method!r} needs `dense_state`, the "
                             "dense parent's weights.")
        base = model_from_config(job.config)
        base.load_state_dict(state_from_bytes(dense_state))
        model = make_pruned_model(
            base.to(device).eval(), job.method, job.ratio, x=x, y=y, seed=job.seed,
            retrain_epochs=job.retrain_epochs if job.retrained else 0, lr=job.retrain_lr,
            progress=progress)
    model = model.cpu().eval()
    return TrainedModel(state_to_bytes(model), model_summary(model), time.perf_counter() - t0)


@dataclass(frozen=True)
class ModelWeights:
    """A model to evaluate: its registry config and state dict bytes; ``digest`` identifies both."""

    model_id: str
    config: str
    state: bytes
    digest: str

    @classmethod
    def of(cls, model_id: str, config: str, model: torch.nn.Module) -> "ModelWeights":
        state = state_to_bytes(model)
        return cls(model_id, config, state, hashlib.sha256(config.encode() + state).hexdigest())

    @classmethod
    def from_checkpoint(cls, model_id: str, config: str, checkpoint: str | Path) -> "ModelWeights":
        # Validated load (plain state dict, weights_only), then canonical bytes for the tasks.
        model = model_from_config(config)
        model.load_state_dict(load_state_dict_file(checkpoint))
        return cls.of(model_id, config, model)


@dataclass(frozen=True)
class EvaluationResult:
    metrics: pa.Table           # `sample_metrics` rows, see `store.metrics_table`
    evaluation: dict            # the `evaluations` row without its key
    features: np.ndarray | None  # (N, m) float32 head inputs, when asked for


# One model is evaluated on many benchmarks in a row; rebuilding it for each would cost more than
# the evaluation for large networks. One entry: the model of the previous task in this process.
_LOADED: dict[tuple[str, str], torch.nn.Module] = {}


def _loaded_model(weights: ModelWeights, device: str) -> torch.nn.Module:
    key = (weights.digest, device)
    if key not in _LOADED:
        _LOADED.clear()
        model = model_from_config(weights.config)
        model.load_state_dict(state_from_bytes(weights.state))
        _LOADED[key] = model.to(device).eval()
    return _LOADED[key]


def evaluate_task(weights: ModelWeights, benchmark_id: str, images: np.ndarray,
                  labels: np.ndarray, sample_ids: np.ndarray, *, keep_features: bool = False,
                  device: str = "cpu") -> EvaluationResult:
    """Evaluate one model on one benchmark: features → geometry → metrics.

    ``images``: uint8 (N, H, W) or (N, H, W, C); ``labels`` and ``sample_ids``: (N,).
    """
    model = _loaded_model(weights, device)
    geo, features = evaluate_geometry(model, to_input(images).to(device), labels)
    metrics = store.metrics_table(weights.model_id, benchmark_id, sample_ids, labels, geo)
    correct = np.asarray(metrics["correct"])
    evaluation = dict(n=len(correct), accuracy=float(correct.mean()),
                      mean_angle=float(np.nanmean(geo["angle"].numpy())),
                      mean_l2=float(geo["l2"].mean()),
                      mean_margin=float(np.nanmean(geo["margin"].numpy())),
                      mean_prob=float(geo["prob"].mean()))
    return EvaluationResult(metrics, evaluation, features if keep_features else None)
