"""Queries of the Guide page: its networks (the ``[guide]`` models), their clean 2-D features with
each sample's metrics, their heads, the loss comparison and the geometry–robustness correlations.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import streamlit as st

from app.db import DbRef

__all__ = ["guide_models", "clean_points", "sample_row", "head", "loss_comparison",
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
    models = db.sql("SELECT model_id, arch, feature_dim FROM models WHERE method = 'dense'")
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
    return db.sql(
        "SELECT m.sample_id, m.label, m.pred, m.correct, m.angle, m.l2, m.margin, "
        "f.feature[1] AS x, f.feature[2] AS y FROM sample_metrics m JOIN features f "
        "ON f.model_id = m.model_id AND f.benchmark_id = m.benchmark_id "
        "AND f.sample_id = m.sample_id "
        "WHERE m.model_id = ? AND m.benchmark_id = 'clean' ORDER BY m.sample_id", [model_id])


def sample_row(db: DbRef, model_id: str, sample_id: int) -> dict | None:
    """The ``sample_metrics`` row of one clean sample (None when absent)."""
    frame = db.sql("SELECT sample_id, label, pred, correct, angle, l2, margin FROM sample_metrics "
                   "WHERE model_id = ? AND benchmark_id = 'clean' AND sample_id = ?",
                   [model_id, int(sample_id)])
    return None if frame.empty else frame.iloc[0].to_dict()


@st.cache_data(max_entries=16, show_spinner=False)
def head(db: DbRef, model_id: str) -> tuple[np.ndarray, np.ndarray]:
    """The head of ``model_id`` from its checkpoint: weight (C, m) — rows are the class
    directions — and bias (C,) (zeros when the head has none)."""
    from app.services.attribution import load_model
    from core.features import head_parameters

    weight, bias = head_parameters(load_model(db, model_id))
    weight = weight.double().numpy()
    return weight, (np.zeros(len(weight)) if bias is None else bias.double().numpy())


@st.cache_data(max_entries=8, show_spinner=False)
def loss_comparison(db: DbRef, model_ids: tuple[str, ...]) -> pd.DataFrame:
    """Per model: clean accuracy, mean accuracy over the corrupted benchmarks, the drop between
    them (all in [0, 1]), and on clean samples the mean and standard deviation of the angle to
    the class direction (°), the mean norm and the median margin."""
    if not model_ids:
        return pd.DataFrame(columns=["model_id", "clean_accuracy", "corrupted_accuracy", "drop",
                                     "mean_angle", "angle_std", "mean_l2", "median_margin"])
    marks = ", ".join("?" * len(model_ids))
    accuracy = db.sql(
        "SELECT e.model_id, "
        "max(CASE WHEN b.severity = 0 THEN e.accuracy END) AS clean_accuracy, "
        "avg(CASE WHEN b.severity > 0 THEN e.accuracy END) AS corrupted_accuracy "
        f"FROM evaluations e JOIN benchmarks b USING (benchmark_id) WHERE e.model_id IN ({marks}) "
        "GROUP BY e.model_id", list(model_ids))
    geometry = db.sql(
        "SELECT model_id, avg(angle) AS mean_angle, stddev_samp(angle) AS angle_std, "
        "avg(l2) AS mean_l2, median(margin) AS median_margin FROM sample_metrics "
        f"WHERE benchmark_id = 'clean' AND model_id IN ({marks}) GROUP BY model_id",
        list(model_ids))
    out = accuracy.merge(geometry, on="model_id", how="outer")
    out["drop"] = out["clean_accuracy"] - out["corrupted_accuracy"]
    order = {m: i for i, m in enumerate(model_ids)}
    return out.sort_values("model_id", key=lambda s: s.map(order)).reset_index(drop=True)


@st.cache_data(max_entries=8, show_spinner=False)
def metric_correlations(db: DbRef) -> pd.DataFrame:
    """Median Spearman correlation over models of each clean metric (angle, l2, margin) with each
    target (``robustness``: corrupted benchmarks survived; ``pv``: pruned models that classify
    the sample correctly, docs/analysis.md), and the number of models: columns target, metric, spearman, n_models."""
    if not db.has_table("correlations"):
        return pd.DataFrame(columns=["target", "metric", "spearman", "n_models"])
    return db.sql(
        "SELECT target, metric, median(spearman) AS spearman, count(spearman) AS n_models "
        "FROM correlations WHERE spearman IS NOT NULL AND NOT isnan(spearman) "
        "GROUP BY target, metric ORDER BY target, metric")
