"""Reads of the stored placements (``embeddings``, ``placement_quality``) for the similarity
view, as ``(con, …) → DataFrame`` functions (the app's cached wrappers are in ``app/queries``).

``scope`` says how a placement was made: 'benchmark' (the models of one benchmark placed
together) or 'shared' (every (model, benchmark) placed in one plane). A database written before
the column existed holds per-benchmark placements only: its NULL scope reads as 'benchmark'.
"""

from __future__ import annotations

from typing import Sequence

import duckdb
import pandas as pd

__all__ = ["POINT_COLUMNS", "QUALITY_COLUMNS", "placement_points", "placement_quality_rows",
           "shared_overall_quality", "placement_scopes"]

POINT_COLUMNS = ["model_id", "benchmark_id", "x", "y", "arch", "method", "ratio", "retrained"]
QUALITY_COLUMNS = ["benchmark_id", "n_models", "n_neighbors", "trustworthiness", "spearman"]


def _has(con: duckdb.DuckDBPyConnection, table: str, column: str | None = None) -> bool:
    query = "SELECT count(*) FROM information_schema.columns WHERE table_name = ?"
    params = [table]
    if column is not None:
        query += " AND column_name = ?"
        params.append(column)
    return con.execute(query, params).fetchone()[0] > 0


def _scope(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """The scope expression of ``table``: its column, or 'benchmark' before it existed."""
    return "coalesce(scope, 'benchmark')" if _has(con, table, "scope") else "'benchmark'"


def placement_scopes(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """(space, scope) of every placement the database holds, sorted."""
    if not _has(con, "embeddings"):
        return pd.DataFrame(columns=["space", "scope"])
    return con.execute(f"SELECT DISTINCT space, {_scope(con, 'embeddings')} AS scope "
                       "FROM embeddings ORDER BY 1, 2").df()


def placement_points(con: duckdb.DuckDBPyConnection, space: str, scope: str,
                     benchmark_ids: Sequence[str]) -> pd.DataFrame:
    """The placed (x, y) of every (model, benchmark) of ``benchmark_ids`` in the placement
    (``space``, ``scope``), with the model's arch, method, ratio and retrained flag."""
    if not _has(con, "embeddings"):
        return pd.DataFrame(columns=POINT_COLUMNS)
    return con.execute(f"""
        SELECT e.model_id, e.benchmark_id, e.x, e.y, m.arch, m.method, m.ratio, m.retrained
        FROM embeddings e JOIN models m USING (model_id)
        WHERE e.space = ? AND {_scope(con, 'embeddings')} = ?
          AND e.benchmark_id IN (SELECT unnest(?::VARCHAR[]))
        ORDER BY e.benchmark_id, e.model_id""", [space, scope, list(benchmark_ids)]).df()


def placement_quality_rows(con: duckdb.DuckDBPyConnection, space: str, scope: str,
                           benchmark_ids: Sequence[str]) -> pd.DataFrame:
    """Quality of the placement (``space``, ``scope``) on each of ``benchmark_ids`` (its points
    of that benchmark alone): trustworthiness (fraction) of the ``n_neighbors``-nearest
    neighbours and Spearman ρ of drawn vs true distances."""
    if not _has(con, "placement_quality"):
        return pd.DataFrame(columns=QUALITY_COLUMNS)
    return con.execute(f"""
        SELECT benchmark_id, n_models, n_neighbors, trustworthiness, spearman
        FROM placement_quality
        WHERE space = ? AND {_scope(con, 'placement_quality')} = ?
          AND benchmark_id IN (SELECT unnest(?::VARCHAR[]))
        ORDER BY benchmark_id""", [space, scope, list(benchmark_ids)]).df()


def shared_overall_quality(con: duckdb.DuckDBPyConnection, space: str) -> pd.DataFrame:
    """The quality of the shared placement ``space`` over all its points (the row with a NULL
    benchmark_id): n_models = number of points; empty when not stored."""
    if not _has(con, "placement_quality", "scope"):
        return pd.DataFrame(columns=QUALITY_COLUMNS)
    return con.execute("""
        SELECT benchmark_id, n_models, n_neighbors, trustworthiness, spearman
        FROM placement_quality
        WHERE space = ? AND scope = 'shared' AND benchmark_id IS NULL""", [space]).df()
