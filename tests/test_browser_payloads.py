"""Links cannot write into the app's own messages, end to end in a real browser: each payload
(a code-span break-out, links, an image, HTML, a very long value, newlines) is put into every
link parameter of every page (the selections, the page's controls, and a parameter name), the
page is opened in Chromium, and no alert holds a link, an image or bold text that the app did
not put there; the payload's text is still shown, as text (app/escape.py)."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from app.links import SELECTION_PARAMS
from app.pages import linked_controls
from browser_helpers import BROWSER_MARKS, STEP_MS, VIEWPORT, eventually, streamlit_server

pytestmark = BROWSER_MARKS

EVIL = "http://evil.example"
PAYLOADS = {
    "code-span break-out": f"PAYLOAD x` **Your session expired.** [Sign in again]({EVIL}/login) "
                           f"![]({EVIL}/pixel.png) `",
    "double-backtick break-out": f"PAYLOAD `` **bold** [link]({EVIL}) ``",
    "link and autolinks": f"PAYLOAD [Sign in]({EVIL}/login) <{EVIL}/a> www.evil.example "
                          f"{EVIL}/bare",
    "image": f"PAYLOAD ![logo]({EVIL}/p.png)",
    "html": f"PAYLOAD <img src={EVIL}/p.png><a href={EVIL}>x</a><b>bold</b>",
    "very long": "PAYLOAD " + "A" * 5000 + f" [tail]({EVIL})",
    "newlines": f"PAYLOAD x\n\n[Sign in]({EVIL}/login)\n\n# Heading\n\n* item",
    "streamlit markup": "PAYLOAD :red[red] :material/warning: $x^2$ :smile:",
}
PAGES = {"guide": "geometry-guide", "overview": "", "geometry": "samples-geometry",
         "attribution": "pixel-attribution"}

# What each alert holds: its text, and the links, images and bold parts inside it.
_ALERTS_JS = """() => Array.from(document.querySelectorAll('[data-testid=stAlert]')).map(a => ({
  text: a.innerText,
  links: Array.from(a.querySelectorAll('a')).map(x => x.getAttribute('href')),
  images: Array.from(a.querySelectorAll('img')).map(x => x.getAttribute('src')),
  strong: Array.from(a.querySelectorAll('strong, b, em, h1, h2, h3')).map(x => x.innerText),
}))"""
_FOREIGN_JS = f"""() => Array.from(document.querySelectorAll('a[href], img[src]')).map(
  x => x.getAttribute('href') || x.getAttribute('src')).filter(u => u.includes('evil.example'))"""


def link_params(page: str, payload: str) -> dict[str, str]:
    """Every parameter a link to ``page`` may carry, set to ``payload``; and the payload as the
    name of an unknown parameter."""
    names = list(SELECTION_PARAMS) + list(linked_controls(page))
    return {**{name: payload for name in names}, payload[:60]: "1"}


@pytest.fixture(scope="module")
def served(browser, synth_db):
    from pathlib import Path

    with streamlit_server(synth_db, root=Path(__file__).resolve().parent.parent) as url:
        yield url


@pytest.mark.parametrize("page_name", list(PAGES))
def test_payloads_in_links_never_format_an_alert(browser, served, page_name):
    context = browser.new_context(viewport=VIEWPORT)
    try:
        for name, payload in PAYLOADS.items():
            page = context.new_page()
            page.set_default_timeout(STEP_MS)
            query = urlencode(link_params(page_name, payload))
            page.goto(f"{served}/{PAGES[page_name]}?{query}")
            page.locator("h1").first.wait_for()

            def alerts_quote_the_payload():
                alerts = page.evaluate(_ALERTS_JS)
                assert any("PAYLOAD" in a["text"] for a in alerts), (name, alerts)
                return alerts
            alerts = eventually(alerts_quote_the_payload)
            for alert in alerts:
                assert not alert["links"], (name, alert)
                assert not alert["images"], (name, alert)
                assert not any("PAYLOAD" in s or "session" in s or "bold" in s
                               for s in alert["strong"]), (name, alert)
                assert len(alert["text"]) < 3000, (name, len(alert["text"]))   # long: shortened
            assert page.evaluate(_FOREIGN_JS) == [], name   # nowhere else on the page either
            assert page.locator("[data-testid=stException]").count() == 0, name
            page.close()
    finally:
        context.close()
