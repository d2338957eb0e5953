"""Queries every page uses."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app.db import DbRef


@st.cache_data(max_entries=16, show_spinner=False)
def build_progress(db: DbRef) -> pd.DataFrame:
    if not db.has_table("build_progress"):
        return pd.DataFrame(columns=["stage", "done", "total", "message"])
    return db.sql("SELECT stage, done, total, message FROM build_progress ORDER BY updated_at")


@st.cache_data(max_entries=16, show_spinner=False)
def models(db: DbRef) -> pd.DataFrame:
    """One row per model, dense first, then by arch, method, retrained, ratio."""
    return db.sql(
        "SELECT * FROM models ORDER BY arch, method <> 'dense', method, retrained, ratio")


@st.cache_data(max_entries=16, show_spinner=False)
def benchmarks(db: DbRef) -> pd.DataFrame:
    """Clean first, then corruptions in name order and severity."""
    return db.sql("SELECT * FROM benchmarks ORDER BY corruption <> 'clean', corruption, severity")


@st.cache_data(max_entries=16, show_spinner=False)
def dataset_info(db: DbRef) -> dict:
    frame = db.sql("SELECT * FROM dataset_info LIMIT 1")
    if frame.empty:
        return {"dataset": "?", "num_classes": 0, "class_names": [], "height": 0, "width": 0,
                "channels": 0}
    row = frame.iloc[0].to_dict()
    row["class_names"] = list(row["class_names"])
    return row


@st.cache_data(max_entries=16, show_spinner=False)
def evaluations(db: DbRef) -> pd.DataFrame:
    return db.sql(
        "SELECT e.*, b.corruption, b.severity FROM evaluations e JOIN benchmarks b USING "
        "(benchmark_id)")
