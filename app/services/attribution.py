"""Occlusion, gradient and saliency maps of the Attribution page: models loaded from their
checkpoints, maps read from the results database, else from the page's cache file, else computed
(core.attribution) and added to that cache.

Every margin here takes the form the database was built with (``build_settings``, see
docs/geometry.md, Margin): with the bias by default, without it for ``bias_in_margin = false``.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st
import torch
from torch import nn

from app.charts.attribution import GRADIENT_COLUMNS, AttributionRow
from app.db import DbRef
from app.queries import attribution as qa
from app.queries import common
from app.queries.attribution import OcclusionKey, margin_has_bias
from app.services.attribution_cache import (GradientKey, attribution_cache, cache_table,
                                            gradient_table)
from app.settings import settings
from core.attribution import (OCCLUSION_METRICS, grad_cam, gradient_saliency,
                              integrated_gradients, occlusion, window_starts)
from core.device import resolve_device
from core.models import model_from_config
from core.train import to_input

__all__ = [
    "CheckpointError",
    "checkpoint_file",
    "has_checkpoint",
    "load_model",
    "cached_rows",
    "compute_row",
    "cache_note",
    "saliency_map",
    "IG_STEPS",
    "margin_has_bias",
    "gradient_key",
    "cached_gradients",
    "compute_gradients",
    "occlusion_count",
    "smallest_stride",
    "ComputeSlots",
    "compute_slots",
]

# Integration points of the page's Integrated Gradients: its completeness error (shown as the
# map's sum against the metric's change) stays near 1 % on the registry models, at a cost of
# IG_STEPS forward and backward passes per metric.
IG_STEPS = 32


class CheckpointError(RuntimeError):
    """A model's maps cannot be computed: no checkpoint, or one that does not load or run."""


# --- limits of a shared server ---------------------------------------------------------------

def occlusion_count(height: int, width: int, window: int, stride: int) -> int:
    """Occluded images (forward passes) the occlusion of one model on an ``height × width`` image
    takes: ``(ceil((H − window) / stride) + 1) · (ceil((W − window) / stride) + 1)``, the window
    positions of core.attribution (before it skips windows that change no pixel)."""
    return len(window_starts(height, window, stride)) * len(window_starts(width, window, stride))


def smallest_stride(height: int, width: int, window: int, limit: int) -> int | None:
    """The smallest stride in 1..window whose `occlusion_count` is at most ``limit``; None when
    even ``stride = window`` takes more."""
    fits = [s for s in range(1, window + 1) if occlusion_count(height, width, window, s) <= limit]
    return fits[0] if fits else None


class ComputeSlots:
    """At most ``limit`` attribution computations at once in the process (a bounded semaphore)
    and how many are running."""

    def __init__(self, limit: int):
        self.limit = limit
        self._semaphore = threading.BoundedSemaphore(limit)
        self._lock = threading.Lock()
        self._running = 0

    @property
    def running(self) -> int:
        """Computations holding a slot now."""
        with self._lock:
            return self._running

    @contextmanager
    def slot(self, *, timeout: float, on_wait=None) -> Iterator[bool]:
        """Hold a slot for the ``with`` block; yields True once held, False when none freed up
        within ``timeout`` seconds (the block must then skip its work). ``on_wait(running)`` is
        called before waiting when every slot is taken (e.g. to show a message)."""
        held = self._semaphore.acquire(blocking=False)
        if not held:
            if on_wait is not None:
                on_wait(self.running)
            held = self._semaphore.acquire(timeout=timeout)
        if held:
            with self._lock:
                self._running += 1
        try:
            yield held
        finally:
            if held:
                with self._lock:
                    self._running -= 1
                self._semaphore.release()


@st.cache_resource(show_spinner=False)
def compute_slots() -> ComputeSlots:
    """The server's slots (``ROBUSTNESS_MAX_CONCURRENT_ATTRIBUTIONS``), shared by all sessions."""
    return ComputeSlots(settings().max_concurrent_attributions)


@functools.cache
def _limit_torch_threads() -> None:
    # Once per process, before the first model runs: torch would otherwise take every core.
    torch.set_num_threads(settings().torch_threads)


# --- models ----------------------------------------------------------------------------------

def checkpoint_file(db: DbRef, checkpoint) -> Path | None:
    """A ``models.checkpoint`` value as a path (relative ones are beside the DB file)."""
    if checkpoint is None or pd.isna(checkpoint) or not str(checkpoint).strip():
        return None
    path = Path(str(checkpoint))
    return path if path.is_absolute() else Path(db.path).resolve().parent / path


