"""The app's connection model under concurrent sessions: one reference-counted connection per
version of the file (what app/db.py does) against one connection per session (each session
opens its own DuckDB instance for each version it sees).

    python bench/db_swap.py [--db cache/demo.duckdb] [--sessions 8] [--runs 6]

Each session (a thread) does ``--runs`` page runs of four queries of the Overview's kind; the
served file is replaced (as a build publishes) between rounds, so every round starts on a new
version. Printed per model: the wall time of all rounds (the copies excluded), the time of a
round's first query after a swap, and the process's resident memory growth, with each ratio
against the reference-counted model measured in the same process.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app import db as app_db  # noqa: E402
from core import store  # noqa: E402

QUERIES = (
    "SELECT * FROM models ORDER BY arch, method, retrained, ratio",
    "SELECT e.*, b.corruption, b.severity FROM evaluations e JOIN benchmarks b USING "
    "(benchmark_id)",
    "SELECT model_id, avg(robustness) AS r FROM robustness GROUP BY model_id",
    "SELECT model_id, benchmark_id, avg(angle) AS a FROM sample_metrics GROUP BY ALL",
)


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def shared_run(ref: app_db.DbRef, first: list) -> None:
    for i, query in enumerate(QUERIES):
        t0 = time.perf_counter()
        ref.sql(query)
        if i == 0:
            first.append(time.perf_counter() - t0)


class PerSession:
    """One session's own connection, reopened when the file's identity changes."""

    def __init__(self):
        self.ref, self.con = None, None

    def run(self, ref: app_db.DbRef, first: list) -> None:
        t0 = time.perf_counter()
        if ref != self.ref:
            if self.con is not None:
                self.con.close()
            self.ref, self.con = ref, app_db.open_version(ref)
        for i, query in enumerate(QUERIES):
            cursor = store.instance_cursor(self.con)
            cursor.execute(query).df()
            cursor.close()
            if i == 0:
                first.append(time.perf_counter() - t0)

    def close(self):
        if self.con is not None:
            self.con.close()


def measure(model: str, served: Path, source: Path, *, sessions: int, runs: int) -> dict:
    first: list[float] = []
    owners = [PerSession() for _ in range(sessions)]
    rss0 = rss_mib()
    seconds = 0.0
    for round_ in range(runs):
        tmp = served.with_name(served.name + ".tmp")
        shutil.copyfile(source, tmp)
        os.replace(tmp, served)                   # a publication: a new version
        t0 = time.perf_counter()
        ref = app_db.current_db()
        work = [threading.Thread(target=(lambda o=o: shared_run(ref, first)) if model == "shared"
                                 else (lambda o=o: o.run(ref, first))) for o in owners]
        for thread in work:
            thread.start()
        for thread in work:
            thread.join()
        seconds += time.perf_counter() - t0
    peak = rss_mib() - rss0
    for owner in owners:
        owner.close()
    return {"seconds": seconds, "first_query": statistics.median(first), "rss_mib": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="cache/demo.duckdb")
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--per-session-first", action="store_true",
                        help="measure the per-session model first (memory growth depends on "
                             "the order: the first model pays for the process's warm-up)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        served = Path(tmp) / "served.duckdb"
        shutil.copyfile(args.db, served)
        os.environ["ROBUSTNESS_DB"] = str(served)
        results = {}
        order = ("shared", "per-session")
        for model in order[::-1] if args.per_session_first else order:
            results[model] = measure(model, served, Path(args.db), sessions=args.sessions,
                                     runs=args.runs)
    base = results["shared"]
    print(f"{args.sessions} sessions x {args.runs} rounds, a new version each round, "
          f"on {args.db}")
    for model in ("shared", "per-session"):
        r = results[model]
        print(f"{model:12s} total {r['seconds']:6.2f} s ({r['seconds'] / base['seconds']:.2f}x)  "
              f"first query after a swap {r['first_query'] * 1e3:7.1f} ms "
              f"({r['first_query'] / base['first_query']:.2f}x)  "
              f"memory +{r['rss_mib']:.0f} MiB")


if __name__ == "__main__":
    main()
