"""The error type of the user's own mistakes and circumstances.

:class:`UserError` marks what the user can fix — a database that another process holds or that
is of another schema, a Ray cluster that does not answer, a build whose tasks failed — as
opposed to a bug. ``python -m core`` shows these (and the ``ValueError`` / ``OSError`` of bad
inputs and files, and DuckDB's errors) as one line; every other exception keeps its traceback.
It derives from ``RuntimeError``, which these errors were before it existed.
"""

from __future__ import annotations

__all__ = ["UserError"]


class UserError(RuntimeError):
    """An error in what the user asked for or gave, or in their environment; not a bug."""
