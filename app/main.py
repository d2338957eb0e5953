"""Streamlit entry point: navigation, the shared sidebar, then the chosen page."""

from __future__ import annotations

import duckdb
import streamlit as st

from app import sidebar
from app.pages import page as app_page
from app.state import init_state
from core.store import SchemaVersionError

st.set_page_config(page_title="Robustness Lottery Explorer", layout="wide")
init_state()
page = st.navigation([app_page("guide"), app_page("overview"), app_page("geometry"),
                      app_page("attribution")])
try:
    sidebar.render()
    page.run()
except (SchemaVersionError, FileNotFoundError, duckdb.IOException) as exc:
    # A database that is missing, locked or from another version is an operator's problem to
    # fix; say which and how instead of showing a traceback.
    st.error(f"The results database cannot be read: {exc}")
