"""Read-only access to the results database for the app.

The builder publishes the database by atomically replacing the file, so the app keys every cache on
the file's identity (path, modification time, size): a new build is picked up on the next rerun,
while queries already running keep reading the old file through their open handle.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import streamlit as st

from app.settings import settings
from core.store import SchemaVersionError, check_schema_version

DEFAULT_DB = "cache/demo.duckdb"


@dataclass(frozen=True)
class DbRef:
    """A hashable reference to one version of the database file (the cache key of every query)."""

    path: str
    mtime_ns: int
    size: int

    @property
    def exists(self) -> bool:
        return self.mtime_ns > 0

    def sql(self, query: str, params: list | tuple = ()) -> pd.DataFrame:
        """Run a parameterised query (values are bound, never formatted into the SQL)."""
        try:
            return _run(_connection(self), query, params)
        except duckdb.ConnectionException:
            # Another session saw a newer file and closed this connection mid-query: the newer
            # file holds everything the old one did, so answer from it.
            return _run(_connection(current_db()), query, params)

    def call(self, query, *args) -> pd.DataFrame:
        """``query(con, *args)``: a ``core.store`` query function run on this database's
        connection (with the same fallback to a newer file as :meth:`sql`)."""
        try:
            return _call(_connection(self), query, args)
        except duckdb.ConnectionException:
            return _call(_connection(current_db()), query, args)

    def has_table(self, name: str) -> bool:
        return name in self.tables()

    def tables(self) -> frozenset[str]:
        return _tables(self)


def _call(con: duckdb.DuckDBPyConnection, query, args):
    cursor = con.cursor()
    try:
        return query(cursor, *args)
    finally:
        cursor.close()


def _run(con: duckdb.DuckDBPyConnection, query: str, params) -> pd.DataFrame:
    cursor = con.cursor()
    try:
        return cursor.execute(query, list(params)).df()
    finally:
        cursor.close()


def db_path() -> Path:
    """The database the app shows: ``$ROBUSTNESS_DB`` or ``cache/demo.duckdb`` (set by the
    operator, never by a page's user)."""
    return Path(os.environ.get("ROBUSTNESS_DB", DEFAULT_DB))


def current_db() -> DbRef:
    path = db_path()
    try:
        stat = path.stat()
    except FileNotFoundError:
        return DbRef(str(path), 0, 0)
    return DbRef(str(path), stat.st_mtime_ns, stat.st_size)


# DuckDB shares one database instance per path inside a process, so a connection to a replaced
# file would keep serving the old file to every new connection. Hence one connection per path,
# replaced (and the old one closed) when a newer version of the file appears.
_LOCK = threading.Lock()
_OPEN: dict[str, tuple[DbRef, duckdb.DuckDBPyConnection]] = {}


def _connection(db: DbRef) -> duckdb.DuckDBPyConnection:
    with _LOCK:
        held = _OPEN.get(db.path)
        if held is not None and (held[0] == db or held[0].mtime_ns > db.mtime_ns):
            return held[1]
        if held is not None:
            held[1].close()
            del _OPEN[db.path]
        con = _open(db)
        _OPEN[db.path] = (db, con)
        return con


def _open(db: DbRef) -> duckdb.DuckDBPyConnection:
    if not db.exists:
        raise FileNotFoundError(f"Database {db.path} does not exist. Build it with "
                                f"`python -m core build --preset demo --db {db.path}`.")
    con = duckdb.connect(db.path, read_only=True)
    try:
        limit_connection(con)
        check_schema_version(con, db.path)
    except BaseException:  # e.g. SchemaVersionError, or a SettingsError of the limits
        con.close()
        raise
    return con


def limit_connection(con: duckdb.DuckDBPyConnection) -> None:
    """Apply the server's DuckDB ``threads`` and ``memory_limit`` (app.settings) to ``con``:
    one user's query cannot take every core or all memory of a shared server."""
    limits = settings()
    con.execute("SET threads = ?", [limits.duckdb_threads])
    con.execute("SET memory_limit = ?", [limits.duckdb_memory_limit])


@st.cache_data(max_entries=8, show_spinner=False)
def _tables(db: DbRef) -> frozenset[str]:
    if not db.exists:
        return frozenset()
    frame = db.sql("SELECT table_name FROM information_schema.tables")
    return frozenset(frame["table_name"])
