"""The app's pages. Each module has ``run()``; ``PAGES`` is the one place that names their URLs.

URL paths differ from the module names on purpose: Streamlit's legacy multipage mode would
otherwise run ``app/pages/<name>.py`` as a script when ``/<name>`` is opened directly.
"""

from __future__ import annotations

import streamlit as st


def page(name: str) -> st.Page:
    """The ``st.Page`` of ``name`` ("overview", "geometry" or "attribution")."""
    from app.pages import attribution, geometry, overview

    run, title, url = {
        "overview": (overview.run, "Overview", "population"),
        "geometry": (geometry.run, "Geometry", "samples-geometry"),
        "attribution": (attribution.run, "Attribution", "pixel-attribution"),
    }[name]
    return st.Page(run, title=title, url_path=url, default=name == "overview")
