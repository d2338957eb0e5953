"""The app's pages. Each module has ``run()``; ``page`` is the one place that names their URLs.

A page's module is imported on its first visit, so the Overview does not wait for torch (which
only the Attribution page needs). The Overview is the default page, which Streamlit serves at
the bare root ``/``; its own path is never an address.
"""

from __future__ import annotations

import importlib

import streamlit as st

_PAGES = {"guide": ("Guide", "geometry-guide"),
          "overview": ("Overview", "overview"),
          "geometry": ("Geometry", "samples-geometry"),
          "attribution": ("Attribution", "pixel-attribution")}
PAGE_NAMES = tuple(_PAGES)  # in navigation order
_RUNNERS: dict = {}


def _runner(name: str):
    if name not in _RUNNERS:
        def run() -> None:
            importlib.import_module(f"app.pages.{name}").run()

        run.__name__ = run.__qualname__ = f"run_{name}"
        _RUNNERS[name] = run
    return _RUNNERS[name]


def url_path(name: str) -> str:
    """The URL path of page ``name`` ("guide", "overview", "geometry" or "attribution")."""
    return _PAGES[name][1]


def linked_controls(name: str) -> dict:
    """The controls a link to page ``name`` carries (its module's ``LINKED_CONTROLS``: parameter
    name → `app.links.Control`; none for a page without)."""
    return dict(getattr(importlib.import_module(f"app.pages.{name}"), "LINKED_CONTROLS", {}))


def page(name: str) -> st.Page:
    """The ``st.Page`` of ``name`` ("guide", "overview", "geometry" or "attribution")."""
    title, url = _PAGES[name]
    return st.Page(_runner(name), title=title, url_path=url, default=name == "overview")
