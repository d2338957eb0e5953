"""The Guide and the readable labels in a real browser (Debian's Chromium via Playwright, against
`streamlit run streamlit_app.py` on the `tiny` preset): a click on one point of the 2-D plane, then a
box drawn around another, shows that sample's stored angle, length and margin; at 1,024 and
1,920 px the evaluation table's column/row labels and the parallel-coordinates axis titles (and
its chart title) never overlap (measured on their drawn SVG text boxes). Screenshots land in
cache/screenshots/.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from browser_helpers import (
    BROWSER_MARKS,
    STEP_MS,
    Box,
    box_select,
    eventually,
    markers,
    plot_with_title,
)

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "cache" / "screenshots"
GUIDE_MODEL = "lenet5-m2-ce-dense-r0.0-s0"
WIDTHS = (1024, 1920)

pytestmark = BROWSER_MARKS

# Drawn boxes of the SVG text elements matching `selector` inside a chart (empty ones skipped).
_TEXT_BOXES_JS = """(gd, selector) => Array.from(gd.querySelectorAll(selector)).map(el => {
  const r = el.getBoundingClientRect();
  return {text: el.textContent, left: r.left, right: r.right, top: r.top, bottom: r.bottom};
}).filter(b => b.text.trim() && b.right > b.left)"""


# Every point of every scatter trace (markers or line ends) in viewport pixels.
_ALL_POINTS_JS = """gd => {
  const box = gd.getBoundingClientRect(), xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  return gd._fullData.filter(t => t.type === 'scatter').flatMap(t =>
    Array.from(t.x, (x, i) => ({px: box.left + xa._offset + xa.c2p(x),
                                py: box.top + ya._offset + ya.c2p(t.y[i])})));
}"""

_PLOT_AREA_JS = """gd => {
  const box = gd.getBoundingClientRect(), xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  return {left: box.left + xa._offset, right: box.left + xa._offset + xa._length,
          top: box.top + ya._offset, bottom: box.top + ya._offset + ya._length};
}"""


def _page(browser, width: int):
    context = browser.new_context(viewport={"width": width, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(STEP_MS)
    return context, page


def _drawn(value, what: str):
    assert value, f"{what} not drawn yet"
    return value


def _overlaps(boxes: list[dict], tolerance: float = 0.5) -> list[tuple[str, str]]:
    out = []
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            if (min(a["right"], b["right"]) - max(a["left"], b["left"]) > tolerance and
                    min(a["bottom"], b["bottom"]) - max(a["top"], b["top"]) > tolerance):
                out.append((a["text"], b["text"]))
    return out


def _screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _isolated_marker(page, *, besides: frozenset = frozenset()) -> tuple[object, dict, float]:
    """The plane, its sample marker farthest from every other drawn point (samples, arrow ends,
    the chosen sample's geometry) other than those of ``besides`` (sample ids), and that
    distance (Manhattan, px). The chart is scrolled into view first: positions measured before
    a scroll would miss the marker by the scrolled distance."""
    plot = plot_with_title(page, "clean test samples")
    plot.scroll_into_view_if_needed()
    area = plot.evaluate(_PLOT_AREA_JS)
    # Markers outside the axes' range (the view holds 98 % of the points) are not clickable.
    points = [p for p in eventually(lambda: _drawn(markers(plot), "markers"))
              if area["left"] + 8 < p["px"] < area["right"] - 8
              and area["top"] + 8 < p["py"] < area["bottom"] - 8 and p["id"] not in besides]
    drawn = plot.evaluate(_ALL_POINTS_JS)

    def room(p):
        return min(abs(p["px"] - q["px"]) + abs(p["py"] - q["py"]) for q in drawn
                   if (q["px"], q["py"]) != (p["px"], p["py"]))
    target = max(points, key=room)
    return plot, target, room(target)


def _shows_stored_metrics(page, db: Path, sample_id: int) -> None:
    """The page names ``sample_id`` and its metrics show its stored clean row of the 2-D model."""
    with duckdb.connect(str(db), read_only=True) as con:
        angle, l2, margin = con.execute(
            "SELECT angle, l2, margin FROM sample_metrics WHERE model_id = ? AND "
            "benchmark_id = 'clean' AND sample_id = ?", [GUIDE_MODEL, sample_id]).fetchone()
    expected = {"Angle to the class direction": f"{angle:.2f}°",
                "Length (L2 norm)": f"{l2:.3f}", "Signed margin": f"{margin:.3f}"}

    def shown():
        errors = page.locator("[data-testid=stException]")
        assert errors.count() == 0 or pytest.fail(errors.first.inner_text())
        text = page.locator("[data-testid=stMain]").inner_text()
        assert re.search(rf"Sample {sample_id}\b", text), f"Sample {sample_id} not shown"
        metrics = page.locator("[data-testid=stMetric]")
        drawn = {metrics.nth(i).locator("[data-testid=stMetricLabel]").inner_text().strip():
                 metrics.nth(i).locator("[data-testid=stMetricValue]").inner_text().strip()
                 for i in range(metrics.count())}
        assert drawn == expected
    try:
        eventually(shown)
    except AssertionError:
        _screenshot(page, "guide-failed")
        raise
    eventually(lambda: _drawn(plot_with_title(page, "clean test samples").evaluate(
        "gd => gd._fullData.some(t => t.name === 'margin')"), "the margin"))


def test_click_on_the_plane_shows_the_samples_stored_metrics(browser, app_url, tiny_db):
    context, page = _page(browser, 1400)
    try:
        page.goto(f"{app_url}/geometry-guide")
        plot_with_title(page, "clean test samples")
        # A click on a marker selects it (the chart's clickmode is "event+select").
        _, clicked, _ = _isolated_marker(page)
        page.mouse.click(clicked["px"], clicked["py"])
        _shows_stored_metrics(page, tiny_db, int(clicked["id"]))
        _screenshot(page, "guide")

        # A small box that no other point enters, around another marker, chooses that one.
        plot, boxed, room = _isolated_marker(page, besides=frozenset({clicked["id"]}))
        half = min(room / 3, 12)
        box_select(page, plot, Box(boxed["px"] - half, boxed["py"] - half,
                                   boxed["px"] + half, boxed["py"] + half))
        _shows_stored_metrics(page, tiny_db, int(boxed["id"]))
    finally:
        context.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_table_and_parcoords_labels_never_overlap(browser, app_url, width):
    context, page = _page(browser, width)
    try:
        page.goto(app_url)
        table = plot_with_title(page, "Accuracy vs pruning ratio")
        page.wait_for_timeout(800)     # relayout to the container's width
        boxes = table.evaluate(_TEXT_BOXES_JS, "g.annotation text")
        assert len(boxes) > 5
        assert not _overlaps(boxes), _overlaps(boxes)
        ticks = table.evaluate(_TEXT_BOXES_JS, "g.xtick text")
        assert not _overlaps(ticks), _overlaps(ticks)
        _screenshot(page, f"overview-table-{width}")

        page.goto(f"{app_url}/samples-geometry")
        page.get_by_role("tab", name="Global view").click()
        # The parallel coordinates live in the brushable component's iframe.
        parcoords = page.frame_locator("iframe[title*=parcoords_brush]").locator(
            "#chart.js-plotly-plot")
        eventually(lambda: _at_least(parcoords.locator("text.axis-title").count(), 4),
                   timeout=2 * STEP_MS / 1000)
        page.wait_for_timeout(800)
        titles = parcoords.evaluate(_TEXT_BOXES_JS, "text.axis-title")
        assert len(titles) >= 4
        titles += parcoords.evaluate(_TEXT_BOXES_JS, "text.gtitle")   # the chart's own title
        assert not _overlaps(titles), _overlaps(titles)
        _screenshot(page, f"geometry-parcoords-{width}")
    finally:
        context.close()


def _at_least(count: int, minimum: int) -> int:
    assert count >= minimum, f"{count} < {minimum}"
    return count
