"""End to end in a real browser (Debian's Chromium, driven by Playwright, against
`streamlit run streamlit_app.py` on the `tiny` preset): brushing the Geometry page's global view.
Choose three models, drag a range on an angle axis of the parallel coordinates with the mouse, and
the brushed samples become the selected samples: the count, the thumbnails and the Overview's
subset bars follow. Expected values come from the range Plotly drew and the database, not from
the app's code. Full-page screenshots of the global view and the class comparison land in
cache/screenshots/ (not tracked).
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from browser_helpers import (
    BROWSER_MARKS,
    eventually,
    full_page_screenshot,
    plot_with_title,
    wait_for_sidebar_count,
)

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "cache" / "screenshots"
pytestmark = BROWSER_MARKS

# The brushable chart lives in the custom component's iframe.
_FRAME = "iframe[title*=parcoords_brush]"

# Where the first axis of the parcoords is drawn and how its values map to pixels (Plotly spaces
# the axes evenly over the trace's x domain; values span the domain's height less 2 px each end).
_AXIS_JS = """(gd, label) => {
  const size = gd._fullLayout._size, trace = gd._fullData[0], dims = trace.dimensions;
  const index = dims.findIndex(d => d.label === label), dom = trace.domain;
  const width = Math.floor(size.w * (dom.x[1] - dom.x[0]));
  const height = Math.floor(size.h * (dom.y[1] - dom.y[0]));
  const top = size.t + (1 - dom.y[1]) * size.h;
  return {x: size.l + dom.x[0] * size.w + width * index / Math.max(1, dims.length - 1),
          top: top + 2, bottom: top + height - 2, range: dims[index].range,
          groups: new Set(Array.from(trace.line.color)).size};
}"""

_CONSTRAINT_JS = """(gd, label) => {
  const d = gd.data[0].dimensions.find(d => d.label === label);
  return d.constraintrange || null;
}"""

_CLEAN_BARS_JS = """gd => gd._fullData.filter(t => t.type === 'bar' && t.width === 7).flatMap(t =>
  Array.from(t.customdata, cd => ({key: cd[0], shown: cd[2]})))
  .filter(b => b.key.endsWith('|clean'))"""


def _query(db: Path, sql: str, params=()) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def _no_exception(page) -> None:
    assert page.locator("[data-testid=stException]").count() == 0, \
        page.locator("[data-testid=stException]").first.inner_text()


def test_brushing_an_axis_selects_samples_everywhere(page, app_url, tiny_db):
    page.goto(app_url)
    page.get_by_role("heading", name="Overview", level=1).wait_for()
    page.locator("[data-testid=stSidebarNav] a", has_text="Geometry").click()
    page.get_by_role("heading", name="Geometry", level=1).wait_for()
    page.get_by_role("tab", name="Global view").click()
    panel = page.locator("[role=tabpanel]:visible")

    # Three models: the view starts with two; add a third from the multiselect.
    models = panel.get_by_role("combobox", name=re.compile(r"^Models \(up to 3"))
    models.click()
    page.get_by_role("option").first.click()
    page.keyboard.press("Escape")
    wait_for_sidebar_count(page, "selected models", 3)
    def three_tags():
        tags = page.locator("[data-testid=stMultiSelect] [data-tag]").evaluate_all(
            "tags => tags.map(t => t.getAttribute('aria-label'))")
        assert len(tags) == 3, tags
        return tags
    chosen = eventually(three_tags)
    benchmark = page.get_by_role("combobox", name="Benchmark", exact=True).input_value()
    class_label = page.get_by_role("combobox", name="Class", exact=True).input_value()
    class_index = int(class_label.split(":")[0])
    class_name = class_label.split(": ", 1)[1]

    frame = page.frame_locator(_FRAME)
    chart = frame.locator("#chart.js-plotly-plot")
    label = f"∠ {class_name} (°)"

    def three_groups():
        axis = chart.evaluate(_AXIS_JS, label)
        assert axis["groups"] == 3, axis
        return axis
    axis = eventually(three_groups)
    page.locator(_FRAME).scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    box = page.locator(_FRAME).bounding_box()
    assert box, "the chart's frame is not visible"
    # Drag from 25 % to 65 % of the axis's height, as a user would.
    x = box["x"] + axis["x"]
    y_start = box["y"] + axis["top"] + 0.25 * (axis["bottom"] - axis["top"])
    y_end = box["y"] + axis["top"] + 0.65 * (axis["bottom"] - axis["top"])
    page.mouse.move(x, y_start)
    page.mouse.down()
    page.mouse.move(x, (y_start + y_end) / 2, steps=5)
    page.mouse.move(x, y_end, steps=10)
    page.mouse.up()
    low, high = sorted(eventually(lambda: _constraint(chart, label)))

    # The samples of the class whose angle to the class direction lies in the drawn range under
    # at least one of the three models.
    rows = _query(tiny_db, "SELECT DISTINCT sample_id FROM sample_metrics WHERE label = ? AND "
                           "benchmark_id = ? AND model_id IN (SELECT unnest(?)) AND "
                           "angles[?] BETWEEN ? AND ? ORDER BY 1",
                  [class_index, benchmark, chosen, class_index + 1, low, high])
    expected = [r[0] for r in rows]
    total = _query(tiny_db, "SELECT count(DISTINCT sample_id) FROM sample_metrics WHERE "
                            "label = ? AND benchmark_id = ?", [class_index, benchmark])[0][0]
    assert 0 < len(expected) < total, (low, high, len(expected), total)
    wait_for_sidebar_count(page, "selected samples", len(expected))
    eventually(lambda: _assert_in(f"{len(expected):,} samples", panel.inner_text()))
    _no_exception(page)
    full_page_screenshot(page, SCREENSHOTS / "geometry_global_brush.png")

    # The class comparison (Local view), for the screenshot.
    page.get_by_role("tab", name="Local view").click()
    plot_with_title(page, "A and B overlaid").scroll_into_view_if_needed()
    _no_exception(page)
    full_page_screenshot(page, SCREENSHOTS / "geometry_class_comparison.png")

    # Thumbnails of the brushed samples.
    page.get_by_role("tab", name="Samples").click()
    samples = page.locator("[role=tabpanel]:visible")

    def thumbnails():
        assert samples.locator("[data-testid=stImage]").count() == min(len(expected), 40)
        shown = {int(i) for i in re.findall(r"#(\d+) [✓✗]", samples.inner_text())}
        assert shown and shown <= set(expected)
    eventually(thumbnails)

    # The Overview's table shows accuracy on those samples: each clean bar's height is the mean
    # of its models' accuracy on them.
    page.locator("[data-testid=stSidebarNav] a", has_text="Overview").click()
    page.get_by_role("heading", name="Overview", level=1).wait_for()
    eventually(lambda: _assert_in(f"{len(expected)} selected samples",
                                  page.locator("[data-testid=stMain]").inner_text()))
    per_bar = _query(tiny_db, """
        SELECT concat_ws('|', m.arch, m.method, m.retrained::VARCHAR, m.ratio::VARCHAR,
                         'clean') AS k, m.ratio, avg(acc)
        FROM (SELECT model_id, avg(correct::DOUBLE) AS acc FROM sample_metrics
              WHERE benchmark_id = 'clean' AND sample_id IN (SELECT unnest(?)) GROUP BY 1)
        JOIN models m USING (model_id) WHERE m.method <> 'dense' GROUP BY ALL""", [expected])
    bars = plot_with_title(page, "Accuracy vs pruning ratio").evaluate(_CLEAN_BARS_JS)
    by_key = {_bar_key(b["key"]): b["shown"] for b in bars}
    assert len(by_key) == len(per_bar) > 0
    for key, ratio, accuracy in per_bar:
        arch, method, retrained, _, _ = key.split("|")
        assert by_key[(arch, method, retrained.lower() == "true", round(ratio, 6))] == \
            pytest.approx(100 * accuracy, abs=0.01)
    _no_exception(page)


def _constraint(chart, label):
    value = chart.evaluate(_CONSTRAINT_JS, label)
    assert value, "the drag drew no range on the axis"
    return value


def _assert_in(fragment: str, text: str) -> None:
    assert fragment in text, f"…{fragment}… not shown"


def _bar_key(key: str) -> tuple:
    arch, method, retrained, ratio, _ = key.split("|")
    return arch, method, retrained == "True", round(float(ratio), 6)
