"""Queries of the Attribution page: the stored sample images, and occlusion maps or predictions
the results database already holds. The maps the page computes itself live in a separate cache
(`app.services.attribution_cache`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from app.db import DbRef
from app.services.attribution_types import OcclusionKey
from core.store import catalog, samples

__all__ = [
    "image_sample_ids",
    "image_benchmarks",
    "sample_image",
    "has_stored_attributions",
    "stored_attributions",
    "stored_predictions",
    "margin_has_bias",
]

@st.cache_data(max_entries=16, show_spinner=False)
def image_sample_ids(db: DbRef) -> list[int]:
    """Sample ids with a stored image in at least one benchmark, ascending."""
    return [int(i) for i in db.read(samples.image_sample_ids)["sample_id"]]


@st.cache_data(max_entries=64, show_spinner=False)
def image_benchmarks(db: DbRef, sample_id: int) -> list[str]:
    """Benchmarks holding an image of ``sample_id``: clean first, then corruption and severity."""
    return db.read(samples.image_benchmarks, sample_id)["benchmark_id"].tolist()


@st.cache_data(max_entries=64, show_spinner=False)
def sample_image(db: DbRef, benchmark_id: str, sample_id: int) -> tuple[np.ndarray, int] | None:
    """(pixels uint8 (H, W, C), label) of one stored image, or None."""
    frame = db.read(samples.sample_image, benchmark_id, sample_id)
    if frame.empty:
        return None
    row = frame.iloc[0]
    shape = (int(row["height"]), int(row["width"]), int(row["channels"]))
    pixels = np.frombuffer(bytes(row["pixels"]), dtype=np.uint8).reshape(shape).copy()
    return pixels, int(row["label"])


@st.cache_data(max_entries=16, show_spinner=False)
def has_stored_attributions(db: DbRef) -> bool:
    """Whether the results database holds any occlusion maps (most builds hold none)."""
    return db.read(samples.has_stored_attributions)


@st.cache_data(max_entries=64, show_spinner=False)
def stored_attributions(db: DbRef, key: OcclusionKey, model_ids: tuple[str, ...]
                        ) -> pd.DataFrame:
    """The results database's maps of ``key`` for ``model_ids``: one row per (model, metric) with
    model_id, metric, height, width, base_value (the metric on the unoccluded image) and values
    (the change per pixel, row-major, height × width)."""
    return db.read(samples.stored_attributions, key.params(), model_ids)


@st.cache_data(max_entries=128, show_spinner=False)
def stored_predictions(db: DbRef, model_ids: tuple[str, ...], benchmark_id: str,
                       sample_id: int) -> dict[str, int]:
    """model id → predicted class on one sample, for the models evaluated on ``benchmark_id``."""
    frame = db.read(samples.stored_predictions, model_ids, benchmark_id, sample_id)
    return dict(zip(frame["model_id"], frame["pred"].astype(int)))


@st.cache_data(max_entries=16, show_spinner=False)
def margin_has_bias(db: DbRef) -> bool:
    """Whether the database's margins include the head's bias: its ``bias_in_margin`` build
    setting; databases without the setting (built before it, or synthetic) use the bias."""
    return db.read(catalog.margin_has_bias)
