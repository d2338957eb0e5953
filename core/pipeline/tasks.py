"""The build's tasks: picklable jobs and results, and the pure functions an executor runs.

A task is a function of arrays, configs and checkpoint bytes (no database, no files), so that it
runs the same in this process or on a Ray worker (see ``core.pipeline.executors``):

- :func:`train_model_task` trains a dense model, prunes (and retrains) a dense parent, or
  searches an MPT mask, for one :class:`ModelJob`; it returns a :class:`TrainedModel`.
- :func:`evaluate_model_task` evaluates one model (:class:`ModelWeights`) on many benchmarks at
  once: the images of all of them stream through the network in large batches that cross
  benchmark boundaries, the geometry runs once over every feature, and the ``sample_metrics``
  rows of every benchmark come back as one table; it returns a :class:`ModelEvaluation`, which
  the builder writes in one transaction. The build's evaluate stage runs one per model.
"""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import torch

from .. import store
from ..device import CPU_EVALUATE_BATCH_SIZE, Device, as_device
from ..features import features_and_logits, head_parameters
from ..geometry import compute_geometry
from ..models import model_from_config
from ..train import fit, seed_everything, to_input
from .plan import ModelJob

__all__ = ["TrainedModel", "ModelWeights", "train_model_task", "ModelEvaluation",
           "evaluate_model_task",
           "EVALUATE_BATCH_SIZE", "state_to_bytes", "state_from_bytes", "model_summary"]


def state_to_bytes(model: torch.nn.Module) -> bytes:
    """``torch.save(model.state_dict())`` as bytes (CPU tensors)."""
    buffer = io.BytesIO()
    torch.save({k: v.cpu() for k, v in model.state_dict().items()}, buffer)
    return buffer.getvalue()


def state_from_bytes(state: bytes) -> dict[str, torch.Tensor]:
    """The state dict of :func:`state_to_bytes`' bytes (CPU tensors, ``weights_only``)."""
    return torch.load(io.BytesIO(state), map_location="cpu", weights_only=True)


def model_summary(model: torch.nn.Module, *, latency_of: tuple[torch.nn.Module, torch.Tensor]
                  | None = None) -> dict:
    """The ``models`` columns measured on the stored weights: sparsity (fraction of prunable
    weights that are zero), params_total, params_nonzero, feature_dim (m); with ``latency_of``
    = (reference model, inputs (N, C, H, W)) also latency_ratio, the CPU inference time per
    image relative to the reference (see :func:`core.pruning.latency_ratio`)."""
    from ..pruning import latency_ratio, sparsity

    measured, total, nonzero = sparsity(model)
    summary = dict(sparsity=measured, params_total=total, params_nonzero=nonzero,
                   feature_dim=head_parameters(model)[0].shape[1])
    if latency_of is not None:
        summary["latency_ratio"] = latency_ratio(model, *latency_of)
    return summary


# The models of one dense parent and one score method differ only in ratio and retraining: the
# scores (a Hessian pass for taylor2) are the same. A worker keeps the scores of the last few
# (parent, method, settings) it computed; tasks for the other ratios reuse them.
_SCORES: dict[tuple, list[torch.Tensor]] = {}
_SCORES_KEPT = 8


def _parent_scores(job: ModelJob, dense_state: bytes, base: torch.nn.Module, x: torch.Tensor,
                   y: torch.Tensor) -> list[torch.Tensor]:
    from ..pruning import pruning_scores

    key = (hashlib.sha256(dense_state).hexdigest(), job.config, job.method, job.seed,
           job.taylor2_probes)
    if key not in _SCORES:
        while len(_SCORES) >= _SCORES_KEPT:
            _SCORES.pop(next(iter(_SCORES)))
        _SCORES[key] = pruning_scores(base, job.method, x=x, y=y, seed=job.seed,
                                      probes=job.taylor2_probes)
    return _SCORES[key]


@dataclass(frozen=True)
class TrainedModel:
    state: bytes                # state dict, see `state_to_bytes`
    summary: dict               # see `model_summary`
    seconds: float              # wall time of the task


def train_model_task(job: ModelJob, images: np.ndarray, labels: np.ndarray,
                     dense_state: bytes | None = None, *, device: Device | str = "cpu",
                     progress: bool = False) -> TrainedModel:
    """Train (dense), prune (+ retrain) a dense parent, or search an MPT mask.

    ``images``: uint8 training images (N, H, W) or (N, H, W, C); ``labels``: (N,) class ids;
    ``dense_state``: the dense parent's state dict bytes (pruning methods only); ``device``:
    where the network and the training data live (see ``core.device``).
    """
    from ..pruning import PRUNERS, STRUCTURED_METHODS, make_pruned_model

    t0 = time.perf_counter()
    dev = as_device(device)
    device = dev.torch
    x = dev.move(to_input(images))
    y = dev.move(torch.tensor(labels))   # a copy: shared arrays are read-only memory maps
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
        base = model_from_config(job.config, state_from_bytes(dense_state)).to(device).eval()
        scores = (_parent_scores(job, dense_state, base, x, y) if job.method in PRUNERS
                  else None)
        model = make_pruned_model(
            base, job.method, job.ratio, x=x, y=y, seed=job.seed,
            retrain_epochs=job.retrain_epochs if job.retrained else 0, lr=job.retrain_lr,
            probes=job.taylor2_probes, scores=scores, progress=progress)
    model = model.cpu().eval()
    # A structured model is a smaller network: time it against its dense parent.
    latency_of = (base.cpu(), x) if job.method in STRUCTURED_METHODS else None
    return TrainedModel(state_to_bytes(model), model_summary(model, latency_of=latency_of),
                        time.perf_counter() - t0)


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
        model = model_from_config(config, checkpoint)
        return cls.of(model_id, config, model)


