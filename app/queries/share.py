"""Queries that check a shared link against the database."""

from __future__ import annotations

import numpy as np
import streamlit as st

from app.db import DbRef


@st.cache_data(max_entries=4, show_spinner=False)
def sample_ids(db: DbRef) -> np.ndarray:
    """Sorted ids of the samples with per-sample results or a stored image (int64)."""
    parts = [f"SELECT DISTINCT sample_id FROM {table}"
             for table in ("sample_metrics", "images") if db.has_table(table)]
    if not parts:
        return np.empty(0, dtype=np.int64)
    frame = db.sql(" UNION ".join(parts) + " ORDER BY 1")
    return frame["sample_id"].to_numpy(dtype=np.int64)
