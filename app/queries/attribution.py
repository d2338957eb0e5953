"""Queries of the Attribution page: the stored sample images, and occlusion maps or predictions
the results database already holds. The maps the page computes itself live in a separate cache
(`app.services.attribution_cache`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from app.db import DbRef

__all__ = [
    "OcclusionKey",
    "KEY_FILTER",
    "image_sample_ids",
    "image_benchmarks",
    "sample_image",
    "has_stored_attributions",
    "stored_attributions",
    "stored_predictions",
]

# The rows of one grid of maps in an ``attributions`` table: bind `OcclusionKey.params()` and
# then the list of model ids.
KEY_FILTER = ('benchmark_id = ? AND sample_id = ? AND "window" = ? AND stride = ? AND baseline = ? '
              "AND model_id IN (SELECT unnest(?))")


@dataclass(frozen=True)
class OcclusionKey:
    """What one grid of maps is computed for (the cache key besides the model): the image
    (benchmark, sample), the square patch's side and step in pixels, and the value hidden pixels
    take (0 = black, 1 = white)."""

    benchmark_id: str
    sample_id: int
    window: int
    stride: int
    baseline: float

    def params(self) -> list:
        """The values `KEY_FILTER` binds before the model ids."""
        return [self.benchmark_id, self.sample_id, self.window, self.stride, self.baseline]


@st.cache_data(max_entries=16, show_spinner=False)
def image_sample_ids(db: DbRef) -> list[int]:
    """Sample ids with a stored image in at least one benchmark, ascending."""
    if not db.has_table("images"):
        return []
    frame = db.sql("SELECT DISTINCT sample_id FROM images ORDER BY sample_id")
    return [int(i) for i in frame["sample_id"]]


@st.cache_data(max_entries=64, show_spinner=False)
def image_benchmarks(db: DbRef, sample_id: int) -> list[str]:
    """Benchmarks holding an image of ``sample_id``: clean first, then corruption and severity."""
    if not db.has_table("images"):
        return []
    frame = db.sql(
        "SELECT i.benchmark_id FROM images i LEFT JOIN benchmarks b USING (benchmark_id) "
        "WHERE i.sample_id = ? "
        "ORDER BY coalesce(b.corruption, '') <> 'clean', b.corruption, b.severity, i.benchmark_id",
        [int(sample_id)])
    return frame["benchmark_id"].tolist()


@st.cache_data(max_entries=64, show_spinner=False)
def sample_image(db: DbRef, benchmark_id: str, sample_id: int) -> tuple[np.ndarray, int] | None:
    """(pixels uint8 (H, W, C), label) of one stored image, or None."""
    frame = db.sql("SELECT label, height, width, channels, pixels FROM images "
                   "WHERE benchmark_id = ? AND sample_id = ? LIMIT 1",
                   [benchmark_id, int(sample_id)])
    if frame.empty:
        return None
    row = frame.iloc[0]
    shape = (int(row["height"]), int(row["width"]), int(row["channels"]))
    pixels = np.frombuffer(bytes(row["pixels"]), dtype=np.uint8).reshape(shape).copy()
    return pixels, int(row["label"])


@st.cache_data(max_entries=16, show_spinner=False)
def has_stored_attributions(db: DbRef) -> bool:
    """Whether the results database holds any occlusion maps (most builds hold none)."""
    return db.has_table("attributions") and bool(
        db.sql("SELECT count(*) AS n FROM attributions").iloc[0]["n"])


@st.cache_data(max_entries=64, show_spinner=False)
def stored_attributions(db: DbRef, key: OcclusionKey, model_ids: tuple[str, ...]
                        ) -> pd.DataFrame:
    """The results database's maps of ``key`` for ``model_ids``: one row per (model, metric) with
    model_id, metric, height, width, base_value (the metric on the unoccluded image) and values
    (the change per pixel, row-major, height × width)."""
    return db.sql('SELECT model_id, metric, height, width, base_value, "values" '
                  f"FROM attributions WHERE {KEY_FILTER}", key.params() + [list(model_ids)])


@st.cache_data(max_entries=128, show_spinner=False)
def stored_predictions(db: DbRef, model_ids: tuple[str, ...], benchmark_id: str,
                       sample_id: int) -> dict[str, int]:
    """model id → predicted class on one sample, for the models evaluated on ``benchmark_id``."""
    if not db.has_table("sample_metrics"):
        return {}
    frame = db.sql("SELECT model_id, pred FROM sample_metrics WHERE benchmark_id = ? AND "
                   "sample_id = ? AND model_id IN (SELECT unnest(?))",
                   [benchmark_id, int(sample_id), list(model_ids)])
    return dict(zip(frame["model_id"], frame["pred"].astype(int)))


@st.cache_data(max_entries=16, show_spinner=False)
def margin_has_bias(db: DbRef) -> bool:
    """Whether the database's margins include the head's bias: its ``bias_in_margin`` build
    setting; databases without the setting (built before it, or synthetic) use the bias."""
    if not db.has_table("build_settings"):
        return True
    frame = db.sql("SELECT value FROM build_settings WHERE name = ?", ["bias_in_margin"])
    return frame.empty or frame["value"].iloc[0] != "false"
