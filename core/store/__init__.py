"""DuckDB store: the schema of SPEC §7 plus the analysis tables, and transactional bulk writes.

Every write of one unit of work (a model row, one (model, benchmark) result, one analysis table)
happens in a single transaction, so an interrupted build never leaves half a result behind.
Bulk data goes in through pandas/Arrow, never row by row.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

__all__ = [
    "SCHEMA_VERSION",
    "SchemaVersionError",
    "connect",
    "open_read_only",
    "create_schema",
    "num_classes",
    "table_exists",
    "replace_rows",
    "insert_rows",
    "transaction",
    "write_result",
    "upsert_model",
    "done_pairs",
    "metrics_table",
]

SCHEMA_VERSION = 1


class SchemaVersionError(RuntimeError):
    """The database was written by another schema version of this tool."""


# Tables whose shape does not depend on the number of classes.
_FIXED_DDL = """
CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS dataset_info(
    dataset VARCHAR PRIMARY KEY, num_classes INTEGER, class_names VARCHAR[],
    height INTEGER, width INTEGER, channels INTEGER, split VARCHAR, n_eval INTEGER);
CREATE TABLE IF NOT EXISTS models(
    model_id VARCHAR PRIMARY KEY, arch VARCHAR, dataset VARCHAR, method VARCHAR, ratio DOUBLE,
    retrained BOOLEAN, sparsity DOUBLE, params_total BIGINT, params_nonzero BIGINT, seed INTEGER,
    width DOUBLE, feature_dim INTEGER, arch_config VARCHAR, checkpoint VARCHAR, source VARCHAR,
    fit_seconds DOUBLE);
CREATE TABLE IF NOT EXISTS benchmarks(
    benchmark_id VARCHAR PRIMARY KEY, dataset VARCHAR, corruption VARCHAR, severity INTEGER,
    category VARCHAR);
CREATE TABLE IF NOT EXISTS evaluations(
    model_id VARCHAR, benchmark_id VARCHAR, n INTEGER, accuracy DOUBLE, mean_angle DOUBLE,
    mean_l2 DOUBLE, mean_margin DOUBLE, mean_prob DOUBLE);
CREATE TABLE IF NOT EXISTS images(
    benchmark_id VARCHAR, sample_id INTEGER, label SMALLINT, height SMALLINT, width SMALLINT,
    channels SMALLINT, pixels BLOB);
