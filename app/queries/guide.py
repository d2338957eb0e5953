"""Queries of the Guide page: its networks (the ``[guide]`` models), their clean 2-D features with
each sample's metrics, the loss comparison and the geometry–robustness correlations (the heads
come from the checkpoints, `app.services.models.head`).
"""

from __future__ import annotations

import re

import pandas as pd
import streamlit as st

from app.db import DbRef
from core.store import samples

__all__ = ["guide_models", "clean_points", "sample_row", "loss_comparison",
           "metric_correlations", "LOSS_NAMES"]

# Loss names as core.losses.LOSSES spells them (not imported: that module loads torch).
LOSS_NAMES = {"ce": "cross-entropy", "label_smoothing": "label smoothing",
              "cosine": "cosine (CosFace)", "center": "centre loss"}
_GUIDE_ARCH = re.compile(r"^(?P<base>.+?)(?:-m(?P<dim>\d+))?-(?P<loss>" +
                         "|".join(LOSS_NAMES) + r")$")


@st.cache_data(max_entries=8, show_spinner=False)
def guide_models(db: DbRef) -> pd.DataFrame:
    """The dense models whose arch names a loss (``lenet5-m2-center``): model_id, arch, loss,
    feature_dim (m), planar (m = 2); 2-D networks first, then by loss as ``LOSS_NAMES`` orders."""
    models = db.read(samples.dense_models)
    parsed = models["arch"].str.extract(_GUIDE_ARCH)
    out = models.assign(loss=parsed["loss"]).dropna(subset=["loss"])
    out = out.assign(planar=out["feature_dim"] == 2,
                     order=out["loss"].map(list(LOSS_NAMES).index))
    return (out.sort_values(["planar", "order"], ascending=[False, True])
            .drop(columns="order").reset_index(drop=True))


@st.cache_data(max_entries=16, show_spinner=False)
def clean_points(db: DbRef, model_id: str) -> pd.DataFrame:
    """Every evaluation sample of ``model_id`` on the clean benchmark: sample_id, label, pred,
    correct, angle (°), l2, margin and its stored 2-D feature (x, y)."""
    return db.read(samples.clean_points, model_id)


def sample_row(db: DbRef, model_id: str, sample_id: int) -> dict | None:
    """The ``sample_metrics`` row of one clean sample (None when absent)."""
    frame = db.read(samples.clean_sample, model_id, sample_id)
    return None if frame.empty else frame.iloc[0].to_dict()


@st.cache_data(max_entries=8, show_spinner=False)
def loss_comparison(db: DbRef, model_ids: tuple[str, ...]) -> pd.DataFrame:
    """Per model: clean accuracy, mean accuracy over the corrupted benchmarks, the drop between
    them (all in [0, 1]), and on clean samples the mean and standard deviation of the angle to
    the class direction (°), the mean norm and the median margin."""
    accuracy, geometry = db.read(samples.loss_comparison, model_ids)
    out = accuracy.merge(geometry, on="model_id", how="outer")
    out["drop"] = out["clean_accuracy"] - out["corrupted_accuracy"]
    order = {m: i for i, m in enumerate(model_ids)}
    return out.sort_values("model_id", key=lambda s: s.map(order)).reset_index(drop=True)


@st.cache_data(max_entries=8, show_spinner=False)
def metric_correlations(db: DbRef) -> pd.DataFrame:
    """Median Spearman correlation over models of each clean metric (angle, l2, margin) with each
    target (``robustness``: corrupted benchmarks survived; ``pv``: pruned models that classify
    the sample correctly, docs/analysis.md), and the number of models: columns target, metric,
    spearman, n_models."""
    return db.read(samples.metric_correlations)
