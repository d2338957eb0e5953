"""Interaction → settled times of the served app in a real browser, one user.

    python bench/browser.py --db cache/demo.duckdb [--repeats 5] [--quiet-ms 1000]

Serves the app with ``streamlit run app/serve.py`` on ``--db`` (as tests/browser_helpers.py does),
drives Debian's Chromium with Playwright and times each interaction of a user's visit: first
load, box-select a cell of the evaluation table, the severity radio, add a benchmark to the
similarity view, a page switch, the Geometry page's pickers and a new sample on Attribution.

"Settled" is measured in the browser: the page records the time of every websocket message
(Streamlit's deltas and script-state changes), every finished fetch and every DOM mutation; an
interaction has settled once Streamlit's running indicator is gone, no request is in flight and
nothing of the three happened for ``--quiet-ms``. Its time is the last such event minus the
moment of the input (so the quiet window itself is not counted). Beside each time: the CPU
seconds the server process spent (utime + stime of /proc/<pid>/stat, all its threads) between
the input and the settled page, i.e. what one user's interaction costs the server.

Prints, per interaction, the median and max over ``--repeats`` of both, and, as a baseline run in
the same process, the same measure for a no-op (the settled check on a page where nothing
happens), which is the floor of what the method can report. Times depend on the machine's load:
run it with nothing else running.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from browser_helpers import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    PROBE_JS,
    SETTLED_JS,
    VIEWPORT,
    _wait_healthy,
    chromium_or_reason,
    free_port,
    plot_with_title,
)

def server_cpu_seconds(pid: int) -> float:
    """utime + stime of process ``pid`` (all its threads), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Timings:
    seconds: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)


class Session:
    """One browser page on the served app; `timed` runs an action and waits until settled."""

    def __init__(self, page, pid: int, quiet_ms: int, timeout_s: float = 120):
        self.page, self.pid, self.quiet_ms, self.timeout_s = page, pid, quiet_ms, timeout_s

    def settle(self, start_ms: float) -> float:
        """Seconds from ``start_ms`` (browser clock) to the last event before quiet; negative
        when nothing happened after ``start_ms``."""
        handle = self.page.wait_for_function(SETTLED_JS, arg=self.quiet_ms,
                                             timeout=self.timeout_s * 1000, polling=50)
        return (handle.json_value() - start_ms) / 1000

    def timed(self, action: Callable[[], None], into: Timings, *, name: str = "") -> None:
        """Time ``action`` until settled; an action the page does not react to is an error
        (it would time as 0 s)."""
        cpu = server_cpu_seconds(self.pid)
        start = self.page.evaluate("performance.now()")
        action()
        seconds = self.settle(start)
        if seconds <= 0 and action is not _noop:
            raise AssertionError(f"the page did not react to {name or action}")
        into.seconds.append(max(0.0, seconds))
        into.cpu.append(server_cpu_seconds(self.pid) - cpu)


def _noop() -> None:
    """The baseline interaction: nothing."""


def _bar_box(page, index: int) -> dict:
    """The bounding box of a bar at least 12 px tall (Plotly ignores smaller drags) that lies
    inside the viewport, as the page is scrolled now."""
    table = plot_with_title(page, "Accuracy vs pruning ratio")
    boxes = [b for b in table.locator(".barlayer .point path").evaluate_all(
        "paths => paths.map(p => { const r = p.getBoundingClientRect(); "
        "return {x: r.x, y: r.y, width: r.width, height: r.height}; })")
        if b["height"] >= 12 and 80 < b["y"] and b["y"] + b["height"] < VIEWPORT["height"] - 10]
    if not boxes:
        raise AssertionError("no bar of the evaluation table is tall enough and in view")
    return boxes[index % len(boxes)]


def _box_select_bar(page, index: int) -> Callable[[], None]:
    # Hovering the chart shows its modebar and may scroll the page: choose the tool first, then
    # read the bar's position.
    table = plot_with_title(page, "Accuracy vs pruning ratio")
    table.hover()
    table.locator(".modebar-btn[data-attr=dragmode][data-val=select]").click()
    box = _bar_box(page, index)

    def drag():
        page.mouse.move(box["x"] - 6, box["y"] - 2)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] + 6, box["y"] + box["height"] + 2, steps=6)
        page.mouse.up()
    return drag


def _choose(page, label: str, index: int) -> None:
    page.get_by_role("combobox", name=label, exact=True).click()
    page.get_by_role("option").nth(index).click()


def _nav(page, title: str) -> Callable[[], None]:
    def click():
        page.locator("[data-testid=stSidebarNav] a", has_text=title).click()
        page.get_by_role("heading", name=title, level=1).wait_for()
    return click


