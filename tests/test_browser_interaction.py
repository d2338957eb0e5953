"""In a real browser (Debian's Chromium, Playwright) on the `tiny` preset: a click selects one
bar of the evaluation table and one point of a Geometry scatter; every page's console stays
free of warnings and errors (WebGL ones included) and no page creates more than
`MAX_WEBGL_CONTEXTS` WebGL contexts. Expected values come from the database and the drawn
positions, not from the app's code."""

from __future__ import annotations

import math
import re
from pathlib import Path

import duckdb
import pytest

from browser_helpers import (
    BROWSER_MARKS,
    PROBE_JS,
    VIEWPORT,
    WEBGL_COUNT_JS,
    markers,
    plot_with_title,
    settle,
    sidebar_count,
    wait_for_sidebar_count,
    webgl_contexts,
)

pytestmark = BROWSER_MARKS

MAX_WEBGL_CONTEXTS = 8
PAGES = {"": "Overview", "samples-geometry": "Geometry", "geometry-guide": "Guide",
         "pixel-attribution": "Attribution"}

# Every drawn bar of the evaluation table: its bar key (customdata[0]) and its box on screen.
_BARS_JS = """gd => Array.from(gd.querySelectorAll('.barlayer .trace.bars')).flatMap(g => {
  const trace = g.__data__[0].trace;
  if (!trace.customdata) return [];
  return Array.from(g.querySelectorAll('.point')).map(p => {
    const r = p.getBoundingClientRect(), cd = trace.customdata[p.__data__.i];
    return {key: cd && cd[0], x: r.x, y: r.y, width: r.width, height: r.height};
  });
})"""


def _clean_bars(table) -> list[dict]:
    """The clean column's bars at least 12 px tall (a click or drag hits them) and in view."""
    return [b for b in table.evaluate(_BARS_JS)
            if b["key"] and b["key"].endswith("|clean") and b["height"] >= 12
            and 0 < b["y"] and b["y"] + b["height"] < VIEWPORT["height"]]


def _models(db: Path) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute("SELECT DISTINCT m.model_id, arch, method, retrained, ratio FROM "
                           "models m JOIN evaluations e USING (model_id)").fetchall()


# Console lines that Streamlit or headless Chromium write whatever the app does, each matched
# exactly: the feature-policy list and sandbox note of Streamlit's custom-component iframe, and
# the software GL driver's performance notes (no GPU here) when Plotly's parcoords reads back
# pixels for picking. Any other WebGL line fails, e.g. "Too many active WebGL contexts".
_NOT_THE_APP = (re.compile(r"^warning: Unrecognized feature: '[a-z-]+'\.$"),
                re.compile(r"^warning: An iframe which has both allow-scripts and allow-same-"
                           r"origin for its sandbox attribute can escape its sandboxing\.$"),
                re.compile(r"^warning: \[\.WebGL-0x[0-9a-f]+\]GL Driver Message \(OpenGL, "
                           r"Performance, GL_CLOSE_PATH_NV, High\): GPU stall due to ReadPixels"))


def _fresh_page(browser):
    context = browser.new_context(viewport=VIEWPORT)
    context.add_init_script(PROBE_JS)
    context.add_init_script(WEBGL_COUNT_JS)
    page = context.new_page()
    messages: list[str] = []

    def collect(message):
        line = f"{message.type}: {message.text}"
        if ((message.type in ("warning", "error") or "webgl" in line.lower())
                and not any(rule.match(line) for rule in _NOT_THE_APP)):
            messages.append(f"{line} ({message.location.get('url')})")
    page.on("console", collect)
    page.on("pageerror", lambda error: messages.append(f"pageerror: {error}"))
    return context, page, messages


@pytest.mark.parametrize("url_path", list(PAGES))
def test_pages_log_nothing_and_hold_few_webgl_contexts(browser, app_url, tiny_db, url_path):
    # Two pruned models, so the Geometry page draws its A/B comparison too, and a sample with
    # stored images, so the Attribution page draws its maps.
    models = sorted(m[0] for m in _models(tiny_db) if m[2] != "dense")
    with duckdb.connect(str(tiny_db), read_only=True) as con:
        sample = con.execute("SELECT min(sample_id) FROM images").fetchone()[0]
    context, page, messages = _fresh_page(browser)
    try:
        # Opened from the root and reached through the sidebar: a first load at a deeper path
        # makes Streamlit's frontend probe <path>/_stcore/health and host-config (two 404s)
        # before it finds the server's root, whatever the app does.
        page.goto(f"{app_url}/?models={','.join(models[:2])}&sample={sample}")
        page.get_by_role("heading", name="Overview", level=1).wait_for(timeout=60_000)
        if url_path:
            page.locator("[data-testid=stSidebarNav] a", has_text=PAGES[url_path]).click()
        page.get_by_role("heading", name=PAGES[url_path], level=1).wait_for(timeout=60_000)
        settle(page)
        assert page.locator(".js-plotly-plot").count() > 0, "the page drew no chart"
        contexts = webgl_contexts(page)
        assert contexts <= MAX_WEBGL_CONTEXTS, f"{contexts} WebGL contexts on /{url_path}"
        assert not messages, f"console of /{url_path}:\n" + "\n".join(messages)
    finally:
        context.close()


