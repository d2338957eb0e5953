"""Invariants every results database must satisfy (see docs/definitions.md), checked by counting
the rows that violate each one; the queries live in ``core.store.checks``."""

from __future__ import annotations

import duckdb

from .store.checks import VIOLATION_QUERIES, count_violations

__all__ = ["CHECKS", "check_database"]

# The invariants by name, in the order they are reported.
CHECKS = tuple(VIOLATION_QUERIES)


def check_database(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Number of violating rows per invariant (all zero for a sound database)."""
    return {name: count_violations(con, name) for name in CHECKS}
