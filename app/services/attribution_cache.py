"""The writable cache of the occlusion and gradient maps the Attribution page computes.

The app opens the results database read-only (the builder replaces it atomically), so computed
maps go to a separate DuckDB file beside it, ``<db>.attributions.duckdb``. Its table
``attributions`` has the columns of the results database's ``attributions`` table (taken from
core.store, not repeated here) plus ``pred`` (the model's prediction on the unoccluded image) and
``weights_key`` (the checkpoint file's identity: a rebuilt checkpoint invalidates its maps).
Its table ``gradient_attributions`` holds the gradient maps (Integrated Gradients, Grad-CAM) as
core.attribution returns them, one row per (model, method, metric) of a `GradientKey`.

The cache is bounded: each table keeps at most ``ROBUSTNESS_ATTRIBUTION_CACHE_ROWS`` maps (see
app.settings), and every write evicts the oldest ones beyond that, by the column ``stored_order``
(from a sequence: the order the maps were written in). A cache file of another layout (e.g. from
a version without ``stored_order``) is emptied and recreated: it holds nothing the app cannot
compute again.
"""

from __future__ import annotations

import functools
import threading

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import streamlit as st

from app.db import limit_connection
from app.services.attribution_types import GradientKey, OcclusionKey
from app.settings import settings
from core import store
from core.attribution import OCCLUSION_METRICS
from core.store.samples import ATTRIBUTION_KEY_FILTER as KEY_FILTER

__all__ = ["CACHE_SUFFIX", "AttributionCache", "attribution_cache", "cache_table",
           "gradient_table"]

CACHE_SUFFIX = ".attributions.duckdb"
_TABLES = ("attributions", "gradient_attributions")
_ORDER_SEQUENCE = "CREATE SEQUENCE IF NOT EXISTS stored_order_seq"
_ORDER_COLUMN = "stored_order BIGINT DEFAULT nextval('stored_order_seq')"
_EXTRA_COLUMNS = {"pred": "INTEGER", "weights_key": "VARCHAR"}
_GRADIENT_DDL = f"""CREATE TABLE IF NOT EXISTS gradient_attributions(model_id VARCHAR,
    benchmark_id VARCHAR, sample_id INTEGER, baseline DOUBLE, steps INTEGER, method VARCHAR,
    metric VARCHAR, height INTEGER, width INTEGER, "values" FLOAT[], weights_key VARCHAR,
    {_ORDER_COLUMN})"""
_GRADIENT_FILTER = ("benchmark_id = ? AND sample_id = ? AND baseline = ? AND steps = ? "
                    "AND model_id IN (SELECT unnest(?))")


def _create_table_sql() -> str:
    """The cache table's DDL: the columns core.store gives ``attributions``, then the extras."""
    template = store.open_duckdb()
    try:
        store.create_schema(template, num_classes=1)
        columns = template.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'attributions' ORDER BY ordinal_position").fetchall()
    finally:
        template.close()
    columns += list(_EXTRA_COLUMNS.items())
    return ("CREATE TABLE IF NOT EXISTS attributions("
            + ", ".join(f'"{name}" {kind}' for name, kind in columns) + f", {_ORDER_COLUMN})")


def _layout(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """(table, column, type) of the cache tables in ``con``, in order."""
    return con.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_name IN (SELECT unnest(?)) ORDER BY table_name, ordinal_position",
        [list(_TABLES)]).fetchall()


def _create_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(_ORDER_SEQUENCE)
    con.execute(_create_table_sql())
    con.execute(_GRADIENT_DDL)


@functools.cache
def _expected_layout() -> list[tuple]:
    template = store.open_duckdb()
    try:
        _create_tables(template)
        return _layout(template)
    finally:
        template.close()


