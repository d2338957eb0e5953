"""Guide page: the geometry drawn on a network whose features are points in the plane.

A LeNet-5 whose last feature layer has two neurons (the ``[guide]`` networks of the build) maps
every clean test image to a point; the page shows those points with the head's decision regions
and class directions, draws the angle, length and margin of a clicked sample (its numbers read
from ``sample_metrics``), says what they mean for robustness with this database's correlations,
and compares the losses the networks were trained with (see docs/guide.md).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import escape, state, widgets
from app.charts import guide as charts
from app.db import DbRef, current_db
from app.queries import common
from app.queries import guide as q
from app.selection import selected_customdata
from app.services.models import head

SAMPLE_KEY = "guide_sample"      # the chosen sample id (also written to selected_sample)
MODEL_KEY = "guide_model"
PLANE_KEY = "guide_plane"


def run() -> None:
    st.title("Guide: the geometry in two dimensions")
    db = current_db()
    if not widgets.database_ready(db):
        return
    models = q.guide_models(db)
    planar = models[models["planar"]]
    if planar.empty:
        st.info("This database has no Guide networks (LeNet-5 with a 2-D feature layer). Build "
                "an experiment with a `[guide]` section, `enabled = true`, e.g. "
                "`python -m core build --preset demo`.")
        return
    class_names = list(common.dataset_info(db)["class_names"])
    st.markdown(
        "Every metric of this app is measured in the network's **last feature layer**: each "
        "image becomes a feature vector X, and the last layer scores class j as W_j·X + b_j. "
        "The networks below have only **two** feature neurons, so every image is a point in "
        "the plane and the geometry can be drawn (the paper's Fig. 1). The arrows are the "
        "**class directions** W_j; the shaded regions are where the network predicts each class; "
        "their borders are the **decision boundaries**. Click a point to see its numbers.")
    model_id = st.selectbox(
        "Network", planar["model_id"].tolist(), key=MODEL_KEY,
        format_func=lambda m: f"2-D LeNet-5 trained with "
                              f"{q.LOSS_NAMES[planar.set_index('model_id').loc[m, 'loss']]}")
    points = q.clean_points(db, model_id)
    if points.empty:
        st.info(f"{escape.code(model_id)} has no stored clean features yet (the build stores "
                "them with its clean evaluation).")
        return
    weight, bias = head(db, model_id)
    _plane(db, model_id, points, weight, bias, class_names)
    _robustness_words(db)
    _losses(db, models, class_names)


def _choose() -> None:
    """The chart's click → the chosen sample (page key and the app's ``selected_sample``)."""
    chosen = selected_customdata(st.session_state.get(PLANE_KEY))
    if chosen:
        sample_id = int(chosen[0])
        st.session_state[SAMPLE_KEY] = sample_id
        state.set_value("selected_sample", sample_id)


def _plane(db: DbRef, model_id: str, points: pd.DataFrame, weight, bias,
           class_names: list[str]) -> None:
    sample_id = st.session_state.get(SAMPLE_KEY)
    if sample_id not in set(points["sample_id"]):
        sample_id = None
    chosen = row = None
    if sample_id is not None:
        point = points.set_index("sample_id").loc[sample_id]
        chosen = charts.sample_geometry(point[["x", "y"]].to_numpy(float), weight, bias,
                                        int(point["label"]))
        row = q.sample_row(db, model_id, sample_id)
    left, right = st.columns([3, 1])
    with left:
        fig = charts.feature_plane(points, weight, bias, class_names, chosen=chosen,
                                   title=f"{model_id}: clean test samples (✕ = misclassified)")
        st.plotly_chart(fig, key=PLANE_KEY, on_select=_choose,
                        selection_mode=("points", "box"), width="stretch")
    with right:
        if row is None:
            st.info("Click a point in the plane (or draw a small box around it) to draw its "
                    "angle, length and margin.")
            return
        st.subheader(f"Sample {sample_id}")
        truth = escape.plain(class_names[int(row["label"])])
        pred = escape.plain(class_names[int(row["pred"])])
        verdict = "correct" if row["correct"] else f"wrong — predicted **{pred}**"
        st.markdown(f"True class **{truth}**: {verdict}.")
        st.metric("Angle to the class direction", f"{row['angle']:.2f}°")
        st.caption("Red arc: between the sample's ray and the arrow of its true class.")
        st.metric("Length (L2 norm)", f"{row['l2']:.3f}")
        st.caption("Black line: from the origin to the sample.")
        st.metric("Signed margin", f"{row['margin']:.3f}")
        st.caption(f"Purple line: the shortest way to the nearest decision boundary of the "
                   f"predicted class (dashed, against {escape.plain(class_names[chosen.rival])}); "
                   "negative "
                   "when the prediction is wrong.")


def _robustness_words(db: DbRef) -> None:
    st.subheader("What the numbers say about robustness")
    st.markdown(
        "- **Angle**: a sample whose feature points along its class direction (small angle) "
        "sits deep in its arm of the star; a corruption or pruning has to turn it a long way "
        "before another class wins.\n"
        "- **Length (L2 norm)**: far from the origin the scores of the classes differ more, so "
        "the prediction is more confident — but length alone does not say on which side of a "
        "boundary the sample lies.\n"
        "- **Margin**: how far the feature may move before the prediction changes; large "
        "margins tend to survive corruptions and pruning, negative ones are already wrong.")
    corr = q.metric_correlations(db)
    if corr.empty:
        st.caption("This database has no `correlations` table yet (the analysis step makes it).")
        return
    lines = [charts.correlation_sentence(r["metric"], r["target"], r["spearman"],
                                         r["n_models"])
             for _, r in corr[corr["target"].isin(["robustness", "pv"])].iterrows()]
    st.markdown("In this database, per sample and on clean images:\n\n" +
                "\n".join(f"- {line}" for line in lines))


def _losses(db: DbRef, models: pd.DataFrame, class_names: list[str]) -> None:
    st.subheader("The loss function shapes the geometry")
    st.markdown(
        "The same networks trained with different losses (definitions: docs/guide.md). "
        "**Cross-entropy** rewards long features along the class direction; **label smoothing** "
        "caps how confident a prediction may be, so features stay shorter; the **centre loss** "
        "pulls each class's features towards one point, so arms get thin; a **cosine** loss "
        "sees only angles.")
    planar = models[models["planar"]]
    planes = []
    for model_id, loss in zip(planar["model_id"], planar["loss"]):
        points = q.clean_points(db, model_id)
        if not points.empty:
            planes.append((q.LOSS_NAMES[loss], points, *head(db, model_id)))
    if len(planes) > 1:
        st.plotly_chart(charts.loss_planes(planes, class_names), width="stretch",
                        key="guide_loss_planes")
    table = q.loss_comparison(db, tuple(models["model_id"]))
    table = table.merge(models[["model_id", "loss", "feature_dim"]], on="model_id")
    table["network"] = table["feature_dim"].map(lambda m: f"LeNet-5, m = {int(m)}")
    table["loss"] = table["loss"].map(q.LOSS_NAMES)
    st.plotly_chart(charts.loss_comparison_figure(table), width="stretch",
                    key="guide_loss_bars")
    shown = table[["network", "loss", "clean_accuracy", "corrupted_accuracy", "drop",
                   "mean_angle", "angle_std", "mean_l2", "median_margin", "model_id"]]
    st.dataframe(shown, hide_index=True, width="stretch", column_config={
        "clean_accuracy": st.column_config.NumberColumn("clean accuracy", format="%.3f"),
        "corrupted_accuracy": st.column_config.NumberColumn(
            "mean accuracy, corrupted", format="%.3f",
            help="Mean over every corruption benchmark (all corruptions and severities)."),
        "drop": st.column_config.NumberColumn("drop from clean", format="%.3f"),
        "mean_angle": st.column_config.NumberColumn("mean angle (°)", format="%.1f"),
        "angle_std": st.column_config.NumberColumn("angle spread (SD, °)", format="%.1f"),
        "mean_l2": st.column_config.NumberColumn("mean norm", format="%.2f"),
        "median_margin": st.column_config.NumberColumn("median margin", format="%.3f")})
    best = table.loc[table["drop"].idxmin()] if table["drop"].notna().any() else None
    if best is not None:
        st.caption(f"Measured on this database: the smallest drop from clean to corrupted "
                   f"images is {best['network']} with {best['loss']} "
                   f"({best['drop']:.3f}); norms are comparable only within one loss, as each "
                   "loss rewards a different scale.")
