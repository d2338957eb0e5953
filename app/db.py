"""Read-only access to the results database for the app.

The builder publishes the database by atomically replacing the file, so the app keys every cache
on the file's identity (:class:`DbRef`: device, inode, size, change and modification time): any
replacement is a new identity, whatever its modification time (a backup restored with
``cp -p``, a builder on a skewed clock), and is picked up on the next rerun.

Connections are reference-counted per version of the file (``bench/db_swap.py`` measured this
against a connection per session): a query keeps the version it started on until it ends, a
replaced version is closed when its last query ends, and a query that still fails while the file
is being swapped is retried once on the new file.
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
from core.store import check_project_connection, check_schema_version, open_read_only_instance

DEFAULT_DB = "cache/demo.duckdb"


@dataclass(frozen=True)
class DbRef:
    """A hashable reference to one version of the database file (the cache key of every query):
    its path and identity (all zero when the file is missing)."""

    path: str
    device: int
    inode: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @property
    def exists(self) -> bool:
        return self.inode != 0 or self.mtime_ns != 0

    @property
    def name(self) -> str:
        """The file's name, which is what the app shows (never the server's directories)."""
        return Path(self.path).name

    def sql(self, query: str, params: list | tuple = ()) -> pd.DataFrame:
        """Run a parameterised query (values are bound, never formatted into the SQL)."""
        try:
            return _run(self, query, params)
        except duckdb.Error:
            latest = current_db()
            if latest == self:
                raise          # the file did not change: a real error of this query
            # The file was swapped while the query ran: the newer file holds everything the old
            # one did, so answer from it (once).
            return _run(latest, query, params)

    def has_table(self, name: str) -> bool:
        return name in self.tables()

    def tables(self) -> frozenset[str]:
        return _tables(self)


def db_path() -> Path:
    """The database the app shows: ``$ROBUSTNESS_DB`` or ``cache/demo.duckdb`` (set by the
    operator, never by a page's user)."""
    return Path(os.environ.get("ROBUSTNESS_DB", DEFAULT_DB))


def _identity(path: str) -> DbRef:
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return DbRef(path, 0, 0, 0, 0, 0)
    return DbRef(path, stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns,
                 stat.st_ctime_ns)


def current_db() -> DbRef:
    """The version of the database file in place now."""
    return _identity(str(db_path()))


class _Version:
    """One opened version of the file and the number of queries running on it."""

    def __init__(self, ref: DbRef, con: duckdb.DuckDBPyConnection):
        self.ref, self.con = ref, con
        self.users = 0
        self.retired = False


_LOCK = threading.Lock()
_SERVED: dict[str, _Version] = {}     # path → the newest opened version of that path


def _run(db: DbRef, query: str, params) -> pd.DataFrame:
    version = _acquire(db)
    try:
        cursor = version.con.cursor()
        try:
            return cursor.execute(query, list(params)).df()
        finally:
            cursor.close()
    finally:
        _release(version)


def _acquire(db: DbRef) -> _Version:
    """The opened version for a query on ``db`` (one more user of it): ``db``'s own version
    while it is the newest opened one, else the version of the file in place now."""
    with _LOCK:
        served = _SERVED.get(db.path)
        if served is not None and served.ref == db:
            served.users += 1
            return served
    for _ in range(5):
        on_disk = _identity(db.path)
        with _LOCK:
            served = _SERVED.get(db.path)
            if served is not None and served.ref == on_disk:
                served.users += 1
                return served
        con = open_version(on_disk)
        with _LOCK:
            if _identity(db.path) != on_disk:    # replaced while it opened: open that one
                con.close()
                continue
            served = _SERVED.get(db.path)
            if served is not None and served.ref == on_disk:   # another thread opened it first
                con.close()
                served.users += 1
                return served
            if served is not None:
                served.retired = True
                _close_if_unused(served)
            version = _SERVED[db.path] = _Version(on_disk, con)
            version.users += 1
            return version
    raise RuntimeError(f"The database {db.name} kept changing while it was being opened; "
                       "try again.")


def _release(version: _Version) -> None:
    with _LOCK:
        version.users -= 1
        _close_if_unused(version)


def _close_if_unused(version: _Version) -> None:
    # Called under _LOCK: a replaced version closes when its last query has ended.
    if version.retired and version.users == 0:
        version.con.close()


def open_version(db: DbRef) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the file of ``db``, in a DuckDB instance of its own (so versions
    of one path can be open side by side), with the server's limits, after checking that the file
    is one of this tool's databases of this schema version."""
    if not db.exists:
        raise FileNotFoundError(f"Database {db.name} does not exist. Build it with "
                                f"`python -m core build --preset demo --db {db.name}`.")
    con = open_read_only_instance(db.path)
    try:
        limit_connection(con)
        check_project_connection(con, db.name)
        check_schema_version(con, db.name)
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
