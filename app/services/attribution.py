"""Occlusion, gradient and saliency maps of the Attribution page: read from the results
database, else from the page's cache file, else computed (core.attribution) and added to that
cache. Models come from `app.services.models`; the server's limits are in `app.services.limits`;
the page fills what is missing through `app.services.compute.cached_else_computed`.

Every margin here takes the form the database was built with (``build_settings``, see
docs/geometry.md, Margin): with the bias by default, without it for ``bias_in_margin = false``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from app import escape
from app.db import DbRef
from app.queries import attribution as qa
from app.queries.attribution import margin_has_bias
from app.services.attribution_cache import attribution_cache, cache_table, gradient_table
from app.services.attribution_types import (GRADIENT_COLUMNS, AttributionRow, GradientKey,
                                            OcclusionKey)
from app.services.models import CheckpointError, load_model, weights_key
from core.attribution import (OCCLUSION_METRICS, grad_cam, gradient_saliency,
                              integrated_gradients, occlusion)
from core.train import to_input

__all__ = [
    "cached_rows",
    "compute_row",
    "cache_note",
    "saliency_map",
    "IG_STEPS",
    "gradient_key",
    "cached_gradients",
    "compute_gradients",
]

# Integration points of the page's Integrated Gradients: its completeness error (shown as the
# map's sum against the metric's change) stays near 1 % on the registry models, at a cost of
# IG_STEPS forward and backward passes per metric.
IG_STEPS = 32


def _current_weights(db: DbRef, model_ids: list[str]) -> dict[str, str | None]:
    """model id → the identity of its checkpoint file now (None without one)."""
    return {m: weights_key(db, m) for m in model_ids}


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
        current = _current_weights(db, rest)
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
        raise CheckpointError(f"{escape.code(model_id)}: occlusion failed — "
                              f"{escape.plain(exc, max_chars=300)}") from exc
    attribution_cache(db.path).replace(key, model_id, cache_table(model_id, key, maps, base,
                                                                  weights_key(db, model_id)))
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
    current = _current_weights(db, model_ids)
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
        raise CheckpointError(f"{escape.code(model_id)}: gradient maps failed — "
                              f"{escape.plain(exc, max_chars=300)}") from exc
    attribution_cache(db.path).add_gradients(
        key, model_id, gradient_table(model_id, key, raw, weights_key(db, model_id)))
    return {column: _shown(values) for column, values in raw.items()}


# --- saliency --------------------------------------------------------------------------------

@st.cache_data(max_entries=128, show_spinner=False)
def saliency_map(db: DbRef, model_id: str, benchmark_id: str, sample_id: int) -> np.ndarray:
    """|∂ prob(label) / ∂ pixel| (H, W), max over channels, of one model on one stored image."""
    stored = qa.sample_image(db, benchmark_id, sample_id)
    if stored is None:
        raise CheckpointError(f"No image of sample {escape.plain(sample_id)} in "
                              f"{escape.code(benchmark_id)}.")
    image, label = stored
    return gradient_saliency(load_model(db, model_id), to_input(image[None])[0], label)
