"""A note beside a chart that compares models of different feature dimensions m: width alone
moves the angles (larger mean, smaller spread in higher m), so such a comparison mixes the
models' pruning with their width. It links to the Overview's dimension study."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import streamlit as st

__all__ = ["feature_dim_note", "show_feature_dim_note"]

# The Overview is served at the app's root; a relative link resolves under any base path.
_STUDY_LINK = "[dimension study](./) (Overview → Insights → Curse of dimensionality)"


def feature_dim_note(models: pd.DataFrame, model_ids: Iterable[str] | None = None) -> str:
    """The note for the models ``model_ids`` of ``models`` (model_id, feature_dim; all when
    None): ``""`` when they share one feature dimension (or fewer than two are known), else a
    sentence with each dimension and how many of the models have it."""
    rows = models if model_ids is None else models[models["model_id"].isin(list(model_ids))]
    dims = rows["feature_dim"].dropna().astype(int).value_counts().sort_index()
    if len(dims) < 2:
        return ""
    parts = ", ".join(f"m = {m} ({n} model{'s' if n != 1 else ''})" for m, n in dims.items())
    return (f"These models have different feature dimensions: {parts}. Width alone raises the "
            f"mean angle and shrinks its spread; see the {_STUDY_LINK} before reading a "
            "difference between them as an effect of pruning.")


def show_feature_dim_note(models: pd.DataFrame, model_ids: Iterable[str] | None = None) -> None:
    """``st.caption`` of :func:`feature_dim_note`, nothing when the dimensions agree."""
    note = feature_dim_note(models, model_ids)
    if note:
        st.caption(note)