# Images per forward pass of `evaluate_model_task` on the CPU (a device's own size: core.device).
EVALUATE_BATCH_SIZE = CPU_EVALUATE_BATCH_SIZE


@dataclass(frozen=True)
class ModelEvaluation:
    """One model's results on several benchmarks: what the builder writes in one transaction."""

    model_id: str
    metrics: pa.Table           # `sample_metrics` rows of every benchmark, benchmark by benchmark
    evaluations: pd.DataFrame   # one `evaluations` row per benchmark (model_id, benchmark_id, …)
    features: dict[str, np.ndarray]  # benchmark id → (N, m) float32 head inputs, when asked for
    seconds: float              # wall time of the task


def _batches(blocks: Sequence[np.ndarray], batch_size: int) -> Iterator[np.ndarray]:
    """Consecutive batches of ``batch_size`` images over all ``blocks`` in order (the last one
    shorter): a batch may span the end of one benchmark and the start of the next."""
    pending: list[np.ndarray] = []
    size = 0
    for block in blocks:
        start = 0
        while start < len(block):
            take = min(batch_size - size, len(block) - start)
            pending.append(block[start:start + take])
            size += take
            start += take
            if size == batch_size:
                yield pending[0] if len(pending) == 1 else np.concatenate(pending)
                pending, size = [], 0
    if pending:
        yield np.concatenate(pending)


def _per_benchmark_mean(values: np.ndarray, n_benchmarks: int, *, skip_nan: bool = False
                        ) -> np.ndarray:
    blocks = values.reshape(n_benchmarks, -1)
    return np.nanmean(blocks, axis=1) if skip_nan else blocks.mean(axis=1)


@torch.inference_mode()
def evaluate_model_task(weights: ModelWeights, benchmark_ids: Sequence[str], labels: np.ndarray,
                        sample_ids: np.ndarray, *images: np.ndarray,
                        keep_features_for: Sequence[str] = (), device: Device | str = "cpu",
                        batch_size: int | None = None,
                        bias_in_margin: bool = True) -> ModelEvaluation:
    """Evaluate one model on every benchmark of ``benchmark_ids``: features → geometry →
    ``sample_metrics`` and ``evaluations`` rows, the same as evaluating each benchmark alone.

    ``images``: one uint8 array (N, H, W) or (N, H, W, C) per benchmark, in the order of
    ``benchmark_ids`` (separate arguments, so that an executor resolves each shared handle);
    ``labels`` and ``sample_ids``: (N,), the same for every benchmark. ``keep_features_for``:
    the benchmarks whose raw features (N, m) are returned. The network runs in batches of
    ``batch_size`` images (default: the device's, see ``core.device``), channels-last where the
    model gains by it, on ``device``; the geometry on the CPU, once over all
    N × len(benchmark_ids) features. ``bias_in_margin``: the margin's form
    (``False``: the paper's bias-free form, see docs/geometry.md, Margin).
    """
    t0 = time.perf_counter()
    if len(images) != len(benchmark_ids):
        raise ValueError(f"`images` must hold one array per benchmark ({len(benchmark_ids)}). "
                         f"Got {len(images)} instead.")
    n = len(labels)
    if any(len(block) != n for block in images):
        raise ValueError(f"Every benchmark must hold {n} images, one per label. Got "
                         f"{sorted({len(block) for block in images})} instead.")
    dev = as_device(device)
    batch_size = batch_size or dev.evaluate_batch_size
    model = model_from_config(weights.config, state_from_bytes(weights.state)
                              ).to(dev.torch).eval()
    # Channels-last lets the convolutions skip a layout conversion on every call (CPU oneDNN),
    # for the models that gain by it.
    layout = (torch.channels_last if getattr(model, "channels_last_inference", True)
              else torch.contiguous_format)
    model = model.to(memory_format=layout)
    parts = []
    for batch in _batches(images, batch_size):
        x = dev.move(to_input(batch)).contiguous(memory_format=layout)
        parts.append(features_and_logits(model, x)[0].cpu())
    features = torch.cat(parts)
    weight, bias = head_parameters(model)
    n_bench = len(benchmark_ids)
    all_labels = np.tile(np.asarray(labels), n_bench)
    geo = compute_geometry(features, weight.cpu(), None if bias is None else bias.cpu(),
                           torch.as_tensor(all_labels), bias_in_margin=bias_in_margin)
    tables = [store.metrics_table(weights.model_id, bench, sample_ids, labels,
                                  {k: v[i * n:(i + 1) * n] for k, v in geo.items()})
              for i, bench in enumerate(benchmark_ids)]
    correct = geo["pred"].numpy() == all_labels
    evaluations = pd.DataFrame({
        "model_id": weights.model_id, "benchmark_id": list(benchmark_ids), "n": n,
        "accuracy": _per_benchmark_mean(correct, n_bench),
        "mean_angle": _per_benchmark_mean(geo["angle"].numpy(), n_bench, skip_nan=True),
        "mean_l2": _per_benchmark_mean(geo["l2"].numpy(), n_bench),
        "mean_margin": _per_benchmark_mean(geo["margin"].numpy(), n_bench, skip_nan=True),
        "mean_prob": _per_benchmark_mean(geo["prob"].numpy(), n_bench)})
    numpy_features = features.numpy()
    kept = {bench: numpy_features[i * n:(i + 1) * n] for i, bench in enumerate(benchmark_ids)
            if bench in set(keep_features_for)}
    return ModelEvaluation(weights.model_id, pa.concat_tables(tables), evaluations, kept,
                           time.perf_counter() - t0)
