"""The app's pages. Each module has ``run()``; ``page`` is the one place that names their URLs.

URL paths differ from the module names on purpose: Streamlit's legacy multipage mode would
otherwise run ``app/pages/<name>.py`` as a script when ``/<name>`` is opened directly.
A page's module is imported on its first visit, so the Overview does not wait for torch (which
only the Attribution page needs).

The Overview is the default page, which Streamlit serves at the bare root ``/``; its own path is
never an address. ``/population``, where it was once linked, is kept as a hidden alias that
switches to the root (otherwise Streamlit shows a "Page not found" dialog over the page).
"""

from __future__ import annotations

import importlib

import streamlit as st

_PAGES = {"guide": ("Guide", "geometry-guide"),
          "overview": ("Overview", "overview"),
          "geometry": ("Geometry", "samples-geometry"),
          "attribution": ("Attribution", "pixel-attribution")}
ALIASES = {"population": "overview"}  # hidden url path -> the page it opens
_RUNNERS: dict = {}


def _runner(name: str):
    if name not in _RUNNERS:
        def run() -> None:
            importlib.import_module(f"app.pages.{name}").run()

        run.__name__ = run.__qualname__ = f"run_{name}"
        _RUNNERS[name] = run
    return _RUNNERS[name]


def page(name: str) -> st.Page:
    """The ``st.Page`` of ``name`` ("guide", "overview", "geometry" or "attribution")."""
    title, url = _PAGES[name]
    return st.Page(_runner(name), title=title, url_path=url, default=name == "overview")


def alias(url_path: str) -> st.Page:
    """The hidden ``st.Page`` at ``url_path``, one of :data:`ALIASES`; the app switches from it
    to the page it names (``app/main.py``)."""
    target = ALIASES[url_path]
    return st.Page(_runner(target), title=_PAGES[target][0], url_path=url_path,
                   visibility="hidden")
