"""Opening DuckDB files: the one function every connection of the project goes through.

Every connection (build, CLI, app, attribution cache) is opened by :func:`open_duckdb`, with
DuckDB's automatic extension install and load turned off: by default DuckDB downloads and loads
a known extension when a file or query needs one (an SQLite file makes it fetch
``sqlite_scanner`` from the internet), so opening an untrusted file could reach the network.

Before DuckDB sees a file, :func:`duckdb_file_problem` reads its header, so a file that is not a
DuckDB database is named as such (an empty file, an SQLite file, other bytes) instead of being
reported as a lock held by another process. :func:`check_project_file` also refuses a DuckDB
database of another application (tables but no ``schema_version``): this tool never writes
into it.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

__all__ = ["NotADuckDBFile", "ForeignDatabase", "open_duckdb", "open_read_only_instance",
           "instance_cursor", "duckdb_file_problem", "check_project_file",
           "check_project_connection"]

# No download and no loading of extensions a file or a query asks for (see the module docstring).
# Set on the instance right after it opens rather than passed as its configuration: DuckDB
# refuses a second connection to one file with another configuration, and the header check
# below keeps every file that would need an extension from being opened at all.
_SAFE_SETTINGS = ("SET autoinstall_known_extensions = false",
                  "SET autoload_known_extensions = false")

# A DuckDB file starts with an 8-byte checksum, then the magic bytes "DUCK".
_DUCKDB_MAGIC = (8, b"DUCK")
_SQLITE_MAGIC = b"SQLite format 3\x00"


class NotADuckDBFile(ValueError):
    """The file exists but is not a DuckDB database (empty, SQLite, other bytes)."""


class ForeignDatabase(ValueError):
    """The file is a DuckDB database of another application (no ``schema_version`` table)."""


def duckdb_file_problem(path: str | os.PathLike) -> str | None:
    """Why the existing file ``path`` is not a DuckDB database ("it is empty", "it starts like
    an SQLite file", …), or None when it starts like one (or does not exist)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(16)
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        return "it is a directory"
    if not head:
        return "it is empty"
    if head.startswith(_SQLITE_MAGIC):
        return "it starts like an SQLite file"
    offset, magic = _DUCKDB_MAGIC
    if head[offset:offset + len(magic)] != magic:
        return "it does not start with DuckDB's file header"
    return None


def open_duckdb(path: str | os.PathLike = ":memory:", *,
                read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Connect to ``path`` (``":memory:"``: a private in-memory database) with extension
    auto-install and auto-load off. An existing file that is not a DuckDB database raises
    :class:`NotADuckDBFile` naming the file and why; nothing is written to it."""
    target = str(path)
    if target != ":memory:":
        problem = duckdb_file_problem(target)
        if problem is not None:
            raise NotADuckDBFile(f"{target} is not a DuckDB database ({problem}).")
    con = duckdb.connect(target, read_only=read_only)
    try:
        for statement in _SAFE_SETTINGS:
            con.execute(statement)
    except BaseException:
        con.close()
        raise
    return con


def check_project_connection(con: duckdb.DuckDBPyConnection, path: str | os.PathLike) -> None:
    """Raise :class:`ForeignDatabase` when ``con`` holds tables but no ``schema_version``
    table: a database of another application. An empty database is accepted (a build fills
    it)."""
    names = {row[0] for row in con.execute(
        "SELECT table_name FROM information_schema.tables").fetchall()}
    if names and "schema_version" not in names:
        raise ForeignDatabase(f"{path} is a DuckDB database of another application (no "
                              "schema_version table); use another --db.")


def check_project_file(path: str | os.PathLike) -> None:
    """Refuse, before anything is written, a ``--db`` file this tool must not write into: an
    existing file that is not a DuckDB database (:class:`NotADuckDBFile`) or holds another
    application's tables (:class:`ForeignDatabase`). A missing file passes (a build creates
    it). The commands ``build``, ``add-model``, ``check`` and ``import`` call it first."""
    if not Path(path).exists():
        return
    con = open_duckdb(path, read_only=True)
    try:
        check_project_connection(con, path)
    finally:
        con.close()


_ATTACHED = "results"    # the catalog name of the file in its private instance


def open_read_only_instance(path: str | os.PathLike) -> duckdb.DuckDBPyConnection:
    """``path`` attached read-only (as the default catalog) to a private in-memory DuckDB
    instance of its own.

    DuckDB shares one instance per file path within a process, so a plain ``connect`` to a file
    that was replaced while a connection to it is open returns the old file. A private instance
    per opening lets a reader hold several versions of one path at once: queries running on the
    old version finish on it while new ones read the new file. Take each thread's cursor with
    :func:`instance_cursor` (a plain ``cursor()`` starts in the empty in-memory catalog).
    """
    problem = duckdb_file_problem(path)
    if problem is not None:
        raise NotADuckDBFile(f"{path} is not a DuckDB database ({problem}).")
    con = open_duckdb()
    try:
        con.execute(f"ATTACH ? AS {_ATTACHED} (READ_ONLY)", [str(path)])
        con.execute(f"USE {_ATTACHED}")
    except BaseException:
        con.close()
        raise
    return con


def instance_cursor(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A cursor of a connection from :func:`open_read_only_instance` that reads the attached
    file (``USE`` is per cursor in DuckDB)."""
    cursor = con.cursor()
    try:
        cursor.execute(f"USE {_ATTACHED}")
    except BaseException:
        cursor.close()
        raise
    return cursor
