"""End to end in a real browser (Debian's Chromium, driven by Playwright, against
`streamlit run app/serve.py` on the `tiny` preset): the shared similarity view tells benchmarks
apart by colour, each tree in its benchmark's colour; the Geometry page's models × (reference vs
compared) view draws one panel per model with the right titles and equal axis ranges.

The tiny preset has no JPEG benchmark: the compared benchmark is gaussian noise at severity 5,
the case study's role (clean vs the hardest severity) with the tiny build's corruptions.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import duckdb
import pytest

from browser_helpers import BROWSER_MARKS, eventually, full_page_screenshot, plot_with_title

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "cache" / "screenshots"
pytestmark = [*BROWSER_MARKS, pytest.mark.slow]

_FRAME = "iframe[title*=parcoords_brush]"
_TRACES_JS = """gd => gd._fullData.map(t => ({name: t.name, mode: t.mode,
  marker: t.marker ? t.marker.color : null, line: t.line ? t.line.color : null,
  n: (t.x || []).filter(v => v !== null).length}))"""
_PANEL_JS = """gd => gd._fullData[0].dimensions.map(d => ({label: d.label, range: d.range}))"""


def _no_exception(page) -> None:
    assert page.locator("[data-testid=stException]").count() == 0, \
        page.locator("[data-testid=stException]").first.inner_text()


def test_two_benchmarks_have_their_colours_and_their_trees(page, app_url):
    page.goto(f"{app_url}/overview?benchmarks=clean,gaussian_noise-5")
    page.get_by_role("heading", name="Overview", level=1).wait_for()
    plot = plot_with_title(page, "Geometric similarity")

    def drawn():
        traces = plot.evaluate(_TRACES_JS)
        names = {t["name"] for t in traces}
        assert {"clean", "gaussian_noise-5", "MST · clean", "MST · gaussian_noise-5"} <= names
        return {t["name"]: t for t in traces}
    traces = eventually(drawn)
    clean, noise = traces["clean"], traces["gaussian_noise-5"]
    assert clean["n"] > 0 and noise["n"] > 0
    assert isinstance(clean["marker"], str) and isinstance(noise["marker"], str)
    assert clean["marker"] != noise["marker"]
    assert traces["MST · clean"]["line"] == clean["marker"]
    assert traces["MST · gaussian_noise-5"]["line"] == noise["marker"]
    text = page.locator("[data-testid=stMain]").inner_text()
    assert "Trees overlapping most: clean and gaussian_noise-5" in text
    assert "over all its" in text and "points" in text          # the quality stated
    _no_exception(page)
    full_page_screenshot(page, SCREENSHOTS / "overview_shared_similarity.png")


def test_three_model_panels_clean_vs_noise(page, app_url, tiny_db):
    models = ["lenet5-dense-r0.0-s0", "lenet5-magnitude-r0.9-rt-s0", "lenet5x1.5-mpt-r0.5-s0"]
    with duckdb.connect(str(tiny_db), read_only=True) as con:
        known = {r[0] for r in con.execute("SELECT model_id FROM models").fetchall()}
        class_name = con.execute("SELECT class_names[1] FROM dataset_info").fetchone()[0]
    assert set(models) <= known
    mode = quote("models × (reference vs compared)")
    page.goto(f"{app_url}/samples-geometry?models={','.join(models)}&reference=clean"
              f"&compared=gaussian_noise-5&class=0&global={mode}")
    page.get_by_role("heading", name="Geometry", level=1).wait_for()
    page.get_by_role("tab", name="Global view").click()
    frames = page.locator(_FRAME)

    def three_panels():
        assert frames.count() == 3, f"{frames.count()} panels"
    eventually(three_panels)
    main = page.locator("[data-testid=stMain]").inner_text()
    for number, model in enumerate(sorted(models), start=1):
        assert f"#{number} {model} — {class_name}:" in main
        assert "on clean" in main and "on gaussian_noise-5; overall" in main
    ranges = []
    for i in range(3):
        chart = page.frame_locator(_FRAME).nth(i).locator("#chart.js-plotly-plot")
        ranges.append(eventually(lambda: chart.evaluate(_PANEL_JS)))
    assert ranges[0] == ranges[1] == ranges[2]
    assert len(ranges[0]) >= 4
    _no_exception(page)
    full_page_screenshot(page, SCREENSHOTS / "geometry_model_panels.png")