def run(db: Path, *, repeats: int, quiet_ms: int) -> tuple[dict[str, Timings], list[str]]:
    from playwright.sync_api import sync_playwright

    results: dict[str, Timings] = {}
    failures: list[str] = []

    def record(name: str) -> Timings:
        return results.setdefault(name, Timings())

    port = free_port()
    env = {**os.environ, "ROBUSTNESS_DB": str(db)}
    with tempfile.TemporaryFile("w+") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app/serve.py", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true",
             "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_healthy(url, server, log, 90)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                                     args=CHROMIUM_ARGS)
                try:
                    _visit(browser, url, server.pid, repeats, quiet_ms, record, failures)
                finally:
                    browser.close()
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    return results, failures


def _visit(browser, url: str, pid: int, repeats: int, quiet_ms: int, record,
           failures: list[str]) -> None:
    def new_session() -> tuple:
        context = browser.new_context(viewport=VIEWPORT)
        context.add_init_script(PROBE_JS)
        page = context.new_page()
        page.set_default_timeout(60_000)
        return context, page, Session(page, pid, quiet_ms)

    for _ in range(repeats):
        context, page, session = new_session()
        cpu = server_cpu_seconds(pid)
        page.goto(url)
        record("first load").seconds.append(session.settle(0.0))
        record("first load").cpu.append(server_cpu_seconds(pid) - cpu)
        session.timed(_noop, record("no-op (baseline)"))
        context.close()

    context, page, session = new_session()
    page.goto(url)
    session.settle(0.0)

    def table_and_severity():
        for i in range(repeats):
            session.timed(_box_select_bar(page, 7 * i + 3), record("box-select a table cell"))
            level = f"severity {1 + i % 5}" if i % 2 == 0 else "average of all"
            session.timed(lambda: page.get_by_text(level, exact=True).first.click(),
                          record("severity radio"))

    def add_benchmark():
        multiselect = page.get_by_role(
            "combobox", name="Benchmarks shown (the same as the selected benchmarks)")
        for _ in range(repeats):
            multiselect.scroll_into_view_if_needed()

            def add():
                multiselect.click()
                page.get_by_role("option").first.click()
            session.timed(add, record("add a benchmark"))
            # Untimed: close the list and remove the added benchmark, so each add starts alike.
            page.keyboard.press("Escape")
            multiselect.focus()
            page.keyboard.press("Backspace")
            session.settle(page.evaluate("performance.now()"))

    def page_switches():
        for i in range(repeats):
            session.timed(_nav(page, "Geometry"), record("page switch"))
            if i < repeats - 1:
                session.timed(_nav(page, "Overview"), record("page switch"))

    def geometry_pickers():
        for i in range(repeats):
            session.timed(lambda: _choose(page, "Class", (i + 1) % 3), record("Geometry pickers"))
            session.timed(lambda: _choose(page, "Benchmark", (i + 1) % 3),
                          record("Geometry pickers"))

    def attribution_samples():
        session.timed(_nav(page, "Attribution"), record("page switch"))
        sample = page.get_by_role("combobox", name=_sample_label(page), exact=True)
        for i in range(repeats):
            session.timed(lambda: (sample.click(), page.get_by_role("option").nth(i + 1).click()),
                          record("a new sample on Attribution"))

    for phase in (table_and_severity, add_benchmark, page_switches, geometry_pickers,
                  attribution_samples):
        try:
            phase()
        except Exception as error:  # noqa: BLE001 - report and go on with the next phase
            failures.append(f"{phase.__name__}: {type(error).__name__}: "
                            f"{str(error).splitlines()[0]}")
            page.keyboard.press("Escape")
            session.settle(page.evaluate("performance.now()"))
    context.close()


def _sample_label(page) -> str:
    label = page.locator("label", has_text="Sample id").first.inner_text()
    return label.strip()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, default=ROOT / "cache" / "demo.duckdb")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quiet-ms", type=int, default=1000)
    args = parser.parse_args(argv)
    if (missing := chromium_or_reason()) is not None:
        sys.exit(missing)
    if not args.db.is_file():
        sys.exit(f"--db {args.db}: no such file (build it with `python -m core demo`).")
    if args.repeats < 1:
        sys.exit(f"`--repeats` must be ≥ 1. Got {args.repeats} instead.")
    results, failures = run(args.db, repeats=args.repeats, quiet_ms=args.quiet_ms)
    print(f"{'interaction':<30}{'n':>3}{'median s':>10}{'max s':>8}"
          f"{'server CPU-s med':>18}{'max':>7}")
    for name, timing in results.items():
        if not timing.seconds:
            print(f"{name:<30}  0  (no run completed, see FAILED below)")
            continue
        print(f"{name:<30}{len(timing.seconds):>3}{statistics.median(timing.seconds):>10.2f}"
              f"{max(timing.seconds):>8.2f}{statistics.median(timing.cpu):>18.2f}"
              f"{max(timing.cpu):>7.2f}")
    for failure in failures:
        print(f"FAILED {failure}")
    print(f"(settled = no running indicator, nothing in flight, {args.quiet_ms} ms quiet; "
          f"load average at the end {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
