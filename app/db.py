"""Read-only access to the results database for the app.

The builder publishes the database by atomically replacing the file, so the app keys every cache
on the file's identity (:class:`DbRef`: device, inode, size, change and modification time): any
replacement is a new identity, whatever its modification time (a backup restored with
``cp -p``, a builder on a skewed clock), and is picked up on the next rerun.

Connections are reference-counted per version of the file (``bench/db_swap.py`` measured this
against a connection per session): a query keeps the version it started on until it ends; a
replaced version stays open a while, so a page run that began on it reads one version
throughout, and closes once no query uses it; a query that still fails while the file is being
swapped is retried once on the new file. Each version is opened in a DuckDB instance of its own
(``core.store.open_read_only_instance``), so versions of one path can be open side by side.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

import duckdb
import streamlit as st

from app.settings import settings
from core.store import (
    catalog,
    check_project_connection,
    check_schema_version,
    instance_cursor,
    open_read_only_instance,
)

DEFAULT_DB = "cache/demo.duckdb"
T = TypeVar("T")


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

    def read(self, query: Callable[..., T], *args) -> T:
        """``query(con, *args)`` — a read of `core.store` — on this file's connection."""
        try:
            return _run(self, query, args)
        except duckdb.Error:
            latest = current_db()
            if latest == self:
                raise          # the file did not change: a real error of this query
            # The file was swapped while the query ran: the newer file holds everything the old
            # one did, so answer from it (once).
            return _run(latest, query, args)

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
        self.retired_at: float | None = None     # monotonic time a newer version replaced it


# A replaced version stays open (while unused) this long, and while fewer than this many newer
# versions exist: a page run that began on it answers all its queries from the same version.
RETIRED_SECONDS = 30.0
RETIRED_KEPT = 4

_LOCK = threading.Lock()
_OPEN: dict[str, list[_Version]] = {}     # path → its opened versions, the newest last


def _run(db: DbRef, query: Callable[..., T], args: tuple) -> T:
    version = _acquire(db)
    try:
        cursor = instance_cursor(version.con)
        try:
            return query(cursor, *args)
        finally:
            cursor.close()
    finally:
        _release(version)


def _use(ref: DbRef) -> _Version | None:
    """The open version of ``ref`` with one more user, or None. Call under _LOCK."""
    for version in _OPEN.get(ref.path, ()):
        if version.ref == ref:
            version.users += 1
            return version
    return None


def _acquire(db: DbRef) -> _Version:
    """The opened version for a query on ``db`` (one more user of it): ``db``'s own version
    while it is open, else the version of the file in place now (opened if need be)."""
    with _LOCK:
        version = _use(db)
    if version is not None:
        return version
    # The identity is taken before opening: a file published meanwhile makes the connection
    # newer than its label, never older (a publication is a rename), and the next query, which
    # sees the newer identity, opens that version.
    on_disk = _identity(db.path)
    with _LOCK:
        version = _use(on_disk)
    if version is not None:
        return version
    con = open_version(on_disk)
    with _LOCK:
        version = _use(on_disk)
        if version is not None:          # another thread opened it meanwhile
            con.close()
            return version
        versions = _OPEN.setdefault(db.path, [])
        now = time.monotonic()
        for older in versions:
            if older.retired_at is None:
                older.retired_at = now
        version = _Version(on_disk, con)
        version.users += 1
        versions.append(version)
        _close_unused(db.path)
        return version


def _release(version: _Version) -> None:
    with _LOCK:
        version.users -= 1
        _close_unused(version.ref.path)


def _close_unused(path: str) -> None:
    """Close the replaced versions of ``path`` that no query uses and that are past their
    keeping (RETIRED_SECONDS, RETIRED_KEPT). Call under _LOCK."""
    versions = _OPEN.get(path, [])
    now = time.monotonic()
    kept = []
    for i, version in enumerate(versions):
        newer = len(versions) - 1 - i
        expired = version.retired_at is not None and (
            now - version.retired_at > RETIRED_SECONDS or newer > RETIRED_KEPT)
        if expired and version.users == 0:
            version.con.close()
        else:
            kept.append(version)
    versions[:] = kept


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
    catalog.limit_resources(con, threads=limits.duckdb_threads,
                            memory_limit=limits.duckdb_memory_limit)


@st.cache_data(max_entries=8, show_spinner=False)
def _tables(db: DbRef) -> frozenset[str]:
    if not db.exists:
        return frozenset()
    return db.read(catalog.table_names)
