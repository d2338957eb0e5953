"""Crash-safe editing of a results database: every write goes to a work file ``<db>.work``;
publishing copies it and renames the copy over ``<db>`` atomically, so a reader (the app, which
opens ``<db>`` read-only) always sees a complete database.

One writer per database: :class:`WorkFile` holds ``<db>.lock`` (``filelock``; the holder's pid is
in ``<db>.lock.pid``) from :meth:`WorkFile.lock` to :meth:`WorkFile.release`, and a second writer
fails at once with :class:`DatabaseBusy`. Both the build and ``add-model`` edit a database through
:class:`WorkFile`.

A rerun after a crash continues from the work file (or, when there is none, from an atomic copy
of the published database). Committed work is never thrown away: a work file left by an earlier
run that is newer than the published database is published even when this run changes nothing.
Every copy is written under a unique temporary name in the same directory and fsynced, with its
directory, before it is renamed.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import duckdb
import filelock

from .. import store
from ..errors import UserError
from ..store import builds as store_builds

__all__ = ["WorkFile", "DatabaseBusy", "work_path_of", "lock_path_of"]

logger = logging.getLogger(__name__)

_TEMP_SUFFIX = ".tmp"


class DatabaseBusy(UserError):
    """Another process (a build or ``add-model``) is writing the database."""


def work_path_of(db_path: str | Path) -> Path:
    """The work file of ``db_path``: ``<db>.work`` next to it."""
    db_path = Path(db_path)
    return db_path.with_name(db_path.name + ".work")


def lock_path_of(db_path: str | Path) -> Path:
    """The writer lock of ``db_path``: ``<db>.lock`` next to it (the pid in ``<db>.lock.pid``)."""
    db_path = Path(db_path)
    return db_path.with_name(db_path.name + ".lock")


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _durable_replace(source: Path, target: Path) -> None:
    """Rename ``source`` over ``target`` after flushing it to disk, then flush the rename."""
    with open(source, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(source, target)
    _fsync_directory(target.parent)


def _atomic_copy(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` so that ``target`` is either absent, as it was, or the
    complete copy: through a unique temporary file in ``target``'s directory."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f"{target.name}.", suffix=_TEMP_SUFFIX)
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        shutil.copymode(source, tmp)    # mkstemp makes it owner-only; readers need the source's
        _durable_replace(Path(tmp), target)
    finally:
        Path(tmp).unlink(missing_ok=True)


class WorkFile:
    """The work file of one database, its writer lock and the one write connection to it.

    Use it as a context manager (``with WorkFile(db) as work:``): entering takes the lock,
    leaving closes the connection and releases the lock. ``publish_every``: seconds between the
    publications :meth:`maybe_publish` makes (a long stage calls it after each unit of work).
    """

    def __init__(self, db_path: str | Path, *, publish_every: float = 30.0):
        self.db_path = Path(db_path)
        self.path = work_path_of(self.db_path)
        self.publish_every = publish_every
        self._con: duckdb.DuckDBPyConnection | None = None
        self._last_publish = 0.0
        self._lock = filelock.FileLock(lock_path_of(self.db_path), timeout=0)
        self._pid_path = self._lock.lock_file + ".pid"
        # True when a work file left by an earlier run holds commits the published file lacks.
        self.unpublished = False

    # --- the writer lock ---------------------------------------------------------------------
    def lock(self) -> None:
        """Take the writer lock, or raise :class:`DatabaseBusy` naming the holder's pid."""
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire()
        except filelock.Timeout:
            try:
                holder = Path(self._pid_path).read_text().strip() or "unknown"
            except OSError:
                holder = "unknown"
            raise DatabaseBusy(f"another build (pid {holder}) is writing {self.db_path}; wait "
                               "for it to finish or use another --db.") from None
        fd, tmp = tempfile.mkstemp(dir=self.db_path.parent,
                                   prefix=f"{Path(self._pid_path).name}.", suffix=_TEMP_SUFFIX)
        with os.fdopen(fd, "w") as handle:
            handle.write(f"{os.getpid()}\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, self._pid_path)
        self._remove_stale_temporaries()

    def release(self) -> None:
        """Close the connection and release the writer lock (idempotent)."""
        self.close()
        if self._lock.is_locked:
            Path(self._pid_path).unlink(missing_ok=True)
            self._lock.release()

    def __enter__(self) -> "WorkFile":
        self.lock()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def _remove_stale_temporaries(self) -> None:
        # Under the lock no other writer exists: temporaries next to the database are leftovers
        # of a killed run.
        for stale in self.db_path.parent.glob(f"{self.db_path.name}.*{_TEMP_SUFFIX}"):
            stale.unlink(missing_ok=True)

    # --- the work file -----------------------------------------------------------------------
    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """The open write connection to the work file."""
        if self._con is None:
            raise RuntimeError(f"The work file {self.path} is not open; call open() first.")
        return self._con

    def source(self) -> Path | None:
        """The file a writer continues from: the work file, else the published database, else
        None (a new database)."""
        for path in (self.path, self.db_path):
            if path.exists():
                return path
        return None

    def open(self) -> duckdb.DuckDBPyConnection:
        """Open the work file for writing, starting it as an atomic copy of the published
        database when there is no work file yet (after checking the published database's schema
        version). Requires the writer lock."""
        if not self._lock.is_locked:
            raise RuntimeError(f"Take the writer lock of {self.db_path} before opening its work "
                               "file: use `with WorkFile(...)` or call lock().")
        if self.path.exists():
            self.unpublished = (not self.db_path.exists()
                                or self.path.stat().st_mtime_ns > self.db_path.stat().st_mtime_ns)
            if self.unpublished:
                logger.info("continuing from %s: it holds work not yet published", self.path)
        elif self.db_path.exists():
            store.connect(self.db_path, read_only=True).close()   # schema-version check
            _atomic_copy(self.db_path, self.path)
        self._con = store.connect(self.path)
        return self._con

    def publish(self, *, final: bool = False) -> None:
        """Make the work file's committed state visible at ``db_path`` atomically. ``final``:
        the work file itself becomes the database and the connection is closed."""
        store_builds.flush(self.con)
        self._con.close()
        self._con = None
        if final:
            _durable_replace(self.path, self.db_path)
            os.utime(self.db_path)  # readers order versions by mtime: keep it increasing
            self.unpublished = False
            logger.debug("published %s (final)", self.db_path)
            return
        _atomic_copy(self.path, self.db_path)
        self._con = store.connect(self.path)
        self._last_publish = time.monotonic()
        logger.debug("published %s", self.db_path)

    def maybe_publish(self) -> None:
        """Publish when the last publication is more than ``publish_every`` seconds old."""
        if time.monotonic() - self._last_publish > self.publish_every:
            self.publish()

    def finish(self, *, changed: bool) -> bool:
        """End a write session: publish the work file when this run ``changed`` it, when it
        holds unpublished work of an earlier run, or when there is no published file yet;
        otherwise delete it (the published file is left as it is). True when published."""
        if changed or self.unpublished or not self.db_path.exists():
            self.publish(final=True)
            return True
        logger.debug("nothing changed: work file %s discarded", self.path)
        self.discard()
        return False

    def discard(self) -> None:
        """Close and delete the work file, leaving the published database as it is (nothing
        was changed)."""
        self.close()
        self.path.unlink(missing_ok=True)

    def close(self) -> None:
        """Close the connection (idempotent); the work file stays for a rerun to continue."""
        if self._con is not None:
            self._con.close()
            self._con = None
