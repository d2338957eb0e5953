"""Queries every page and the frame use (cached wrappers of `core.store.catalog`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from app.db import DbRef
from app.state import Catalog
from core.store import catalog


@st.cache_data(max_entries=16, show_spinner=False)
def build_progress(db: DbRef) -> pd.DataFrame:
    return db.read(catalog.build_progress)


@st.cache_data(max_entries=16, show_spinner=False)
def models(db: DbRef) -> pd.DataFrame:
    """One row per model, dense first, then by arch, method, retrained, ratio."""
    return db.read(catalog.models)


@st.cache_data(max_entries=16, show_spinner=False)
def benchmarks(db: DbRef) -> pd.DataFrame:
    """Clean first, then corruptions in name order and severity."""
    return db.read(catalog.benchmarks)


@st.cache_data(max_entries=16, show_spinner=False)
def dataset_info(db: DbRef) -> dict:
    frame = db.read(catalog.dataset_info)
    if frame.empty:
        return {"dataset": "?", "num_classes": 0, "class_names": [], "height": 0, "width": 0,
                "channels": 0}
    row = frame.iloc[0].to_dict()
    row["class_names"] = list(row["class_names"])
    return row


@st.cache_data(max_entries=16, show_spinner=False)
def evaluations(db: DbRef) -> pd.DataFrame:
    return db.read(catalog.evaluations)


@st.cache_data(max_entries=4, show_spinner=False)
def sample_ids(db: DbRef) -> np.ndarray:
    """Sorted ids of the samples with per-sample results or a stored image (int64)."""
    return db.read(catalog.sample_ids)


def selection_catalog(db: DbRef, *, with_samples: bool) -> Catalog:
    """What ``db`` holds, to check the selections against; its sample ids only when
    ``with_samples`` (the one read that scans the per-sample tables)."""
    info = dataset_info(db)
    return Catalog(frozenset(models(db)["model_id"]), frozenset(benchmarks(db)["benchmark_id"]),
                   int(info["num_classes"] or 0),
                   sample_ids(db) if with_samples else np.empty(0, dtype=np.int64))