def test_a_click_selects_one_bar_and_one_point(page, app_url, tiny_db):
    page.add_init_script(PROBE_JS)
    page.goto(app_url)
    page.get_by_role("heading", name="Overview", level=1).wait_for()
    table = plot_with_title(page, "Accuracy vs pruning ratio")
    table.scroll_into_view_if_needed()
    settle(page)
    bars = _clean_bars(table)
    assert bars, "no clean-column bar in view is tall enough to click"
    bar = bars[len(bars) // 2]
    arch, method, retrained, ratio, _ = bar["key"].split("|")
    expected = [m for m, a, me, r, q in _models(tiny_db)
                if (a, me, str(bool(r)), float(q)) == (arch, method, retrained, float(ratio))]
    assert expected
    page.mouse.click(bar["x"] + bar["width"] / 2, bar["y"] + bar["height"] / 2)
    wait_for_sidebar_count(page, "selected models", len(expected))
    wait_for_sidebar_count(page, "selected benchmarks", 1)
    sidebar = page.locator("[data-testid=stSidebar]").inner_text()
    assert all(m in sidebar for m in sorted(expected)[:5])

    # Geometry: a click on the point farthest from its neighbours selects that one sample.
    page.locator("[data-testid=stSidebarNav] a", has_text="Geometry").click()
    page.get_by_role("heading", name="Geometry", level=1).wait_for()
    local = plot_with_title(page, "grey correct, red misclassified")
    local.scroll_into_view_if_needed()
    settle(page)
    points = markers(local)
    assert len(points) > 1

    def isolation(p):
        return min(math.dist((p["px"], p["py"]), (o["px"], o["py"]))
                   for o in points if o is not p)
    target = max(points, key=isolation)
    assert isolation(target) > 6, "every point has a neighbour within 6 px"
    page.mouse.click(target["px"], target["py"])
    wait_for_sidebar_count(page, "selected samples", 1)
    assert f"selected samples (1): {int(target['id'])}\n" in page.locator(
        "[data-testid=stSidebar]").inner_text()


@pytest.mark.xfail(strict=True, reason=(
    "st.plotly_chart's element id hashes the figure spec (key_as_main_identity=False), and the "
    "table's spec changes with the selection it highlights: after every selection rerun the "
    "chart is a new Plotly instance, so shift + box has no earlier selection to add to and "
    "a double-click has no stored selection to clear. Needs the selection owner's rework."))
def test_shift_box_adds_and_a_double_click_clears(page, app_url, tiny_db):
    page.add_init_script(PROBE_JS)
    page.goto(app_url)
    page.get_by_role("heading", name="Overview", level=1).wait_for()
    table = plot_with_title(page, "Accuracy vs pruning ratio")
    table.scroll_into_view_if_needed()
    settle(page)
    bars = _clean_bars(table)
    first, second = bars[0], bars[-1]
    groups = {tuple(b["key"].split("|")[:4]) for b in (first, second)}
    assert len(groups) == 2
    expected = [m for m, a, me, r, q in _models(tiny_db)
                if any((a, me, str(bool(r)), float(q)) == (g[0], g[1], g[2], float(g[3]))
                       for g in groups)]
    page.mouse.click(first["x"] + first["width"] / 2, first["y"] + first["height"] / 2)
    settle(page)
    table = plot_with_title(page, "Accuracy vs pruning ratio")
    table.hover()  # shows the modebar; may scroll, so the bar is found again afterwards
    table.locator(".modebar-btn[data-attr=dragmode][data-val=select]").click()
    second = next(b for b in _clean_bars(table) if b["key"] == second["key"])
    page.keyboard.down("Shift")
    page.mouse.move(second["x"] - 2, second["y"] - 2)
    page.mouse.down()
    page.mouse.move(second["x"] + second["width"] + 2, second["y"] + second["height"] + 2,
                    steps=8)
    page.mouse.up()
    page.keyboard.up("Shift")
    wait_for_sidebar_count(page, "selected models", len(expected))
    area = table.evaluate("gd => { const r = gd.getBoundingClientRect(), "
                          "x = gd._fullLayout.xaxis, y = gd._fullLayout.yaxis; "
                          "return [r.left + x._offset + 2, r.top + y._offset + 2]; }")
    page.mouse.dblclick(*area)
    settle(page)
    assert sidebar_count(page, "selected models") is None
