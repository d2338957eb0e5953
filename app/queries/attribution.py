"""Data for the attribution page: sample images, models loaded from their checkpoints, and occlusion
maps — read from the results DB's ``attributions`` table, else from the page's own cache file,
else computed and added to that cache.

The app opens the results DB read-only (the builder replaces it atomically), so computed maps go to
a separate writable DuckDB file beside it, ``<db>.attributions.duckdb``, with the columns of the
``attributions`` table of core/store.py plus ``pred`` (the model's prediction on the unoccluded
image) and ``weights_key`` (the checkpoint file's identity: a rebuilt checkpoint invalidates its
cached maps).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import streamlit as st
from torch import nn

from app.charts.attribution import AttributionRow
from app.db import DbRef
from app.queries import common
from core.attribution import OCCLUSION_METRICS, gradient_saliency, occlusion
from core.models import model_from_config
from core.train import to_input

CACHE_SUFFIX = ".attributions.duckdb"
_CACHE_DDL = """
CREATE TABLE IF NOT EXISTS attributions(model_id VARCHAR, benchmark_id VARCHAR, sample_id INTEGER,
    "window" INTEGER, stride INTEGER, baseline DOUBLE, metric VARCHAR, height INTEGER,
    width INTEGER, base_value DOUBLE, "values" FLOAT[], pred INTEGER, weights_key VARCHAR);
"""
_KEY_SQL = ('benchmark_id = ? AND sample_id = ? AND "window" = ? AND stride = ? AND baseline = ? '
            "AND model_id IN (SELECT unnest(?))")


class CheckpointError(RuntimeError):
    """A model's maps cannot be computed: no checkpoint, or one that does not load or run."""


@dataclass(frozen=True)
class OcclusionKey:
    """What one grid of maps is computed for (the cache key besides the model)."""

    benchmark_id: str
    sample_id: int
    window: int
    stride: int
    baseline: float

    def params(self) -> list:
        return [self.benchmark_id, self.sample_id, self.window, self.stride, self.baseline]


# --- sample images ---------------------------------------------------------------------------

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


# --- models ----------------------------------------------------------------------------------

def checkpoint_file(db: DbRef, checkpoint) -> Path | None:
    """A ``models.checkpoint`` value as a path (relative ones are beside the DB file)."""
    if checkpoint is None or pd.isna(checkpoint) or not str(checkpoint).strip():
        return None
    path = Path(str(checkpoint))
    return path if path.is_absolute() else Path(db.path).resolve().parent / path


