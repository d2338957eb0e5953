"""attribution page (being written)."""

import streamlit as st


def run() -> None:
    st.title("Attribution")
