"""Crash-safe editing of a results database: every write goes to a work file ``<db>.work``;
publishing copies it and renames the copy over ``<db>`` atomically, so a reader (the app, which
opens ``<db>`` read-only) always sees a complete database.

A rerun after a crash continues from the work file (or, when there is none, from a copy of the
published database). Both the build and ``add-model`` edit a database through :class:`WorkFile`.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path

import duckdb

from . import store
from .store import builds as store_builds

__all__ = ["WorkFile", "work_path_of"]

logger = logging.getLogger(__name__)


def work_path_of(db_path: str | Path) -> Path:
    """The work file of ``db_path``: ``<db>.work`` next to it."""
    db_path = Path(db_path)
    return db_path.with_name(db_path.name + ".work")


class WorkFile:
    """The work file of one database and the one write connection to it.

    ``publish_every``: seconds between the publications :meth:`maybe_publish` makes (a long
    stage calls it after each unit of work).
    """

    def __init__(self, db_path: str | Path, *, publish_every: float = 30.0):
        self.db_path = Path(db_path)
        self.path = work_path_of(self.db_path)
        self.publish_every = publish_every
        self._con: duckdb.DuckDBPyConnection | None = None
        self._last_publish = 0.0

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """The open write connection to the work file."""
        if self._con is None:
            raise RuntimeError(f"The work file {self.path} is not open; call open() first.")
        return self._con

    def open(self) -> duckdb.DuckDBPyConnection:
        """Open the work file for writing, starting it from the published database when there
        is no work file yet (after checking the published database's schema version)."""
        if not self.path.exists() and self.db_path.exists():
            store.connect(self.db_path, read_only=True).close()   # schema-version check
            shutil.copyfile(self.db_path, self.path)
        self._con = store.connect(self.path)
        return self._con

    def publish(self, *, final: bool = False) -> None:
        """Make the work file's committed state visible at ``db_path`` atomically. ``final``:
        the work file itself becomes the database and the connection is closed."""
        store_builds.flush(self.con)
        self._con.close()
        self._con = None
        if final:
            os.replace(self.path, self.db_path)
            os.utime(self.db_path)  # readers order versions by mtime: keep it increasing
            logger.debug("published %s (final)", self.db_path)
            return
        tmp = self.db_path.with_name(self.db_path.name + ".publish")
        shutil.copyfile(self.path, tmp)
        os.replace(tmp, self.db_path)
        self._con = store.connect(self.path)
        self._last_publish = time.monotonic()
        logger.debug("published %s", self.db_path)

    def maybe_publish(self) -> None:
        """Publish when the last publication is more than ``publish_every`` seconds old."""
        if time.monotonic() - self._last_publish > self.publish_every:
            self.publish()

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
