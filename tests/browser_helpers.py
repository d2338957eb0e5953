"""Helpers for the real-browser test: a Streamlit server in a subprocess, Debian's Chromium
driven by Playwright, and mouse selections on Plotly charts whose expected result is computed
from the points' pixel positions (what the user sees), not from the app's code.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, TypeVar

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# No GPU, no network chatter, no first-run UI: the same flags locally and in CI.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1400, "height": 1000}
STEP_MS = 60_000  # per step: the machine is slow and every widget change reruns the script
T = TypeVar("T")

# Every marker of a Plotly chart in viewport pixels: one row per point with its subplot, its
# first customdata element (the id the app puts there) and its position. Positions use Plotly's
# own axis mapping (offset + c2p), i.e. where the marker is drawn.
_MARKERS_JS = """gd => {
  const box = gd.getBoundingClientRect(), layout = gd._fullLayout, out = [];
  gd._fullData.forEach(t => {
    if (t.visible !== true || !String(t.mode || '').includes('markers') || !t.customdata) return;
    const xa = layout[t.xaxis.replace('x', 'xaxis')], ya = layout[t.yaxis.replace('y', 'yaxis')];
    for (let i = 0; i < t.x.length; i++) {
      if (t.x[i] == null || t.y[i] == null) continue;
      const cd = t.customdata[i];
      out.push({subplot: t.xaxis + t.yaxis, id: (cd != null && typeof cd === 'object') ? cd[0] : cd,
                px: box.left + xa._offset + xa.c2p(t.x[i]),
                py: box.top + ya._offset + ya.c2p(t.y[i])});
    }
  });
  return out;
}"""

_AREA_JS = """(gd, subplot) => {
  const box = gd.getBoundingClientRect(), p = gd._fullLayout._plots[subplot];
  const xa = p.xaxis, ya = p.yaxis;
  return {left: box.left + xa._offset, right: box.left + xa._offset + xa._length,
          top: box.top + ya._offset, bottom: box.top + ya._offset + ya._length};
}"""


# Installed before any page script (``context.add_init_script``): timestamps of the traffic and
# DOM changes that "settled" waits out, and a count of requests in flight.
PROBE_JS = """(() => {
  const probe = window.__settle = {last: performance.now(), inflight: 0};
  const touch = () => { probe.last = performance.now(); };
  const Socket = window.WebSocket;
  window.WebSocket = function (...args) {
    const ws = new Socket(...args);
    ws.addEventListener('message', touch);
    const send = ws.send.bind(ws);
    ws.send = data => { touch(); return send(data); };
    return ws;
  };
  window.WebSocket.prototype = Socket.prototype;
  Object.assign(window.WebSocket, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
  const fetch = window.fetch;
  window.fetch = (...args) => {
    probe.inflight++; touch();
    return fetch(...args).finally(() => { probe.inflight--; touch(); });
  };
  new MutationObserver(touch).observe(document, {subtree: true, childList: true,
                                                 attributes: true, characterData: true});
})()"""

# Settled: no running indicator, nothing in flight, quiet for `quiet` ms. Returns the time of
# the last event (ms, performance.now()).
SETTLED_JS = """quiet => {
  const probe = window.__settle, status = document.querySelector('[data-testid=stStatusWidget]');
  const running = !!status && /running/i.test(status.innerText || '');
  const idle = !running && probe.inflight === 0 && performance.now() - probe.last >= quiet;
  return idle ? probe.last : null;
}"""



# Installed before any page script: counts the canvases that get a WebGL context in this frame
# (a browser keeps about 16 per page and drops the oldest beyond that).
WEBGL_COUNT_JS = """(() => {
  const seen = window.__webgl = {contexts: 0};
  const get = HTMLCanvasElement.prototype.getContext;
  HTMLCanvasElement.prototype.getContext = function (type, ...rest) {
    const context = get.call(this, type, ...rest);
    if (context && /webgl/i.test(String(type)) && !this.__webglCounted) {
      this.__webglCounted = true;
      seen.contexts++;
    }
    return context;
  };
})()"""


def webgl_contexts(page) -> int:
    """WebGL contexts created so far in ``page`` and its frames (components are iframes)."""
    return sum(frame.evaluate("() => (window.__webgl || {contexts: 0}).contexts")
               for frame in page.frames)


def settle(page, *, quiet_ms: int = 1000, timeout_ms: int = STEP_MS) -> None:
    """Wait until Streamlit's running indicator is gone, no request is in flight and nothing
    (websocket message, fetch, DOM change) happened for ``quiet_ms`` (needs `PROBE_JS`)."""
    page.wait_for_function(SETTLED_JS, arg=quiet_ms, timeout=timeout_ms, polling=100)


def chromium_or_reason() -> str | None:
    """None when the system Chromium exists, else why the browser test cannot run."""
    if CHROMIUM.exists():
        return None
    return (f"{CHROMIUM} is missing: install Debian's `chromium` package (scripts/setup.sh --test "
            "does). Playwright's own browser downloads are not used.")


# Marks of every browser test module: slow, and skipped where the system Chromium is missing —
# except in CI, which installs it (scripts/setup.sh --test), so there a missing browser fails.
BROWSER_MARKS = [pytest.mark.skipif(chromium_or_reason() is not None and not os.environ.get("CI"),
                                    reason=str(chromium_or_reason())), pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def streamlit_server(db: Path, *, root: Path, timeout: float = 90, script: str = "app/serve.py",
                     env: dict[str, str] | None = None) -> Iterator[str]:
    """Run `streamlit run <script>` (the served app, app/serve.py, by default) on a free port
    against ``db`` (cwd ``root`` so .streamlit/config.toml applies), with ``env`` added to the
    environment; yield its base URL once /_stcore/health answers; always stop it."""
    port = free_port()
    env = {**os.environ, "ROBUSTNESS_DB": str(db), **(env or {})}
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", script, "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true",
             "--browser.gatherUsageStats", "false"],
            cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_healthy(url, proc, log, timeout)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_healthy(url: str, proc: subprocess.Popen, log, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"streamlit exited with {proc.returncode}:\n{log.read()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    log.seek(0)
    raise TimeoutError(f"streamlit did not answer /_stcore/health in {timeout:.0f} s:\n"
                       f"{log.read()[-3000:]}")


# --------------------------------------------------------------------------- Streamlit DOM

def sidebar_count(page, key: str) -> int | None:
    """N of the sidebar's "**key** (N): a, b, …" selection summary, None when absent."""
    text = page.locator("[data-testid=stSidebar]").inner_text()
    match = re.search(rf"{re.escape(key)} \((\d+)\):", text)
    return int(match.group(1)) if match else None


def eventually(check: Callable[[], T], *, timeout: float = STEP_MS / 1000) -> T:
    """``check()``'s result once it stops raising AssertionError (Streamlit reruns after each
    interaction and redraws asynchronously); its last AssertionError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.25)


def wait_for_sidebar_count(page, key: str, expected: int) -> None:
    def check():
        shown = sidebar_count(page, key)
        assert shown == expected, f"the sidebar shows {key} ({shown}), expected {expected}"
    eventually(check)


def selectbox_value(page, label) -> str:
    """The value a labelled st.selectbox displays (``label``: text or compiled regex)."""
    return page.get_by_role("combobox", name=label, exact=True).input_value()


def choose_option(page, label: str, index: int = 0) -> str:
    """Open the labelled st.selectbox and click its option number ``index``; returns its text."""
    page.get_by_role("combobox", name=label, exact=True).click()
    option = page.get_by_role("option").nth(index)
    text = option.inner_text().strip()
    option.click()
    return text


def plot_with_title(page, fragment: str):
    """The Plotly chart whose layout title contains ``fragment``, once it is drawn."""
    plots = page.locator(".js-plotly-plot")
    page.wait_for_function(
        """f => Array.from(document.querySelectorAll('.js-plotly-plot')).some(
             gd => gd._fullLayout && String(gd._fullLayout.title.text || '').includes(f))""",
        arg=fragment, timeout=STEP_MS)
    # Located by its drawn title, not by position: charts drawn later above it (Streamlit renders
    # a page's elements as they arrive) would shift a positional locator onto another chart.
    plot = plots.filter(has=page.locator("text.gtitle", has_text=fragment)).first
    plot.wait_for(timeout=STEP_MS)
    return plot


def full_page_screenshot(page, path: Path) -> None:
    """Screenshot of the whole page: Streamlit scrolls inside its main container, so the viewport
    is stretched to the content's height for the shot and restored afterwards."""
    path.parent.mkdir(parents=True, exist_ok=True)
    height = page.evaluate(
        "Math.max(...['stMain', 'stSidebar'].map(id => "
        "(document.querySelector(`[data-testid=${id}]`) || {scrollHeight: 0}).scrollHeight))")
    page.set_viewport_size({"width": VIEWPORT["width"], "height": max(VIEWPORT["height"], height)})
    page.wait_for_timeout(500)  # Plotly charts relayout on resize
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(VIEWPORT)


# --------------------------------------------------------------------------- Plotly selections

@dataclass(frozen=True)
class Box:
    left: float
    top: float
    right: float
    bottom: float

    def holds(self, point: dict) -> bool:
        return self.left < point["px"] < self.right and self.top < point["py"] < self.bottom


def markers(plot) -> list[dict]:
    return plot.evaluate(_MARKERS_JS)


def split_box(plot, *, margin: float = 3, min_gap: float = 8) -> tuple[Box, list]:
    """A box over the left part of the subplot with the most markers, its right edge in the
    middle of the widest horizontal gap between markers (so no marker lies near an edge), chosen
    so that both sides keep at least a quarter of the markers when possible. Returns the box and
    the ids of the markers inside it, which a box selection must pick."""
    # Plotly draws the markers a moment after the chart element appears: wait for them.
    deadline = time.monotonic() + 60
    while not (points := markers(plot)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert points, "the chart drew no markers within 60 s"
    by_subplot: dict[str, list[dict]] = {}
    for point in points:
        by_subplot.setdefault(point["subplot"], []).append(point)
    subplot, members = max(by_subplot.items(), key=lambda item: len(item[1]))
    xs = sorted(p["px"] for p in members)
    gaps = [(xs[i + 1] - xs[i], i + 1) for i in range(len(xs) - 1) if xs[i + 1] - xs[i] >= min_gap]
    if not gaps:
        raise AssertionError(f"markers of {subplot} are too close together to split: {xs}")
    quarter = max(1, len(xs) // 4)
    balanced = [g for g in gaps if quarter <= g[1] <= len(xs) - quarter]
    _, left_count = max(balanced or gaps)
    area = plot.evaluate(_AREA_JS, subplot)
    box = Box(area["left"] + margin, area["top"] + margin,
              (xs[left_count - 1] + xs[left_count]) / 2, area["bottom"] - margin)
    inside = [p["id"] for p in points if box.holds(p)]
    assert len(inside) == left_count, "a marker lies outside its subplot's plotting area"
    return box, inside


def box_select(page, plot, box: Box) -> None:
    """Choose Plotly's "Box Select" tool in the chart's modebar, then drag ``box`` with the
    mouse as a user would."""
    plot.hover()
    plot.locator(".modebar-btn[data-attr=dragmode][data-val=select]").click()
    page.mouse.move(box.left, box.top)
    page.mouse.down()
    page.mouse.move((box.left + box.right) / 2, (box.top + box.bottom) / 2, steps=5)
    page.mouse.move(box.right, box.bottom, steps=10)
    page.mouse.up()


# The similarity view: the ids of the ringed ("selected models") markers, and the models a box
# selects. A marker of coincident models carries their ids joined by a newline.
SELECTED_MODELS_JS = """gd => [...new Set(gd._fullData.filter(t => t.name === 'selected models')
                                   .flatMap(t => Array.from(t.customdata, c => c[0]))
                                   .flatMap(ids => String(ids).split('\\n')))].sort()"""


def model_ids(marker_ids) -> list[str]:
    """The sorted model ids behind similarity markers (a coincident marker stands for all)."""
    return sorted({m for marker in marker_ids for m in str(marker).split("\n")})
