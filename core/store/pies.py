"""Queries of the PIE tables (``pie_flags``, ``pie_auc``; see docs/analysis.md, PIEs) for the
app's vulnerable-sample finder: ``(con, …) → DataFrame``, values bound, never formatted; a
database without the tables (built before the seed population, or without it) reads as empty
frames (``core.store.frames.read_frame``)."""

from __future__ import annotations

import duckdb
import pandas as pd

from .frames import read_frame

__all__ = ["PIE_COUNT_COLUMNS", "PIE_AUC_ROW_COLUMNS", "pie_archs", "pie_counts", "pie_auc_rows"]

PIE_COUNT_COLUMNS = ["method", "ratio", "retrained", "n_pie", "n", "n_seeds"]
PIE_AUC_ROW_COLUMNS = ["method", "ratio", "retrained", "score", "auc", "n_positive", "n"]


def pie_archs(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The architectures that have a seed population's PIE flags, sorted."""
    return read_frame(con, "SELECT DISTINCT arch FROM pie_flags ORDER BY arch",
                      tables=("pie_flags",))["arch"].tolist()


def pie_counts(con: duckdb.DuckDBPyConnection, arch: str) -> pd.DataFrame:
    """PIEs per pruned population of ``arch``: (method, ratio, retrained, n_pie, n, n_seeds),
    n = flagged samples, by (method, retrained, ratio)."""
    return read_frame(con, """
        SELECT method, ratio, retrained, sum(pie::INTEGER)::INTEGER AS n_pie,
               count(*)::INTEGER AS n, max(n_seeds)::INTEGER AS n_seeds
        FROM pie_flags WHERE arch = ? GROUP BY method, ratio, retrained
        ORDER BY method, retrained, ratio""", [arch], tables=("pie_flags",))


def pie_auc_rows(con: duckdb.DuckDBPyConnection, arch: str) -> pd.DataFrame:
    """The finder's AUCs against each pruned population's PIEs of ``arch``:
    (method, ratio, retrained, score, auc, n_positive, n)."""
    return read_frame(con, """
        SELECT method, ratio, retrained, score, auc, n_positive, n FROM pie_auc
        WHERE arch = ? ORDER BY method, retrained, ratio, score""", [arch], tables=("pie_auc",))
