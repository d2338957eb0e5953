"""Reads of what a results database holds — its tables, models, benchmarks, evaluations, dataset,
build progress and settings, sample ids — as ``(con, …) → DataFrame`` functions for the app (its
cached wrappers are in ``app/queries``)."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from .frames import CLEAN, dense_first, missing_tables, read_frame
from .files import open_duckdb

__all__ = ["table_names", "limit_resources", "is_memory_limit", "build_progress", "models",
           "benchmarks", "dataset_info", "evaluations", "severities", "sample_ids",
           "margin_has_bias"]


def table_names(con: duckdb.DuckDBPyConnection) -> frozenset[str]:
    """Names of the tables of ``con``'s database."""
    rows = con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    return frozenset(r[0] for r in rows)


def limit_resources(con: duckdb.DuckDBPyConnection, *, threads: int, memory_limit: str) -> None:
    """Cap ``con``'s DuckDB threads and memory (``memory_limit`` as DuckDB spells it, "2GB")."""
    con.execute("SET threads = ?", [threads])
    con.execute("SET memory_limit = ?", [memory_limit])


def is_memory_limit(text: str) -> bool:
    """Whether DuckDB accepts ``text`` as a memory limit ("2GB", "512MiB"): DuckDB itself is the
    judge of its syntax, asked on a scratch connection."""
    scratch = open_duckdb()
    try:
        scratch.execute("SET memory_limit = ?", [text])
        return True
    except duckdb.Error:
        return False
    finally:
        scratch.close()


def build_progress(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The build's stages: stage, done, total, message, oldest update first."""
    return read_frame(con, "SELECT stage, done, total, message FROM build_progress "
                      "ORDER BY updated_at", tables=("build_progress",))


def models(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """One row per model, in display order (dense first within an arch)."""
    return read_frame(con, f"SELECT * FROM models ORDER BY {dense_first()}", tables=("models",))


def benchmarks(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Clean first, then corruptions in name order and severity."""
    return read_frame(con, "SELECT * FROM benchmarks ORDER BY corruption <> ?, corruption, "
                      "severity", [CLEAN], tables=("benchmarks",))


def dataset_info(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The dataset's one row (name, num_classes, class_names, height, width, channels)."""
    return read_frame(con, "SELECT * FROM dataset_info LIMIT 1", tables=("dataset_info",))


def evaluations(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every (model, benchmark) evaluation with its benchmark's corruption and severity."""
    return read_frame(con, "SELECT e.*, b.corruption, b.severity FROM evaluations e "
                      "JOIN benchmarks b USING (benchmark_id)",
                      tables=("evaluations", "benchmarks"))


def severities(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The severities (column severity) of the corrupted benchmarks that have evaluations."""
    return read_frame(con, "SELECT DISTINCT b.severity FROM evaluations e JOIN benchmarks b "
                      "USING (benchmark_id) WHERE b.corruption <> ? ORDER BY 1", [CLEAN],
                      tables=("evaluations", "benchmarks"))


def sample_ids(con: duckdb.DuckDBPyConnection) -> np.ndarray:
    """Sorted ids (int64) of the samples with per-sample results or a stored image."""
    sources = [t for t in ("sample_metrics", "images") if not missing_tables(con, (t,))]
    if not sources:
        return np.empty(0, dtype=np.int64)
    # The table names come from the fixed tuple above, never from a caller.
    query = " UNION ".join(f"SELECT DISTINCT sample_id FROM {t}" for t in sources)
    frame = con.execute(query + " ORDER BY 1").df()
    return frame["sample_id"].to_numpy(dtype=np.int64)


def margin_has_bias(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the database's margins include the head's bias: its ``bias_in_margin`` build
    setting; databases without the setting (built before it, or synthetic) use the bias."""
    frame = read_frame(con, "SELECT value FROM build_settings WHERE name = ?", ["bias_in_margin"],
                       tables=("build_settings",))
    return frame.empty or frame["value"].iloc[0] != "false"
