"""Invariants every results database must satisfy (SPEC §2, §7), as SQL counts of violations."""

from __future__ import annotations

import duckdb

__all__ = ["CHECKS", "check_database"]

CHECKS = {
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


def check_database(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Number of violating rows per invariant (all zero for a sound database)."""
    return {name: int(con.execute(sql).fetchone()[0]) for name, sql in CHECKS.items()}
