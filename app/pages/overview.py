"""overview page (being written)."""

import streamlit as st


def run() -> None:
    st.title("Overview")
