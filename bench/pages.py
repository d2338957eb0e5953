"""Render time of every app page with Streamlit's AppTest, on a given database.

    python bench/pages.py --db cache/synth_20m.duckdb [--pages overview] [--repeats 3]

Per page: the first render (caches cleared: connection, queries, figures), a rerun with nothing
changed, and a rerun after each selection change the page reacts to (session-state keys set the
way a click on another page or chart would). Times are the median of ``--repeats`` runs; the
baseline is an empty page run the same way in the same process, so each ratio says how much the
page costs over AppTest's own overhead. Budgets (see docs/definitions.md): a rerun after a
selection change takes ≤ 1 s on the demo-sized DB and ≤ 2 s on the 20M-row one.

Adding a page = one entry in ``PAGES``: its module and the selection changes to time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streamlit.testing.v1 import AppTest  # noqa: E402

import streamlit as st  # noqa: E402

# Selection changes: name → function of a read-only connection returning session-state values.
SelectionChange = tuple[str, Callable[[duckdb.DuckDBPyConnection], dict]]


@dataclass(frozen=True)
class PageBench:
    module: str
    changes: tuple[SelectionChange, ...]


def _some_models(con, k: int = 5) -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT model_id FROM models WHERE method <> 'dense' ORDER BY model_id LIMIT ?",
        [k]).fetchall()]


def _some_benchmarks(con, k: int = 2) -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT benchmark_id FROM benchmarks ORDER BY severity, benchmark_id LIMIT ?",
        [k]).fetchall()]


def _some_samples(con, k: int = 500) -> list[int]:
    n = con.execute("SELECT max(n) FROM evaluations").fetchone()[0] or 0
    return list(range(0, int(n), max(1, int(n) // k)))[:k]


PAGES: dict[str, PageBench] = {
    "overview": PageBench("app.pages.overview", (
        ("models + benchmarks", lambda con: {"selected_models": _some_models(con),
                                             "selected_benchmarks": _some_benchmarks(con)}),
        ("500 samples", lambda con: {"selected_samples": _some_samples(con)}),
    )),
    "geometry": PageBench("app.pages.geometry", (
        ("two models + benchmark", lambda con: {"selected_models": _some_models(con, 2),
                                                "selected_benchmarks": _some_benchmarks(con, 1)}),
        ("class", lambda con: {"selected_class": 3}),
        ("reference vs compared", lambda con: {
            "reference_benchmark": _some_benchmarks(con, 1)[0],
            "compared_benchmark": _some_benchmarks(con, 3)[-1]}),
        ("500 samples", lambda con: {"selected_samples": _some_samples(con)}),
    )),
    "attribution": PageBench("app.pages.attribution", (
        ("sample + 4 models", lambda con: {
            "selected_sample": con.execute("SELECT min(sample_id) FROM images").fetchone()[0],
            "selected_models": [r[0] for r in con.execute(
                "SELECT model_id FROM models WHERE checkpoint IS NOT NULL "
                "ORDER BY method <> 'dense', ratio LIMIT 4").fetchall()]}),
    )),
}

_SCRIPT = """
from app.state import init_state
init_state()
{body}
"""


def _app(module: str | None) -> AppTest:
    body = (f"import importlib\nimportlib.import_module({module!r}).run()" if module
            else "import streamlit as st\nst.title('baseline')")
    return AppTest.from_string(_SCRIPT.format(body=body), default_timeout=600)


def _timed_run(app: AppTest) -> float:
    start = time.perf_counter()
    app.run()
    elapsed = time.perf_counter() - start
    if app.exception:
        raise RuntimeError(f"the page raised: {app.exception[0].value}")
    return elapsed


def _clear_caches() -> None:
    st.cache_data.clear()
    st.cache_resource.clear()


def bench_page(module: str | None, changes: tuple[SelectionChange, ...],
               con: duckdb.DuckDBPyConnection, repeats: int) -> dict[str, float]:
    """Median seconds per step: 'first render', 'rerun', then one entry per selection change."""
    times: dict[str, list[float]] = {}
    for _ in range(repeats):
        _clear_caches()
        app = _app(module)
        steps = [("first render", {}), ("rerun", {})] + [(n, f(con)) for n, f in changes]
        for name, values in steps:
            for key, value in values.items():
                app.session_state[key] = value
            times.setdefault(name, []).append(_timed_run(app))
    return {name: statistics.median(values) for name, values in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", required=True, help="DuckDB results file")
    parser.add_argument("--pages", nargs="*", default=list(PAGES), choices=list(PAGES))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds allowed for a rerun after a selection change (default: "
                             "2 s above 5M sample_metrics rows, else 1 s)")
    args = parser.parse_args(argv)
    db = Path(args.db)
    if not db.exists():
        parser.error(f"--db {db} does not exist.")
    os.environ["ROBUSTNESS_DB"] = str(db)
    os.chdir(ROOT)
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT count(*) FROM sample_metrics").fetchone()[0]
        budget = args.budget or (2.0 if rows > 5_000_000 else 1.0)
        print(f"database {db}: {rows:,} sample_metrics rows; budget {budget:.1f} s per rerun "
              f"after a selection change; median of {args.repeats}")
        baseline = bench_page(None, (), con, args.repeats)["rerun"]
        print(f"baseline (empty page) rerun: {baseline * 1000:.0f} ms")
        print(f"{'page':<12} {'step':<24} {'seconds':>8} {'× baseline':>11}  budget")
        failed = False
        for name in args.pages:
            page = PAGES[name]
            result = bench_page(page.module, page.changes, con, args.repeats)
            for step, seconds in result.items():
                judged = step not in ("first render", "rerun")
                verdict = ("ok" if seconds <= budget else "OVER") if judged else ""
                failed |= verdict == "OVER"
                print(f"{name:<12} {step:<24} {seconds:8.3f} {seconds / baseline:11.1f}  "
                      f"{verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
