"""The invariants of a results database as SQL: each query counts the rows violating one
invariant (see docs/definitions.md for the definitions they check)."""

from __future__ import annotations

import duckdb

__all__ = ["VIOLATION_QUERIES", "count_violations"]

VIOLATION_QUERIES = {
    "accuracy = mean(correct) and n = rows": """
        SELECT count(*) FROM evaluations e JOIN (SELECT model_id, benchmark_id,
            avg(correct::INT) AS acc, count(*) AS n FROM sample_metrics GROUP BY ALL) s
        USING (model_id, benchmark_id) WHERE abs(e.accuracy - s.acc) > 1e-9 OR e.n <> s.n""",
    "correct <=> pred = label": "SELECT count(*) FROM sample_metrics WHERE correct <> (pred = label)",
    "margin > 0 <=> correct": """SELECT count(*) FROM sample_metrics
        WHERE margin IS NOT NULL AND (margin > 0) <> correct""",
    "angle = angles[label]": """SELECT count(*) FROM sample_metrics
        WHERE angle IS DISTINCT FROM angles[label + 1]""",
    "angles within [0, 180]": """SELECT count(*) FROM sample_metrics
        WHERE list_min(angles) < 0 OR list_max(angles) > 180""",
    "prob <= confidence": "SELECT count(*) FROM sample_metrics WHERE prob > confidence + 1e-6",
    "evaluations = models × benchmarks": """
        SELECT abs((SELECT count(*) FROM evaluations)
                   - (SELECT count(*) FROM models) * (SELECT count(*) FROM benchmarks))""",
}


def count_violations(con: duckdb.DuckDBPyConnection, invariant: str) -> int:
    """Rows violating ``invariant`` (a key of :data:`VIOLATION_QUERIES`)."""
    if invariant not in VIOLATION_QUERIES:
        raise ValueError(f"`invariant` must be one of {sorted(VIOLATION_QUERIES)}. "
                         f"Got {invariant!r} instead.")
    return int(con.execute(VIOLATION_QUERIES[invariant]).fetchone()[0])
