"""Digests of a results database's tables, to prove a refactor leaves a build's output unchanged.

`python tests/table_digests.py DB > tests/data/tiny_tables.json` records them; the build tests
compare a fresh `tiny` build against the recorded file. Floats are rounded (5 significant digits
after the point) so that a change of summation order is not a change of result; columns that
legitimately differ between two builds (timings, paths) are left out.

Float kernels chosen per CPU still change some values in their fifth digit: the tests run torch
on its AVX2 kernels everywhere (conftest.py), and `tests/data/tiny_tables_alternatives.json`
holds the placement tables' digests of other CPUs (numba and OpenBLAS), each with its machine.
"""

from __future__ import annotations

import hashlib
import json
import sys

import duckdb
import numpy as np
import pandas as pd

# Columns that differ between two builds of the same experiment (None: the whole table).
VOLATILE = {"models": ["fit_seconds", "checkpoint", "fingerprint", "latency_ratio"],
            "build_progress": None, "analysis_state": None, "schema_version": None,
            "placement_quality": ["seconds"]}


def _canonical(value) -> str:
    if isinstance(value, (list, tuple, np.ndarray)):
        return "[" + ",".join(_canonical(v) for v in value) + "]"
    if isinstance(value, (float, np.floating)):
        return "nan" if np.isnan(value) else f"{float(value):.5f}"
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "null"
    if isinstance(value, (bytes, bytearray)):
        return hashlib.sha256(value).hexdigest()
    return str(value)


def table_digest(frame: pd.DataFrame) -> str:
    """Order-independent digest of a table: sorted canonical rows, hashed."""
    columns = sorted(frame.columns)
    rows = sorted("|".join(_canonical(v) for v in row)
                  for row in frame[columns].itertuples(index=False, name=None))
    h = hashlib.sha256(",".join(columns).encode())
    for row in rows:
        h.update(row.encode())
    return h.hexdigest()


def database_digests(path, *, tables=None) -> dict[str, str]:
    """``{table: digest}`` for every table of the database at ``path`` (or the named ones)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables ORDER BY 1").fetchall()]
        out = {}
        for name in names:
            if tables is not None and name not in tables:
                continue
            if name in VOLATILE and VOLATILE[name] is None:
                continue
            frame = con.execute(f'SELECT * FROM "{name}"').df()
            frame = frame.drop(columns=VOLATILE.get(name) or [], errors="ignore")
            out[name] = table_digest(frame)
        return out
    finally:
        con.close()


if __name__ == "__main__":
    json.dump(database_digests(sys.argv[1]), sys.stdout, indent=1, sort_keys=True)
    print()
