"""Streamlit entry point: navigation, the shared sidebar, then the chosen page.

URL paths differ from the page files' names on purpose: Streamlit's legacy multipage mode would
otherwise run ``app/pages/<name>.py`` as a script when ``/<name>`` is opened directly.
"""

from __future__ import annotations

import duckdb
import streamlit as st

from app import sidebar
from app.pages import attribution, geometry, overview
from app.state import init_state
from core.store import SchemaVersionError

st.set_page_config(page_title="Robustness Lottery Explorer", layout="wide")
init_state()
page = st.navigation([
    st.Page(overview.run, title="Overview", url_path="population", default=True),
    st.Page(geometry.run, title="Geometry", url_path="samples-geometry"),
    st.Page(attribution.run, title="Attribution", url_path="pixel-attribution"),
])
try:
    sidebar.render()
    page.run()
except (SchemaVersionError, FileNotFoundError, duckdb.IOException) as exc:
    # A database that is missing, locked or from another version is an operator's problem to
    # fix; say which and how instead of showing a traceback.
    st.error(f"The results database cannot be read: {exc}")
