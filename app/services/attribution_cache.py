"""The writable cache of the occlusion maps the Attribution page computes.

The app opens the results database read-only (the builder replaces it atomically), so computed
maps go to a separate DuckDB file beside it, ``<db>.attributions.duckdb``. Its one table,
``attributions``, has the columns of the results database's ``attributions`` table (taken from
core.store, not repeated here) plus ``pred`` (the model's prediction on the unoccluded image) and
``weights_key`` (the checkpoint file's identity: a rebuilt checkpoint invalidates its maps).
"""

from __future__ import annotations

import threading

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import streamlit as st

from app.queries.attribution import KEY_FILTER, OcclusionKey
from core import store
from core.attribution import OCCLUSION_METRICS

__all__ = ["CACHE_SUFFIX", "AttributionCache", "attribution_cache", "cache_table"]

CACHE_SUFFIX = ".attributions.duckdb"
_EXTRA_COLUMNS = {"pred": "INTEGER", "weights_key": "VARCHAR"}


def _create_table_sql() -> str:
    """The cache table's DDL: the columns core.store gives ``attributions``, then the extras."""
    template = duckdb.connect(":memory:")
    try:
        store.create_schema(template, num_classes=1)
        columns = template.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'attributions' ORDER BY ordinal_position").fetchall()
    finally:
        template.close()
    columns += list(_EXTRA_COLUMNS.items())
    return ("CREATE TABLE IF NOT EXISTS attributions("
            + ", ".join(f'"{name}" {kind}' for name, kind in columns) + ")")


class AttributionCache:
    """One process-wide connection to ``<db>.attributions.duckdb``; writes under a lock.

    When the file cannot be opened (a read-only directory, another process holding it) the maps
    are kept in memory for this process only, and `note` says so.
    """

    def __init__(self, path: str):
        self.lock = threading.Lock()
        self.note = ""
        try:
            self.con = duckdb.connect(path)
        except (duckdb.Error, OSError) as exc:
            self.con = duckdb.connect(":memory:")
            self.note = f"Computed maps are not saved to {path} ({exc}); they last until restart."
        self.con.execute(_create_table_sql())

    def read(self, key: OcclusionKey, model_ids: list[str]) -> pd.DataFrame:
        """The cached maps of ``key`` for ``model_ids``: one row per (model, metric) with model_id,
        metric, height, width, base_value, values, pred and weights_key."""
        cursor = self.con.cursor()
        try:
            return cursor.execute(
                'SELECT model_id, metric, height, width, base_value, "values", pred, weights_key '
                f"FROM attributions WHERE {KEY_FILTER}", key.params() + [list(model_ids)]).df()
        finally:
            cursor.close()

    def replace(self, key: OcclusionKey, model_id: str, table: pa.Table) -> None:
        """Replace the maps of ``key`` for ``model_id`` by ``table`` (from `cache_table`), in one
        transaction."""
        with self.lock:
            cursor = self.con.cursor()
            try:
                cursor.execute("BEGIN TRANSACTION")
                cursor.execute(f"DELETE FROM attributions WHERE {KEY_FILTER}",
                               key.params() + [[model_id]])
                cursor.register("_rows", table)
                cursor.execute("INSERT INTO attributions BY NAME SELECT * FROM _rows")
                cursor.execute("COMMIT")
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            finally:
                cursor.close()


@st.cache_resource(max_entries=4, show_spinner=False)
def attribution_cache(db_path: str) -> AttributionCache:
    """The cache beside the results database at ``db_path`` (one per process)."""
    return AttributionCache(db_path + CACHE_SUFFIX)


def cache_table(model_id: str, key: OcclusionKey, maps: dict, base: dict,
                weights_key: str | None) -> pa.Table:
    """One model's maps as the cache table's rows, one per metric of `OCCLUSION_METRICS`.

    ``maps`` metric → (H, W) change; ``base`` metric → value on the unoccluded image, plus
    ``"pred"``; ``weights_key`` the checkpoint file's identity.
    """
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
