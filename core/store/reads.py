"""Queries of the build tables that several modules share."""

from __future__ import annotations

import duckdb

from .schema import table_exists

__all__ = ["num_classes", "table_exists", "done_pairs"]


def num_classes(con: duckdb.DuckDBPyConnection) -> int:
    """Number of classes of the store's dataset; 0 before ``dataset_info`` has a row."""
    row = con.execute("SELECT max(num_classes) FROM dataset_info").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def done_pairs(con: duckdb.DuckDBPyConnection) -> set[tuple[str, str]]:
    """(model_id, benchmark_id) pairs whose result is complete (evaluations row present)."""
    return set(con.execute("SELECT model_id, benchmark_id FROM evaluations").fetchall())
