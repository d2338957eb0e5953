"""Queries of the build tables that several modules share."""

from __future__ import annotations

import duckdb

from .schema import table_exists

__all__ = ["table_exists", "done_pairs"]


def done_pairs(con: duckdb.DuckDBPyConnection) -> set[tuple[str, str]]:
    """(model_id, benchmark_id) pairs whose result is complete (evaluations row present)."""
    return set(con.execute("SELECT model_id, benchmark_id FROM evaluations").fetchall())