CREATE TABLE IF NOT EXISTS build_progress(
    stage VARCHAR PRIMARY KEY, done INTEGER, total INTEGER, message VARCHAR, updated_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS robustness(model_id VARCHAR, sample_id INTEGER, robustness INTEGER,
    n_benchmarks INTEGER);
CREATE TABLE IF NOT EXISTS pruning_vulnerability(arch VARCHAR, method VARCHAR, retrained BOOLEAN,
    sample_id INTEGER, pv INTEGER, n_models INTEGER);
CREATE TABLE IF NOT EXISTS correlations(model_id VARCHAR, target VARCHAR, metric VARCHAR,
    pearson DOUBLE, spearman DOUBLE, n INTEGER);
CREATE TABLE IF NOT EXISTS embeddings(model_id VARCHAR, benchmark_id VARCHAR, x DOUBLE, y DOUBLE,
    space VARCHAR);
CREATE TABLE IF NOT EXISTS cka(benchmark_id VARCHAR, model_a VARCHAR, model_b VARCHAR, cka DOUBLE);
CREATE TABLE IF NOT EXISTS benchmark_similarity(corruption_a VARCHAR, corruption_b VARCHAR,
    similarity DOUBLE, measure VARCHAR, rank INTEGER);
CREATE TABLE IF NOT EXISTS dimension_angles(kind VARCHAR, dim INTEGER, mean DOUBLE, std DOUBLE,
    model_id VARCHAR);
CREATE TABLE IF NOT EXISTS vulnerable_samples(arch VARCHAR, sample_id INTEGER, pie BOOLEAN,
    pie_count INTEGER, low_pv BOOLEAN, pv INTEGER, geometric_score DOUBLE);
CREATE TABLE IF NOT EXISTS vulnerability_auc(arch VARCHAR, target VARCHAR, score VARCHAR,
    auc DOUBLE, n_positive INTEGER, n INTEGER);
CREATE TABLE IF NOT EXISTS attributions(model_id VARCHAR, benchmark_id VARCHAR, sample_id INTEGER,
    "window" INTEGER, stride INTEGER, baseline DOUBLE, metric VARCHAR, height INTEGER,
    width INTEGER, base_value DOUBLE, "values" FLOAT[]);
"""


def _class_ddl(c: int) -> str:
    return f"""
CREATE TABLE IF NOT EXISTS sample_metrics(
    model_id VARCHAR, benchmark_id VARCHAR, sample_id INTEGER, label SMALLINT, pred SMALLINT,
    correct BOOLEAN, angle FLOAT, l2 FLOAT, margin FLOAT, prob FLOAT, confidence FLOAT,
    angles FLOAT[{int(c)}]);
CREATE TABLE IF NOT EXISTS features(model_id VARCHAR, benchmark_id VARCHAR, sample_id INTEGER,
    feature FLOAT[]);
"""


def connect(path: str | os.PathLike, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open a database file (created when writing), checking its schema version."""
    path = Path(path)
    if read_only and not path.exists():
        raise FileNotFoundError(
            f"Database {path} does not exist. Build it first: python -m core build --preset demo "
            f"--db {path}")
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        raise RuntimeError(
            f"Cannot open database {path}: {exc}. Another process may hold it for writing, or the "
            "file is not a DuckDB database.") from exc
    check_schema_version(con, path)
    return con


def open_read_only(path: str | os.PathLike) -> duckdb.DuckDBPyConnection:
    return connect(path, read_only=True)


def check_schema_version(con: duckdb.DuckDBPyConnection, path: str | os.PathLike = "") -> None:
    if not table_exists(con, "schema_version"):
        return
    row = con.execute("SELECT max(version) FROM schema_version").fetchone()
    if row and row[0] is not None and row[0] != SCHEMA_VERSION:
        raise SchemaVersionError(
            f"Database {path} has schema version {row[0]}; this tool reads version "
            f"{SCHEMA_VERSION}. Rebuild it: delete the file and run python -m core build.")


def create_schema(con: duckdb.DuckDBPyConnection, *, num_classes: int) -> None:
    """Create every table (idempotent). `num_classes` fixes the width of `angles FLOAT[C]`."""
    with transaction(con):
        con.execute(_FIXED_DDL)
        con.execute(_class_ddl(num_classes))
        if con.execute("SELECT count(*) FROM schema_version").fetchone()[0] == 0:
            con.execute("INSERT INTO schema_version VALUES (?)", [SCHEMA_VERSION])


def num_classes(con: duckdb.DuckDBPyConnection) -> int:
    row = con.execute("SELECT max(num_classes) FROM dataset_info").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
    ).fetchone()[0] > 0


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def _insert_frame(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame | pa.Table
                  ) -> None:
    # Column names are ours (never user input); values travel through the registered frame.
    names = frame.column_names if isinstance(frame, pa.Table) else frame.columns
    cols = ", ".join(f'"{c}"' for c in names)
    con.register("_frame", frame)
    try:
        con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _frame")
    finally:
        con.unregister("_frame")


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


def _delete_where(con, table: str, where: dict[str, object] | None) -> None:
    if where is None:
        con.execute(f"DELETE FROM {table}")
        return
    clause = " AND ".join(f'"{k}" = ?' for k in where)
    con.execute(f"DELETE FROM {table} WHERE {clause}", list(where.values()))


def upsert_model(con: duckdb.DuckDBPyConnection, row: dict) -> None:
    replace_rows(con, "models", pd.DataFrame([row]), where={"model_id": row["model_id"]})


def write_result(con: duckdb.DuckDBPyConnection, model_id: str, benchmark_id: str,
                 metrics: pa.Table, evaluation: dict,
                 features: np.ndarray | None = None) -> None:
    """Write one (model, benchmark) result — sample metrics, evaluation and optional features —
    atomically: after a crash either all of it is there or none of it."""
    key = {"model_id": model_id, "benchmark_id": benchmark_id}
    with transaction(con):
        for table in ("sample_metrics", "evaluations", "features"):
            _delete_where(con, table, key)
        _insert_frame(con, "sample_metrics", metrics)
        _insert_frame(con, "evaluations", pd.DataFrame([{**key, **evaluation}]))
        if features is not None:
            feats = np.ascontiguousarray(features, dtype=np.float32)
            n, m = feats.shape
            frame = pa.table({
                "model_id": pa.array([model_id] * n, pa.string()),
                "benchmark_id": pa.array([benchmark_id] * n, pa.string()),
                "sample_id": metrics["sample_id"],
                "feature": pa.ListArray.from_arrays(
                    pa.array(np.arange(0, n * m + 1, m, dtype=np.int32)),
                    pa.array(feats.reshape(-1)))})
            _insert_frame(con, "features", frame)


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


def done_pairs(con: duckdb.DuckDBPyConnection) -> set[tuple[str, str]]:
    """(model_id, benchmark_id) pairs whose result is complete (evaluations row present)."""
    return set(con.execute("SELECT model_id, benchmark_id FROM evaluations").fetchall())
