"""Queries of the Geometry page: cached wrappers of `core.store.samples`, which owns their SQL
and filters every read of the (large) ``sample_metrics`` table on the chosen models, benchmarks
and, where it can, class.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from app.db import DbRef
from core.store import samples

__all__ = [
    "has_sample_metrics",
    "local_metrics",
    "paired_metrics",
    "class_metrics",
    "sample_details",
    "sample_images",
    "decode_pixels",
]

@st.cache_data(max_entries=8, show_spinner=False)
def has_sample_metrics(db: DbRef) -> bool:
    return db.read(samples.has_sample_metrics)


@st.cache_data(max_entries=32, show_spinner=False)
def local_metrics(db: DbRef, model_id: str, benchmark_id: str) -> pd.DataFrame:
    """Scalar metrics of every sample of one (model, benchmark), by sample id (angles in degrees)."""
    return db.read(samples.local_metrics, model_id, benchmark_id)


@st.cache_data(max_entries=32, show_spinner=False)
def paired_metrics(db: DbRef, model_a: str, benchmark_a: str, model_b: str, benchmark_b: str,
                   class_index: int) -> pd.DataFrame:
    """Samples of true class ``class_index`` present in both results A and B, with the metrics
    under each and their change B − A (`core.store.samples.paired_metrics`)."""
    return db.read(samples.paired_metrics, model_a, benchmark_a, model_b, benchmark_b,
                   class_index)


@st.cache_data(max_entries=32, show_spinner=False)
def class_metrics(db: DbRef, model_ids: tuple[str, ...], benchmark_ids: tuple[str, ...],
                  class_index: int, num_classes: int) -> tuple[pd.DataFrame, np.ndarray]:
    """The samples of true class ``class_index`` under every (model, benchmark) of
    ``model_ids`` × ``benchmark_ids``.

    Returns (frame, angles): frame has model_id, benchmark_id and the scalar metrics, one row per
    (model, benchmark, sample); ``angles`` is the (rows, num_classes) float array of angles
    (degrees) to every class direction, NaN where undefined (NULL), aligned with the frame's rows.
    """
    frame = db.read(samples.class_metrics, model_ids, benchmark_ids, class_index)
    cells = frame.pop("angles").to_numpy()
    angles = np.full((len(cells), num_classes), np.nan)
    present = ~pd.isna(cells)
    if present.any():
        angles[present] = np.stack(cells[present])
    return frame, angles


@st.cache_data(max_entries=32, show_spinner=False)
def sample_details(db: DbRef, model_id: str, benchmark_id: str, sample_ids: tuple[int, ...]
                   ) -> pd.DataFrame:
    """Scalar metrics of the given samples for one (model, benchmark); unknown ids are absent."""
    return db.read(samples.sample_details, model_id, benchmark_id, sample_ids)


@st.cache_data(max_entries=32, show_spinner=False)
def sample_images(db: DbRef, benchmark_id: str, sample_ids: tuple[int, ...]) -> pd.DataFrame:
    """Stored images of the given samples on ``benchmark_id``, falling back to the clean image
    when that benchmark has none: columns sample_id, benchmark_id (where the image comes from),
    height, width, channels, pixels (uint8 bytes, H×W×C)."""
    return db.read(samples.sample_images, benchmark_id, sample_ids)


def decode_pixels(pixels: bytes, height: int, width: int, channels: int) -> np.ndarray:
    """A stored image as a uint8 array: (H, W) for one channel, (H, W, C) otherwise."""
    image = np.frombuffer(pixels, dtype=np.uint8).reshape(int(height), int(width), int(channels))
    return image[..., 0] if channels == 1 else image