def _weights_key(path: Path | None) -> str | None:
    """The checkpoint file's identity (path, modification time, size), None when absent."""
    try:
        stat = path.stat() if path is not None else None
    except OSError:
        return None
    return None if stat is None else f"{path}:{stat.st_mtime_ns}:{stat.st_size}"


def _model_row(db: DbRef, model_id: str) -> pd.Series:
    rows = common.models(db).set_index("model_id")
    if model_id not in rows.index:
        raise CheckpointError(f"Model {model_id} is not in this database.")
    return rows.loc[model_id]


def has_checkpoint(db: DbRef, models: pd.DataFrame) -> pd.Series:
    """Boolean per row of ``models``: a checkpoint file is recorded and exists."""
    if "checkpoint" not in models:
        return pd.Series(False, index=models.index)
    return models["checkpoint"].map(
        lambda c: (path := checkpoint_file(db, c)) is not None and path.is_file())


@st.cache_resource(max_entries=32, show_spinner=False)
def load_model(db: DbRef, model_id: str) -> nn.Module:
    """The model in eval mode, built from ``arch_config`` with its checkpoint (weights_only), on
    the server's device (``ROBUSTNESS_DEVICE``, see app/settings.py): the maps are computed where
    the model is (``core.attribution`` moves each image to it)."""
    _limit_torch_threads()
    row = _model_row(db, model_id)
    path = checkpoint_file(db, row.get("checkpoint"))
    if path is None or not row.get("arch_config"):
        raise CheckpointError(f"{model_id} has no checkpoint in this database (synthetic "
                              "databases carry none), so its maps cannot be computed.")
    try:
        model = model_from_config(row["arch_config"], weights=path).eval()
    except (FileNotFoundError, ValueError, RuntimeError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{model_id}: cannot load its checkpoint — {exc}") from exc
    return model.to(resolve_device(settings().device).torch)


# --- occlusion maps --------------------------------------------------------------------------

def _rows_from_frame(frame: pd.DataFrame) -> dict[str, AttributionRow]:
    """Rows of maps (one per (model, metric), as stored) → one `AttributionRow` per model that
    has every metric of `OCCLUSION_METRICS`."""
    rows = {}
    for model_id, group in frame.groupby("model_id", sort=False):
        if set(group["metric"]) < set(OCCLUSION_METRICS):
            continue  # incomplete: recompute
        maps, base = {}, {}
        for r in group.itertuples(index=False):
            maps[r.metric] = np.asarray(r.values, dtype=np.float32).reshape(r.height, r.width)
            base[r.metric] = float(r.base_value)
        pred = group["pred"].iloc[0] if "pred" in group else None
        rows[model_id] = AttributionRow(model_id, maps, base,
                                        None if pred is None or pd.isna(pred) else int(pred))
    return rows


def cached_rows(db: DbRef, model_ids: list[str], key: OcclusionKey
                ) -> dict[str, AttributionRow]:
    """Maps already available for ``model_ids``: the results DB's own first, then the cache
    file's (only those computed from the checkpoint file as it is now)."""
    found: dict[str, AttributionRow] = {}
    if qa.has_stored_attributions(db):
        found = _rows_from_frame(qa.stored_attributions(db, key, tuple(model_ids)))
        preds = qa.stored_predictions(db, tuple(found), key.benchmark_id, key.sample_id)
        found = {m: AttributionRow(m, r.maps, r.base, preds.get(m)) for m, r in found.items()}
    rest = [m for m in model_ids if m not in found]
    if rest:
        models = common.models(db).set_index("model_id")
        current = {m: _weights_key(checkpoint_file(db, models.loc[m].get("checkpoint")))
                   for m in rest if m in models.index}
        if not any(current.values()):
            return found  # nothing computable, so nothing cached (and no cache file to open)
        frame = attribution_cache(db.path).read(key, rest)
        frame = frame[frame["weights_key"] == frame["model_id"].map(current)]
        found.update(_rows_from_frame(frame))
    return found


def compute_row(db: DbRef, model_id: str, key: OcclusionKey, image: np.ndarray, label: int
                ) -> AttributionRow:
    """Compute one model's maps on ``image`` (uint8 H×W×C) and save them to the cache file."""
    model = load_model(db, model_id)
    x = to_input(image[None])[0]
    try:
        maps, base = occlusion(model, x, label, window=key.window, stride=key.stride,
                               baseline=key.baseline, bias_in_margin=margin_has_bias(db),
                               return_base=True)
    except (RuntimeError, ValueError) as exc:  # e.g. the image does not fit the architecture
        raise CheckpointError(f"{model_id}: occlusion failed — {exc}") from exc
    path = checkpoint_file(db, _model_row(db, model_id).get("checkpoint"))
    attribution_cache(db.path).replace(key, model_id, cache_table(model_id, key, maps, base,
                                                                  _weights_key(path)))
    return AttributionRow(model_id, maps, {m: base[m] for m in OCCLUSION_METRICS}, base["pred"])


def cache_note(db: DbRef) -> str:
    """Why computed maps are not saved to the cache file (empty when they are)."""
    return attribution_cache(db.path).note


# --- gradient maps ---------------------------------------------------------------------------

def gradient_key(key: OcclusionKey) -> GradientKey:
    """The gradient maps' key on the occlusion's image: the same baseline (pixel value) for
    Integrated Gradients, `IG_STEPS` steps."""
    return GradientKey(key.benchmark_id, key.sample_id, key.baseline, IG_STEPS)


def _shown(raw: np.ndarray) -> np.ndarray:
    # Negated so that the sign reads as the occlusion maps': negative where the pixels' presence
    # raises the metric, i.e. where hiding them would lower it.
    return -raw


def cached_gradients(db: DbRef, model_ids: list[str], key: GradientKey, columns: list[str]
                     ) -> dict[str, dict[str, np.ndarray]]:
    """model_id → {column → shown (negated) map} of the ``columns`` already in the cache file
    for ``key``, computed from the checkpoint file as it is now."""
    models = common.models(db).set_index("model_id")
    current = {m: _weights_key(checkpoint_file(db, models.loc[m].get("checkpoint")))
               for m in model_ids if m in models.index}
    if not any(current.values()):
        return {}
    frame = attribution_cache(db.path).read_gradients(key, list(current))
    frame = frame[frame["weights_key"] == frame["model_id"].map(current)]
    found: dict[str, dict[str, np.ndarray]] = {}
    for r in frame.itertuples(index=False):
        column = f"{r.method}:{r.metric}"
        if column in columns:
            found.setdefault(r.model_id, {})[column] = _shown(
                np.asarray(r.values, dtype=np.float32).reshape(r.height, r.width))
    return found


def compute_gradients(db: DbRef, model_id: str, key: GradientKey, image: np.ndarray, label: int,
                      columns: list[str]) -> dict[str, np.ndarray]:
    """Compute one model's gradient ``columns`` (ids of `GRADIENT_COLUMNS`) on ``image`` (uint8
    H×W×C), save them to the cache file and return them shown (negated)."""
    unknown = sorted(set(columns) - set(GRADIENT_COLUMNS))
    if unknown:
        raise ValueError(f"`columns` must be among {', '.join(GRADIENT_COLUMNS)}. "
                         f"Got {unknown} instead.")
    model = load_model(db, model_id)
    x = to_input(image[None])[0]
    bias_in_margin = margin_has_bias(db)
    raw = {}
    try:
        for column in columns:
            method, metric = column.split(":")
            if method == "ig":
                raw[column] = integrated_gradients(model, x, label, metric=metric,
                                                   baseline=key.baseline, steps=key.steps,
                                                   bias_in_margin=bias_in_margin)
            else:
                raw[column] = grad_cam(model, x, label, metric=metric,
                                       bias_in_margin=bias_in_margin)
    except (RuntimeError, ValueError) as exc:  # e.g. no convolution, or an unfit image
        raise CheckpointError(f"{model_id}: gradient maps failed — {exc}") from exc
    path = checkpoint_file(db, _model_row(db, model_id).get("checkpoint"))
    attribution_cache(db.path).add_gradients(key, model_id,
                                             gradient_table(model_id, key, raw, _weights_key(path)))
    return {column: _shown(values) for column, values in raw.items()}


# --- saliency --------------------------------------------------------------------------------

@st.cache_data(max_entries=128, show_spinner=False)
def saliency_map(db: DbRef, model_id: str, benchmark_id: str, sample_id: int) -> np.ndarray:
    """|∂ prob(label) / ∂ pixel| (H, W), max over channels, of one model on one stored image."""
    stored = qa.sample_image(db, benchmark_id, sample_id)
    if stored is None:
        raise CheckpointError(f"No image of sample {sample_id} in {benchmark_id}.")
    image, label = stored
    return gradient_saliency(load_model(db, model_id), to_input(image[None])[0], label)
