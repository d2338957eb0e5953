"""Streamlit entry point: navigation, the shared sidebar, then the chosen page."""

from __future__ import annotations

import streamlit as st

from app import sidebar
from app.pages import attribution, geometry, overview
from app.state import init_state

st.set_page_config(page_title="Robustness Lottery Explorer", layout="wide")
init_state()
page = st.navigation([
    st.Page(overview.run, title="Overview", url_path="overview", default=True),
    st.Page(geometry.run, title="Geometry", url_path="geometry"),
    st.Page(attribution.run, title="Attribution", url_path="attribution"),
])
sidebar.render()
page.run()
