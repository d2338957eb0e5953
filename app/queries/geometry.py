"""Queries of the Geometry page.

``sample_metrics`` holds one row per (model, benchmark, sample) — tens of millions of rows — so every
query here filters on the chosen model(s), benchmark(s) and, where it can, class, and returns at most
one benchmark's samples.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from app.db import DbRef

__all__ = [
    "has_sample_metrics",
    "local_metrics",
    "paired_metrics",
    "class_metrics",
    "sample_details",
    "sample_images",
    "decode_pixels",
]

_SCALARS = "sample_id, label, pred, correct, angle, l2, margin, prob, confidence"


@st.cache_data(max_entries=8, show_spinner=False)
def has_sample_metrics(db: DbRef) -> bool:
    if not db.has_table("sample_metrics"):
        return False
    return not db.sql("SELECT 1 FROM sample_metrics LIMIT 1").empty


@st.cache_data(max_entries=32, show_spinner=False)
def local_metrics(db: DbRef, model_id: str, benchmark_id: str) -> pd.DataFrame:
    """Scalar metrics of every sample of one (model, benchmark), by sample id (angles in degrees)."""
    return db.sql(
        f"SELECT {_SCALARS} FROM sample_metrics WHERE model_id = ? AND benchmark_id = ? "
        "ORDER BY sample_id", [model_id, benchmark_id])


@st.cache_data(max_entries=32, show_spinner=False)
def paired_metrics(db: DbRef, model_a: str, benchmark_a: str, model_b: str, benchmark_b: str,
                   class_index: int) -> pd.DataFrame:
    """Samples of true class ``class_index`` present in both results A and B: columns sample_id,
    label, pred_a, pred_b, correct_a, correct_b, the metrics under each (angle_a, angle_b in
    degrees, l2_a, l2_b, margin_a, margin_b) and their change B − A (d_angle, d_l2, d_margin)."""
    return db.sql(
        "SELECT a.sample_id, a.label, a.pred AS pred_a, b.pred AS pred_b, "
        "a.correct AS correct_a, b.correct AS correct_b, a.angle AS angle_a, "
        "b.angle AS angle_b, a.l2 AS l2_a, b.l2 AS l2_b, a.margin AS margin_a, "
        "b.margin AS margin_b, b.angle - a.angle AS d_angle, b.l2 - a.l2 AS d_l2, "
        "b.margin - a.margin AS d_margin "
        "FROM sample_metrics a JOIN sample_metrics b ON a.sample_id = b.sample_id "
        "WHERE a.model_id = ? AND a.benchmark_id = ? AND b.model_id = ? AND b.benchmark_id = ? "
        "AND a.label = ? AND b.label = ? ORDER BY a.sample_id",
        [model_a, benchmark_a, model_b, benchmark_b, int(class_index), int(class_index)])


@st.cache_data(max_entries=32, show_spinner=False)
def class_metrics(db: DbRef, model_ids: tuple[str, ...], benchmark_ids: tuple[str, ...],
                  class_index: int, num_classes: int) -> tuple[pd.DataFrame, np.ndarray]:
    """The samples of true class ``class_index`` under every (model, benchmark) of
    ``model_ids`` × ``benchmark_ids``.

    Returns (frame, angles): frame has model_id, benchmark_id and the scalar metrics, one row per
    (model, benchmark, sample); ``angles`` is the (rows, num_classes) float array of angles
    (degrees) to every class direction, NaN where undefined (NULL), aligned with the frame's rows.
    """
    frame = db.sql(
        f"SELECT model_id, benchmark_id, {_SCALARS}, "
        "list_transform(angles, lambda a: coalesce(a, 'nan'::FLOAT)) AS angles "
        "FROM sample_metrics WHERE model_id IN (SELECT unnest(?)) "
        "AND benchmark_id IN (SELECT unnest(?)) AND label = ? "
        "ORDER BY model_id, benchmark_id, sample_id",
        [list(model_ids), list(benchmark_ids), int(class_index)])
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
    return db.sql(
        f"SELECT {_SCALARS} FROM sample_metrics WHERE model_id = ? AND benchmark_id = ? "
        "AND sample_id IN (SELECT unnest(?::INTEGER[])) ORDER BY sample_id",
        [model_id, benchmark_id, [int(i) for i in sample_ids]])


@st.cache_data(max_entries=32, show_spinner=False)
def sample_images(db: DbRef, benchmark_id: str, sample_ids: tuple[int, ...]) -> pd.DataFrame:
    """Stored images of the given samples on ``benchmark_id``, falling back to the clean image
    when that benchmark has none: columns sample_id, benchmark_id (where the image comes from),
    height, width, channels, pixels (uint8 bytes, H×W×C)."""
    if not db.has_table("images"):
        return pd.DataFrame(columns=["sample_id", "benchmark_id", "height", "width", "channels",
                                     "pixels"])
    return db.sql(
        "SELECT sample_id, benchmark_id, height, width, channels, pixels FROM images "
        "WHERE benchmark_id IN (?, 'clean') AND sample_id IN (SELECT unnest(?::INTEGER[])) "
        "QUALIFY row_number() OVER (PARTITION BY sample_id ORDER BY benchmark_id = ? DESC) = 1 "
        "ORDER BY sample_id", [benchmark_id, [int(i) for i in sample_ids], benchmark_id])


def decode_pixels(pixels: bytes, height: int, width: int, channels: int) -> np.ndarray:
    """A stored image as a uint8 array: (H, W) for one channel, (H, W, C) otherwise."""
    image = np.frombuffer(pixels, dtype=np.uint8).reshape(int(height), int(width), int(channels))
    return image[..., 0] if channels == 1 else image