class AttributionCache:
    """One process-wide connection to ``<db>.attributions.duckdb``; writes under a lock.

    ``max_rows``: maps kept per table (≥ 1); each write evicts the oldest beyond it. When the
    file cannot be opened (a read-only directory, another process holding it) the maps are kept
    in memory for this process only, and `note` says so.
    """

    def __init__(self, path: str, *, max_rows: int):
        if isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1:
            raise ValueError(f"`max_rows` must be an integer ≥ 1. Got {max_rows!r} instead.")
        self.max_rows = max_rows
        self.lock = threading.Lock()
        self.note = ""
        try:
            self.con = store.open_duckdb(path)
        except (duckdb.Error, OSError, store.NotADuckDBFile) as exc:
            self.con = store.open_duckdb()
            self.note = f"Computed maps are not saved to {path} ({exc}); they last until restart."
        limit_connection(self.con)
        layout = _layout(self.con)
        if layout and layout != _expected_layout():  # another version's cache: start afresh
            for table in _TABLES:
                self.con.execute(f"DROP TABLE IF EXISTS {table}")
        _create_tables(self.con)

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
        self._replace("attributions", f"DELETE FROM attributions WHERE {KEY_FILTER}",
                      key.params() + [[model_id]], table)

    def read_gradients(self, key: GradientKey, model_ids: list[str]) -> pd.DataFrame:
        """The cached gradient maps of ``key`` for ``model_ids``: one row per (model, method,
        metric) with model_id, method, metric, height, width, values and weights_key."""
        cursor = self.con.cursor()
        try:
            return cursor.execute(
                'SELECT model_id, method, metric, height, width, "values", weights_key '
                f"FROM gradient_attributions WHERE {_GRADIENT_FILTER}",
                key.params() + [list(model_ids)]).df()
        finally:
            cursor.close()

    def add_gradients(self, key: GradientKey, model_id: str, table: pa.Table) -> None:
        """Store ``table`` (from `gradient_table`), replacing the rows of ``key`` for
        ``model_id`` with the same (method, metric), in one transaction."""
        self._replace(
            "gradient_attributions",
            f"DELETE FROM gradient_attributions WHERE {_GRADIENT_FILTER} AND "
            "(method || ':' || metric) IN (SELECT unnest(?))",
            key.params() + [[model_id], [f"{m}:{n}" for m, n in zip(
                table["method"].to_pylist(), table["metric"].to_pylist())]], table)

    def _replace(self, name: str, delete_sql: str, params: list, table: pa.Table) -> None:
        with self.lock:
            cursor = self.con.cursor()
            try:
                with store.transaction(cursor):
                    cursor.execute(delete_sql, params)
                    cursor.register("_rows", table)
                    cursor.execute(f"INSERT INTO {name} BY NAME SELECT * FROM _rows")
                    # Keep the newest max_rows maps (stored_order values are unique).
                    cursor.execute(
                        f"DELETE FROM {name} WHERE stored_order < (SELECT min(stored_order) FROM "
                        f"(SELECT stored_order FROM {name} ORDER BY stored_order DESC LIMIT ?))",
                        [self.max_rows])
            finally:
                cursor.close()


@st.cache_resource(max_entries=4, show_spinner=False)
def attribution_cache(db_path: str) -> AttributionCache:
    """The cache beside the results database at ``db_path`` (one per process)."""
    return AttributionCache(db_path + CACHE_SUFFIX, max_rows=settings().attribution_cache_rows)


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


def gradient_table(model_id: str, key: GradientKey, maps: dict[str, np.ndarray],
                   weights_key: str | None) -> pa.Table:
    """One model's gradient maps as ``gradient_attributions`` rows: ``maps`` maps a column id
    ``"method:metric"`` to its (H, W) map."""
    columns = list(maps)
    n = len(columns)
    height, width = maps[columns[0]].shape
    values = np.stack([maps[c].astype(np.float32).reshape(-1) for c in columns])
    return pa.table({
        "model_id": pa.array([model_id] * n, pa.string()),
        "benchmark_id": pa.array([key.benchmark_id] * n, pa.string()),
        "sample_id": pa.array([key.sample_id] * n, pa.int32()),
        "baseline": pa.array([key.baseline] * n, pa.float64()),
        "steps": pa.array([key.steps] * n, pa.int32()),
        "method": pa.array([c.split(":")[0] for c in columns], pa.string()),
        "metric": pa.array([c.split(":")[1] for c in columns], pa.string()),
        "height": pa.array([height] * n, pa.int32()),
        "width": pa.array([width] * n, pa.int32()),
        "values": pa.ListArray.from_arrays(
            pa.array(np.arange(0, values.size + 1, height * width, dtype=np.int32)),
            pa.array(values.reshape(-1))),
        "weights_key": pa.array([weights_key] * n, pa.string()),
    })
