"""Transactional bulk writes: one unit of work (a model row, one model's results on its
benchmarks, one analysis table) is written in a single transaction, so an interrupted build never leaves half a
result behind. Bulk data goes in through pandas/Arrow, never row by row.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from ._transaction import transaction
from .schema import check_columns

__all__ = [
    "transaction",
    "insert_rows",
    "replace_rows",
    "write_model_results",
    "metrics_table",
]


def _quoted(names) -> str:
    return ", ".join(f'"{name}"' for name in names)


def _insert_frame(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame | pa.Table
                  ) -> None:
    # Table and column names are checked against the schema; values travel through the
    # registered frame, never through the SQL text.
    names = list(frame.column_names if isinstance(frame, pa.Table) else frame.columns)
    check_columns(table, names)
    cols = _quoted(names)
    con.register("_frame", frame)
    try:
        con.execute(f'INSERT INTO "{table}" ({cols}) SELECT {cols} FROM _frame')
    finally:
        con.unregister("_frame")


def _delete_where(con: duckdb.DuckDBPyConnection, table: str,
                  where: dict[str, object] | None) -> None:
    check_columns(table, where or ())
    if where is None:
        con.execute(f'DELETE FROM "{table}"')
        return
    clause = " AND ".join(f'"{k}" = ?' for k in where)
    con.execute(f'DELETE FROM "{table}" WHERE {clause}', list(where.values()))


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame | pa.Table
                ) -> None:
    """Append rows (inside the caller's transaction when there is one)."""
    _insert_frame(con, table, frame)


def replace_rows(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame,
                 *, where: dict[str, object] | None = None) -> None:
    """In one transaction delete the rows matching `where` (all rows when None) and insert `frame`."""
    with transaction(con):
        _delete_where(con, table, where)
        if len(frame):
            _insert_frame(con, table, frame)


def _insert_features(con: duckdb.DuckDBPyConnection, model_id: str, benchmark_id: str,
                     sample_ids, features: np.ndarray) -> None:
    feats = np.ascontiguousarray(features, dtype=np.float32)
    n, m = feats.shape
    _insert_frame(con, "features", pa.table({
        "model_id": pa.array([model_id] * n, pa.string()),
        "benchmark_id": pa.array([benchmark_id] * n, pa.string()),
        "sample_id": pa.array(np.asarray(sample_ids, dtype=np.int32)),
        "feature": pa.ListArray.from_arrays(pa.array(np.arange(0, n * m + 1, m, dtype=np.int32)),
                                            pa.array(feats.reshape(-1)))}))


def write_model_results(con: duckdb.DuckDBPyConnection, model_id: str, metrics: pa.Table,
                        evaluations: pd.DataFrame,
                        features: dict[str, np.ndarray] | None = None, *,
                        sample_ids=None) -> None:
    """Write one model's results on several benchmarks — ``sample_metrics`` rows of all of them,
    one ``evaluations`` row each (columns ``model_id``, ``benchmark_id``, …) and optional
    features (benchmark id → (n, m), rows in ``sample_ids`` order) — in one transaction, after
    deleting whatever those (model, benchmark) pairs held: after a crash the model has all of
    these results or none of them."""
    with transaction(con):
        con.register("_pairs", pd.DataFrame({"benchmark_id": evaluations["benchmark_id"]}))
        try:
            for table in ("sample_metrics", "evaluations", "features"):
                con.execute(f'DELETE FROM "{table}" WHERE model_id = ? AND benchmark_id IN '
                            '(SELECT benchmark_id FROM _pairs)', [model_id])
        finally:
            con.unregister("_pairs")
        _insert_frame(con, "sample_metrics", metrics)
        _insert_frame(con, "evaluations", evaluations)
        for benchmark_id, feats in (features or {}).items():
            _insert_features(con, model_id, benchmark_id, sample_ids, feats)


def metrics_table(model_id: str, benchmark_id: str, sample_ids, labels, geometry: dict
                  ) -> pa.Table:
    """Arrow table of `sample_metrics` rows for one (model, benchmark) from `compute_geometry`'s
    output (tensors or arrays; ``angles`` is (N, C))."""
    def arr(key):
        value = geometry[key]
        return value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)

    labels = np.asarray(labels)
    pred = arr("pred")
    angles = arr("angles").astype(np.float32)
    n, c = angles.shape
    return pa.table({
        "model_id": pa.array([model_id] * n, pa.string()),
        "benchmark_id": pa.array([benchmark_id] * n, pa.string()),
        "sample_id": pa.array(np.asarray(sample_ids, dtype=np.int32)),
        "label": pa.array(labels.astype(np.int16)),
        "pred": pa.array(pred.astype(np.int16)),
        "correct": pa.array(pred == labels),
        **{k: pa.array(arr(k).astype(np.float32)) for k in ("angle", "l2", "margin", "prob",
                                                              "confidence")},
        "angles": pa.FixedSizeListArray.from_arrays(pa.array(angles.reshape(-1)), c),
    })
