"""How the store's reads answer: a query's rows as a DataFrame, or — when a table it reads is
missing (an old database, a stage not run yet) — the same query's empty result on the schema, so
an empty frame has the columns and types of a full one without a hand-written column list.

Also the two spellings every read shares: the models' display order (dense first) and the clean
benchmark.
"""

from __future__ import annotations

import threading

import duckdb
import pandas as pd

from .files import open_duckdb
from .schema import ANALYSIS_STATE_DDL, FIXED_DDL, class_ddl, table_exists

__all__ = ["CLEAN", "dense_first", "read_frame", "missing_tables"]

# The clean benchmark: its id and its ``corruption`` (bound as a parameter, never spelt in SQL).
CLEAN = "clean"

_SCHEMA_LOCK = threading.Lock()
_SCHEMA: list[duckdb.DuckDBPyConnection] = []  # one in-memory database holding the empty schema


def dense_first(alias: str = "") -> str:
    """The ORDER BY terms of the models' display order — by arch, the dense model first, then
    method, retrained, ratio — on the models table aliased ``alias`` (fixed text: ``alias`` is
    one of the statement's own table aliases, never a value)."""
    if alias and not alias.isidentifier():
        raise ValueError(f"`alias` must be an SQL identifier. Got {alias!r} instead.")
    p = f"{alias}." if alias else ""
    return f"{p}arch, {p}method <> 'dense', {p}method, {p}retrained, {p}ratio"


def missing_tables(con: duckdb.DuckDBPyConnection, tables: tuple[str, ...]) -> list[str]:
    """The names of ``tables`` that ``con``'s database lacks."""
    return [t for t in tables if not table_exists(con, t)]


def _schema_cursor() -> duckdb.DuckDBPyConnection:
    with _SCHEMA_LOCK:
        if not _SCHEMA:
            con = open_duckdb()
            con.execute(FIXED_DDL)
            con.execute(class_ddl(1))
            con.execute(ANALYSIS_STATE_DDL)
            _SCHEMA.append(con)
        return _SCHEMA[0].cursor()


def read_frame(con: duckdb.DuckDBPyConnection, query: str, params: list | tuple = (), *,
               tables: tuple[str, ...]) -> pd.DataFrame:
    """The rows of ``query`` (values bound, never formatted into the SQL) on ``con``; when one
    of ``tables`` (the tables the query reads) is missing there, its empty result on the
    schema."""
    if missing_tables(con, tables):
        cursor = _schema_cursor()
        try:
            return cursor.execute(query, list(params)).df()
        finally:
            cursor.close()
    return con.execute(query, list(params)).df()