def _weights_key(path: Path | None) -> str | None:
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
    """The model in eval mode, built from ``arch_config`` with its checkpoint (weights_only)."""
    row = _model_row(db, model_id)
    path = checkpoint_file(db, row.get("checkpoint"))
    if path is None or not row.get("arch_config"):
        raise CheckpointError(f"{model_id} has no checkpoint in this database (synthetic "
                              "databases carry none), so its maps cannot be computed.")
    try:
        return model_from_config(row["arch_config"], weights=path).eval()
    except (FileNotFoundError, ValueError, RuntimeError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{model_id}: cannot load its checkpoint — {exc}") from exc


# --- the page's cache file -------------------------------------------------------------------

class _CacheStore:
    """One process-wide connection to ``<db>.attributions.duckdb``; writes under a lock."""

    def __init__(self, path: str):
        self.lock = threading.Lock()
        self.note = ""
        try:
            self.con = duckdb.connect(path)
        except (duckdb.Error, OSError) as exc:
            # Read-only directory, or another process holds the file: keep maps for this
            # process only.
            self.con = duckdb.connect(":memory:")
            self.note = f"Computed maps are not saved to {path} ({exc}); they last until restart."
        self.con.execute(_CACHE_DDL)

    def read(self, sql: str, params: list) -> pd.DataFrame:
        cursor = self.con.cursor()
        try:
            return cursor.execute(sql, params).df()
        finally:
            cursor.close()

    def replace(self, key: OcclusionKey, model_id: str, table: pa.Table) -> None:
        with self.lock:
            cursor = self.con.cursor()
            try:
                cursor.execute("BEGIN TRANSACTION")
                cursor.execute(f"DELETE FROM attributions WHERE {_KEY_SQL}",
                               key.params() + [[model_id]])
                cursor.register("_rows", table)
                cursor.execute("INSERT INTO attributions SELECT * FROM _rows")
                cursor.execute("COMMIT")
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            finally:
                cursor.close()


@st.cache_resource(max_entries=4, show_spinner=False)
def cache_store(db_path: str) -> _CacheStore:
    return _CacheStore(db_path + CACHE_SUFFIX)


@st.cache_data(max_entries=16, show_spinner=False)
def _has_stored_attributions(db: DbRef) -> bool:
    return db.has_table("attributions") and bool(
        db.sql("SELECT count(*) AS n FROM attributions").iloc[0]["n"])


@st.cache_data(max_entries=128, show_spinner=False)
def _stored_predictions(db: DbRef, model_ids: tuple[str, ...], benchmark_id: str,
                        sample_id: int) -> dict[str, int]:
    if not db.has_table("sample_metrics"):
        return {}
    frame = db.sql("SELECT model_id, pred FROM sample_metrics WHERE benchmark_id = ? AND "
                   "sample_id = ? AND model_id IN (SELECT unnest(?))",
                   [benchmark_id, int(sample_id), list(model_ids)])
    return dict(zip(frame["model_id"], frame["pred"].astype(int)))


def _rows_from_frame(frame: pd.DataFrame) -> dict[str, AttributionRow]:
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
    if _has_stored_attributions(db):
        frame = db.sql('SELECT model_id, metric, height, width, base_value, "values" '
                       f"FROM attributions WHERE {_KEY_SQL}", key.params() + [list(model_ids)])
        found = _rows_from_frame(frame)
        preds = _stored_predictions(db, tuple(found), key.benchmark_id, key.sample_id)
        found = {m: AttributionRow(m, r.maps, r.base, preds.get(m)) for m, r in found.items()}
    rest = [m for m in model_ids if m not in found]
    if rest:
        models = common.models(db).set_index("model_id")
        current = {m: _weights_key(checkpoint_file(db, models.loc[m].get("checkpoint")))
                   for m in rest if m in models.index}
        if not any(current.values()):
            return found  # nothing computable, so nothing cached (and no cache file to open)
        frame = cache_store(db.path).read(
            'SELECT model_id, metric, height, width, base_value, "values", pred, weights_key '
            f"FROM attributions WHERE {_KEY_SQL}", key.params() + [rest])
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
                               baseline=key.baseline, return_base=True)
    except (RuntimeError, ValueError) as exc:  # e.g. the image does not fit the architecture
        raise CheckpointError(f"{model_id}: occlusion failed — {exc}") from exc
    path = checkpoint_file(db, _model_row(db, model_id).get("checkpoint"))
    cache_store(db.path).replace(key, model_id, _cache_table(model_id, key, maps, base,
                                                             _weights_key(path)))
    return AttributionRow(model_id, maps, {m: base[m] for m in OCCLUSION_METRICS}, base["pred"])


def _cache_table(model_id: str, key: OcclusionKey, maps: dict, base: dict, weights_key
                 ) -> pa.Table:
    n = len(OCCLUSION_METRICS)
    height, width = maps[OCCLUSION_METRICS[0]].shape
    values = np.stack([maps[m].astype(np.float32).reshape(-1) for m in OCCLUSION_METRICS])
    return pa.table({
        "model_id": pa.array([model_id] * n, pa.string()),
        "benchmark_id": pa.array([key.benchmark_id] * n, pa.string()),
        "sample_id": pa.array([key.sample_id] * n, pa.int32()),
        "window": pa.array([key.window] * n, pa.int32()),
        "stride": pa.array([key.stride] * n, pa.int32()),
        "baseline": pa.array([key.baseline] * n, pa.float64()),
        "metric": pa.array(list(OCCLUSION_METRICS), pa.string()),
        "height": pa.array([height] * n, pa.int32()),
        "width": pa.array([width] * n, pa.int32()),
        "base_value": pa.array([base[m] for m in OCCLUSION_METRICS], pa.float64()),
        "values": pa.ListArray.from_arrays(
            pa.array(np.arange(0, values.size + 1, height * width, dtype=np.int32)),
            pa.array(values.reshape(-1))),
        "pred": pa.array([base["pred"]] * n, pa.int32()),
        "weights_key": pa.array([weights_key] * n, pa.string()),
    })


@st.cache_data(max_entries=128, show_spinner=False)
def saliency_map(db: DbRef, model_id: str, benchmark_id: str, sample_id: int) -> np.ndarray:
    """|∂ prob(label) / ∂ pixel| (H, W), max over channels, of one model on one stored image."""
    stored = sample_image(db, benchmark_id, sample_id)
    if stored is None:
        raise CheckpointError(f"No image of sample {sample_id} in {benchmark_id}.")
    image, label = stored
    return gradient_saliency(load_model(db, model_id), to_input(image[None])[0], label)
