"""Reads of the stored placements (``embeddings``, ``placement_quality``) for the similarity
view, as ``(con, …) → DataFrame`` functions (the app's cached wrappers are in ``app/queries``).

``scope`` says how a placement was made: 'benchmark' (the models of one benchmark placed
together) or 'shared' (every (model, benchmark) placed in one plane). A database written before
the column existed holds per-benchmark placements only: its missing or NULL scope reads as
'benchmark'. A missing table gives the empty frame of a full one (``frames.read_frame``).
"""

from __future__ import annotations

from typing import Sequence

import duckdb
import pandas as pd

from .frames import read_frame

__all__ = ["embedding_points", "embedding_spaces", "placement_quality", "shared_quality"]


def _scope(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """The scope expression of ``table`` (fixed text, one of this module's tables): its column,
    or 'benchmark' where the table predates it (a missing table is read on the schema, which
    has the column)."""
    columns, scoped = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE column_name = 'scope') "
        "FROM information_schema.columns WHERE table_name = ?", [table]).fetchone()
    return "'benchmark'" if columns and not scoped else "coalesce(scope, 'benchmark')"


def embedding_spaces(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """(space, scope) of every placement the database holds, sorted."""
    return read_frame(con, f"SELECT DISTINCT space, {_scope(con, 'embeddings')} AS scope "
                      "FROM embeddings ORDER BY 1, 2", tables=("embeddings",))


def embedding_points(con: duckdb.DuckDBPyConnection, space: str, scope: str,
                     benchmark_ids: Sequence[str]) -> pd.DataFrame:
    """The placed (x, y) of every (model, benchmark) of ``benchmark_ids`` in the placement
    (``space``: 'geometry' = stress, 'geometry_umap' = UMAP of the true geometry distances,
    'cka' = placement from CKA; ``scope``), with the model's arch, method, ratio and retrained
    flag."""
    return read_frame(con, f"""
        SELECT e.model_id, e.benchmark_id, e.x, e.y, m.arch, m.method, m.ratio, m.retrained
        FROM embeddings e JOIN models m USING (model_id)
        WHERE e.space = ? AND {_scope(con, 'embeddings')} = ?
          AND e.benchmark_id IN (SELECT unnest(?::VARCHAR[]))
        ORDER BY e.benchmark_id, e.model_id""", [space, scope, list(benchmark_ids)],
        tables=("embeddings", "models"))


def placement_quality(con: duckdb.DuckDBPyConnection, space: str, scope: str,
                      benchmark_ids: Sequence[str]) -> pd.DataFrame:
    """Quality of the placement (``space``, ``scope``) on each of ``benchmark_ids`` (its points
    of that benchmark alone): trustworthiness (fraction) of the ``n_neighbors``-nearest
    neighbours and Spearman ρ of drawn vs true distances."""
    return read_frame(con, f"""
        SELECT benchmark_id, n_models, n_neighbors, trustworthiness, spearman
        FROM placement_quality
        WHERE space = ? AND {_scope(con, 'placement_quality')} = ?
          AND benchmark_id IN (SELECT unnest(?::VARCHAR[]))
        ORDER BY benchmark_id""", [space, scope, list(benchmark_ids)],
        tables=("placement_quality",))


def shared_quality(con: duckdb.DuckDBPyConnection, space: str) -> pd.DataFrame:
    """The quality of the shared placement ``space`` over all its points (the row with a NULL
    benchmark_id): n_models = number of points; empty when not stored."""
    return read_frame(con, f"""
        SELECT benchmark_id, n_models, n_neighbors, trustworthiness, spearman
        FROM placement_quality
        WHERE space = ? AND {_scope(con, 'placement_quality')} = 'shared'
          AND benchmark_id IS NULL""", [space], tables=("placement_quality",))
