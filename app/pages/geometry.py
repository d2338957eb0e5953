"""Geometry page: per-class angle/L2 scatters, two models (or benchmarks) compared within the chosen
class, parallel coordinates of the angles to every class direction under up to three models (or a
reference vs a compared benchmark) with each axis's densities, and thumbnails of the selected
samples.

The page reads the app-owned selection keys (see docs/definitions.md, Selections) and writes back
what is chosen here: the selectboxes write the models, benchmarks and class, a box/lasso selection
on a scatter or ranges brushed on the parallel-coordinate axes write ``selected_samples``, and
the sample chooser writes ``selected_sample``.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app import escape, global_panels, glossary, report, state, widgets
from app.charts import geometry as charts
from app.components import brushable_parcoords
from app.compare import (
    CATEGORIES,
    RANKING_RULES,
    brushed_sample_ids,
    count_transitions,
    default_partner,
    rank_class_axes,
    stratified_sample,
    transition_codes,
)
from app.db import DbRef, current_db
from app.dimension_note import show_feature_dim_note
from app.links import Control
from app.pages import page as app_page
from app.queries import common
from app.queries import geometry as q
from core.store import CLEAN

MAX_PANELS = 20  # per-class scatter panels shown at most
MAX_ALL_AXES = 10  # up to this many classes every class direction gets an axis
MAX_LINES = 3000  # parallel-coordinate lines at most (stratified sample beyond)
MAX_THUMBNAILS = 40
THUMBNAIL_COLUMNS = 8
THUMBNAIL_PIXELS = 96
MAX_GLOBAL_MODELS = 3  # models side by side in the global view
_COMPARE_MODELS = "two models, one benchmark"
_COMPARE_BENCHMARKS = "one model, reference vs compared benchmark"
_GLOBAL_MODELS = "models on one benchmark"
_GLOBAL_PANELS = "models × (reference vs compared)"
_BRUSH_KEY = "geometry_parcoords_brush"
_GLOBAL_MODELS_KEY = "geometry_global_models"
_COMPARE_MODE_KEY = "geometry_compare_mode"
_GLOBAL_MODE_KEY = "geometry_global_mode"
_AXIS_RULE_KEY = "geometry_axis_rule"
# The controls a link to this page carries: parameter name → widget key and value kind.
LINKED_CONTROLS = {"compare": Control(_COMPARE_MODE_KEY, "choice"),
                   "global": Control(_GLOBAL_MODE_KEY, "choice"),
                   "axes": Control(_AXIS_RULE_KEY, "choice")}
# Pickers of the page's selectboxes: their widget keys start with "geometry_".
_list_picker = functools.partial(widgets.list_picker, key_prefix="geometry")
_scalar_picker = functools.partial(widgets.scalar_picker, key_prefix="geometry")


def run() -> None:
    st.title("Geometry")
    glossary.link_to_guide()
    st.caption("Where each sample's penultimate-layer features lie relative to the class "
               "directions of the last layer: angle to the true class (°), L2 norm, margin and "
               "probability — per class, between models, and between benchmarks.")
    db = current_db()
    if not widgets.database_ready(db):
        return
    if not q.has_sample_metrics(db):
        st.info("The database has no per-sample metrics yet (table `sample_metrics` is empty): "
                "this page fills in as the build evaluates models.")
        return
    info = common.dataset_info(db)
    class_names = list(info["class_names"])
    if not class_names:
        st.info("The database has no `dataset_info` row, so the classes are unknown.")
        return
    models = common.models(db)
    benchmark_ids = common.benchmarks(db)["benchmark_id"].tolist()
    if models.empty or not benchmark_ids:
        st.info("The database lists no models or no benchmarks yet.")
        return

    model_id, benchmark_id, class_index = _choose_focus(models, benchmark_ids, class_names)
    reference, compared = _choose_reference_compared(benchmark_ids)
    show_feature_dim_note(models, {model_id, *state.selection().selected_models})
    # A key keeps the open tab when the notes above come and go (the element order changes).
    local_tab, global_tab, samples_tab = st.tabs(["Local view", "Global view", "Samples"],
                                                 key="geometry_tabs")
    with local_tab:
        _local_view(db, models, model_id, benchmark_id, class_index, class_names, reference,
                    compared)
    with global_tab:
        _global_view(db, models, model_id, benchmark_id, class_index, class_names, reference,
                     compared)
    with samples_tab:
        _samples(db, model_id, benchmark_id, class_names)


# --- Choices (selectboxes synchronised with the app-owned keys) -------------------------------

def _choose_focus(models: pd.DataFrame, benchmark_ids: list[str], class_names: list[str]
                  ) -> tuple[str, str, int]:
    model_ids = models["model_id"].tolist()
    dense = models.loc[models["method"] == "dense", "model_id"]
    default_model = dense.iloc[0] if not dense.empty else model_ids[0]
    default_benchmark = CLEAN if CLEAN in benchmark_ids else benchmark_ids[0]
    widgets.note_empty("selected_models", "model", default_model)
    widgets.note_empty("selected_benchmarks", "benchmark", default_benchmark)
    model_col, benchmark_col, class_col = st.columns(3)
    with model_col:
        model_id = _list_picker("Model", model_ids, state_key="selected_models", position=0,
                                default=default_model)
    with benchmark_col:
        benchmark_id = _list_picker("Benchmark", benchmark_ids, state_key="selected_benchmarks",
                                    position=0, default=default_benchmark)
    with class_col:
        class_index = _scalar_picker("Class", list(range(len(class_names))),
                                     state_key="selected_class", default=0,
                                     format_func=lambda c: f"{c}: {class_names[c]}")
    return model_id, benchmark_id, class_index


def _choose_reference_compared(benchmark_ids: list[str]) -> tuple[str, str]:
    selected = list(state.selection().selected_benchmarks)
    corruptions = [b for b in selected + benchmark_ids if b != CLEAN]
    default_reference = CLEAN if CLEAN in benchmark_ids else benchmark_ids[0]
    default_compared = corruptions[0] if corruptions else default_reference
    reference_col, compared_col, _ = st.columns(3)
    with reference_col:
        reference = _scalar_picker("Reference benchmark (grey)", benchmark_ids,
                                   state_key="reference_benchmark", default=default_reference)
    with compared_col:
        compared = _scalar_picker("Compared benchmark (yellow)", benchmark_ids,
                                  state_key="compared_benchmark", default=default_compared)
    return reference, compared


# --- Local view -------------------------------------------------------------------------------

def _local_view(db: DbRef, models: pd.DataFrame, model_id: str, benchmark_id: str,
                class_index: int, class_names: list[str], reference: str, compared: str) -> None:
    frame = q.local_metrics(db, model_id, benchmark_id)
    if frame.empty:
        st.info(f"No results for {escape.code(model_id)} on {escape.code(benchmark_id)} yet.")
    else:
        st.subheader("Angle vs L2, per class")
        classes = _panel_classes(frame, len(class_names), class_index)
        if len(classes) < len(class_names):
            st.caption(f"Showing {len(classes)} of {len(class_names)} classes: the selected class "
                       "and the classes with the lowest accuracy.")
        label = global_panels.model_label(models, model_id)
        widgets.sample_selecting_chart(charts.class_panels(
            frame, class_names, classes, title=f"{label} on {benchmark_id}: grey correct, red "
                                               "misclassified"), key="geometry_local_scatter",
            data=frame, label="Download these samples", name=f"geometry_{model_id}_{benchmark_id}")
        st.caption("Box- or lasso-select points (or click one) to make them the selected samples "
                   "— see the Samples tab; the Overview uses them too.")
        members = frame[frame["label"] == class_index]
        st.subheader(f"Margin and probability: {escape.plain(class_names[class_index])}")
        if members.empty:
            st.info(f"No samples of class {escape.plain(class_names[class_index])} in this "
                    "benchmark.")
        else:
            widgets.figure(charts.class_distributions(members,
                                                      class_name=class_names[class_index]),
                           width="stretch", key="geometry_class_distributions", data=members,
                           name=f"geometry_class_{class_index}_{model_id}_{benchmark_id}")
    st.subheader(f"Comparison within {class_names[class_index]}")
    _comparison(db, models, model_id, benchmark_id, class_index, class_names, reference,
                compared)


def _panel_classes(frame: pd.DataFrame, num_classes: int, class_index: int) -> list[int]:
    if num_classes <= MAX_PANELS:
        return list(range(num_classes))
    accuracy, _ = charts.class_accuracy(frame, num_classes)
    worst = [int(c) for c in np.argsort(np.nan_to_num(accuracy, nan=np.inf), kind="stable")
             if c != class_index]
    return [class_index] + worst[:MAX_PANELS - 1]


def _comparison(db: DbRef, models: pd.DataFrame, model_id: str, benchmark_id: str,
                class_index: int, class_names: list[str], reference: str, compared: str) -> None:
    mode = st.radio("Compare", (_COMPARE_MODELS, _COMPARE_BENCHMARKS), horizontal=True,
                    key=_COMPARE_MODE_KEY)
    if mode == _COMPARE_MODELS:
        partner = default_partner(models, model_id)
        if partner is None:
            st.info("The database holds a single model: nothing to compare it with.")
            return
        model_b = _list_picker("Model B (A is the model above)", models["model_id"].tolist(),
                               state_key="selected_models", position=1, default=partner,
                               shown=(model_id,))
        if model_b == model_id:
            st.info("Model B is model A: choose another model B.")
            return
        a, b = (model_id, benchmark_id), (model_b, benchmark_id)
    else:
        if reference == compared:
            st.info("The reference and compared benchmarks are the same: choose two different "
                    "ones above.")
            return
        a, b = (model_id, reference), (model_id, compared)
    name = class_names[class_index]
    paired = q.paired_metrics(db, *a, *b, class_index)
    if paired.empty:
        st.info(f"No sample of {escape.plain(name)} has results for both A = "
                f"{escape.code(a[0])} on {escape.code(a[1])} and B = {escape.code(b[0])} on "
                f"{escape.code(b[1])}.")
        return
    codes = transition_codes(paired["correct_a"], paired["correct_b"])
    counts = count_transitions(paired["correct_a"], paired["correct_b"])
    for column, category in zip(st.columns(len(CATEGORIES)), CATEGORIES):
        column.metric(category, f"{counts[category]:,}",
                      help=f"of the {len(paired):,} samples of {name}")
    label_a = f"{global_panels.model_label(models, a[0])} on {a[1]}"
    label_b = f"{global_panels.model_label(models, b[0])} on {b[1]}"
    table = paired.assign(category=np.asarray(CATEGORIES)[codes])
    overlay_col, delta_col = st.columns(2)
    with overlay_col:
        widgets.sample_selecting_chart(
            charts.overlaid_scatter_matrix(paired, label_a=label_a, label_b=label_b),
            key="geometry_compare_overlay", data=table,
            label="Download the per-sample values", name=f"geometry_overlay_class_{class_index}")
    with delta_col:
        widgets.sample_selecting_chart(
            charts.comparison_scatter(paired, codes, counts, label_a=label_a, label_b=label_b),
            key="geometry_compare_scatter", data=table,
            label="Download the per-sample changes",
            name=f"geometry_comparison_class_{class_index}")
    st.caption(f"The {len(paired):,} samples of {escape.plain(name)}. Left: where they lie "
               "under A and under B (the distribution shift); right: the change B − A per sample, coloured by what "
               "happens to its prediction. Lasso either to select samples.")


# --- Global view ------------------------------------------------------------------------------

def _global_view(db: DbRef, models: pd.DataFrame, model_id: str, benchmark_id: str,
                 class_index: int, class_names: list[str], reference: str, compared: str
                 ) -> None:
    name = class_names[class_index]
    mode = st.radio("Compare", (_GLOBAL_MODELS, _COMPARE_BENCHMARKS, _GLOBAL_PANELS),
                    horizontal=True, key=_GLOBAL_MODE_KEY)
    if mode in (_GLOBAL_MODELS, _GLOBAL_PANELS):
        chosen = _choose_global_models(models, model_id)
        if not chosen:
            st.info(f"Choose up to {MAX_GLOBAL_MODELS} models to compare.")
            return
    if mode == _GLOBAL_PANELS:
        global_panels.models_by_benchmarks(
            db, chosen, class_index, class_names, reference, compared,
            lambda frame, angles, first: _choose_axes(frame, angles, class_index,
                                                      len(class_names), first))
        return
    if mode == _GLOBAL_MODELS:
        frame, angles = q.class_metrics(db, tuple(chosen), (benchmark_id,), class_index,
                                        len(class_names))
        frame = frame.assign(group=frame["model_id"])
        groups, labels = list(chosen), [global_panels.model_label(models, m) for m in chosen]
        colors = charts.GROUP_COLORS[:len(chosen)]
        title = f"{name} on {benchmark_id}: {', '.join(labels)}"
        file_stem = f"geometry_class_{class_index}_{benchmark_id}_{len(chosen)}_models"
    else:
        if reference == compared:
            st.info("The reference and compared benchmarks are the same: choose two different "
                    "ones above.")
            return
        frame, angles = q.class_metrics(db, (model_id,), (reference, compared), class_index,
                                        len(class_names))
        frame = frame.assign(group=frame["benchmark_id"])
        groups, labels = [reference, compared], [f"reference {reference}", f"compared {compared}"]
        colors = (charts.REFERENCE_COLOR, charts.COMPARED_COLOR)
        title = f"{name}: {model_id}, {reference} vs {compared}"
        file_stem = f"geometry_class_{class_index}_{reference}_vs_{compared}"
    present = set(frame["group"])
    missing = [g for g in groups if g not in present]
    if missing:
        st.info(f"No results for class {escape.plain(name)} under "
                f"{' and '.join(map(escape.code, missing))}.")
        return
    first = (frame["group"] == groups[0]).to_numpy()
    axes = _choose_axes(frame, angles, class_index, len(class_names), first)
    lines = stratified_sample(frame, by=["group", "correct"], n_max=MAX_LINES)
    rows = lines.index.to_numpy()
    if len(lines) < len(frame):
        st.caption(f"Showing {len(lines):,} of {len(frame):,} lines (a sample stratified by "
                   f"{'model' if mode == _GLOBAL_MODELS else 'benchmark'} and correctness; the "
                   "densities and brushing use all of them).")
    else:
        st.caption(f"Showing all {len(frame):,} lines.")
    accuracy = frame.groupby("group")["correct"].mean()
    st.caption("Class accuracy: " + ", ".join(f"{accuracy[g]:.1%} {escape.plain(label)}"
                                              for g, label in zip(groups, labels)) + ".")
    columns = charts.parcoords_columns(frame, angles, axes, class_names)
    brushed = global_panels.brush(_BRUSH_KEY, columns)
    figure = charts.parallel_coordinates(
        lines.reset_index(drop=True), angles[rows], axes, class_names, groups=groups,
        group_labels=labels, colors=colors, title=title, density_frame=frame,
        density_angles=angles)
    for dimension in figure["data"][0]["dimensions"]:
        if dimension["label"] in brushed:  # brushes stay drawn when the figure changes
            dimension["constraintrange"] = brushed[dimension["label"]]
    # The title (with the colour legend) stands above the chart rather than in it, so the
    # upright axis titles can never run into it at any width.
    title_html = figure["layout"]["title"]["text"]
    st.markdown(title_html.replace("<br><sub>", "  \n").replace("</sub>", ""),
                unsafe_allow_html=True)
    shown = {"data": figure["data"], "layout": {**figure["layout"], "title": {"text": ""}}}
    brushable_parcoords(shown, key=_BRUSH_KEY, on_change=functools.partial(
        global_panels.write_brushed, _BRUSH_KEY, frame["sample_id"].to_numpy(), columns))
    if brushed:
        ids = brushed_sample_ids(frame["sample_id"].to_numpy(), columns, brushed)
        st.caption(f"**{len(ids):,} samples** of {escape.plain(name)} lie inside the ranges "
                   f"brushed on {len(brushed)} axis(es): they are the selected samples (see the Samples tab; "
                   "the Overview's table shows accuracy on them).")
    else:
        st.caption("Drag along an axis to brush a range (drag again on the same axis to add "
                   "another); the samples inside every brushed axis become the selected samples. "
                   "Click an axis outside its range to remove it. The outlines beside each axis "
                   "are each model's or benchmark's density on it.")
    angle_columns = pd.DataFrame(angles, columns=[f"angle_to_{c}" for c in class_names])
    # The brushable chart is a custom component, not st.plotly_chart: register it with the
    # report and offer its HTML beside the table by hand.
    plotly_figure = go.Figure(figure)
    report.add_figure(plotly_figure, name=file_stem)
    widgets.download_buttons(pd.concat([frame.drop(columns="group"), angle_columns], axis=1),
                             label="Download this class's samples with all angles",
                             file_stem=file_stem, key="geometry_global", fig=plotly_figure)


def _choose_global_models(models: pd.DataFrame, model_id: str) -> list[str]:
    """A multiselect of up to `MAX_GLOBAL_MODELS` models showing the first selected models (the
    model above and its default partner when fewer than two are selected); choosing makes the
    chosen models the selected models."""
    model_ids = models["model_id"].tolist()
    shown = list(state.selection().selected_models[:MAX_GLOBAL_MODELS])
    if len(shown) < 2:
        partner = default_partner(models, model_id)
        shown = [model_id] + ([partner] if partner else [])
    st.session_state[_GLOBAL_MODELS_KEY] = shown
    st.multiselect(f"Models (up to {MAX_GLOBAL_MODELS}; the benchmark is the one above)",
                   model_ids, key=_GLOBAL_MODELS_KEY, max_selections=MAX_GLOBAL_MODELS,
                   on_change=widgets.write_choice, args=(_GLOBAL_MODELS_KEY, "selected_models"),
                   help="The models chosen here become the selected models of every page.")
    return shown


def _choose_axes(frame: pd.DataFrame, angles: np.ndarray, class_index: int, num_classes: int,
                 first: np.ndarray) -> np.ndarray:
    if num_classes <= MAX_ALL_AXES:
        return np.arange(num_classes)
    rule_col, count_col = st.columns(2)
    rule = rule_col.radio("Class directions shown", list(RANKING_RULES), horizontal=True,
                          key=_AXIS_RULE_KEY,
                          format_func={"confused": "most confused with this class",
                                       "changed": "most changed, first → the others"}.get)
    k = count_col.slider("Number of class directions", min_value=2,
                         max_value=min(num_classes, 40), value=MAX_ALL_AXES,
                         key="geometry_axis_count")
    axes = rank_class_axes(rule, selected_class=class_index, k=k,
                           predictions=frame["pred"].to_numpy(),
                           reference_angles=angles[first], compared_angles=angles[~first])
    st.caption(f"Showing {len(axes)} of {num_classes} class directions: the selected class, then "
               f"{RANKING_RULES[rule]}.")
    return axes


# --- Samples ----------------------------------------------------------------------------------

def _samples(db: DbRef, model_id: str, benchmark_id: str, class_names: list[str]) -> None:
    selected = list(state.selection().selected_samples)
    if not selected:
        st.info("No samples are selected. Box- or lasso-select points on the scatters of the "
                "Local view, brush ranges on the axes of the Global view (or select on the "
                "Overview) to see them here.")
        return
    # Sample ids are integers; anything else (a stale or foreign value) counts as unknown.
    ids = tuple(int(i) for i in selected if isinstance(i, (int, np.integer, float))
                and not isinstance(i, bool) and float(i).is_integer())
    details = q.sample_details(db, model_id, benchmark_id, ids)
    if len(details) < len(selected):
        st.info(f"{len(selected) - len(details)} of the {len(selected)} selected samples have no "
                f"result for {escape.code(model_id)} on {escape.code(benchmark_id)} and are left "
                "out.")
    if details.empty:
        return
    shown = details.iloc[:MAX_THUMBNAILS]
    st.caption(f"Showing {len(shown)} of {len(details)} selected samples — "
               f"{escape.code(model_id)} on {escape.code(benchmark_id)}.")
    images = q.sample_images(db, benchmark_id, tuple(shown["sample_id"].tolist()))
    sources = set(images["benchmark_id"])
    if len(images) < len(shown):
        st.caption("Samples without a stored image show their metrics only.")
    if sources - {benchmark_id}:
        st.caption(f"Images of {escape.code(benchmark_id)} are not stored: showing the clean "
                   "images.")
    _thumbnail_grid(shown, images.set_index("sample_id"), class_names)
    widgets.download_buttons(details, label="Download the selected samples",
                             file_stem="geometry_selected_samples", key="geometry_samples")
    _choose_sample(shown, class_names)


def _thumbnail_grid(shown: pd.DataFrame, images: pd.DataFrame, class_names: list[str]) -> None:
    rows = [shown.iloc[i:i + THUMBNAIL_COLUMNS] for i in range(0, len(shown), THUMBNAIL_COLUMNS)]
    for chunk in rows:
        for column, sample in zip(st.columns(THUMBNAIL_COLUMNS), chunk.itertuples()):
            with column:
                if sample.sample_id in images.index:
                    image = images.loc[sample.sample_id]
                    st.image(_enlarged(q.decode_pixels(image.pixels, image.height, image.width,
                                                       image.channels)))
                mark = "✓" if sample.correct else "✗"
                st.caption(f"**#{sample.sample_id}** {mark} "
                           f"{escape.plain(class_names[sample.label])} → "
                           f"{escape.plain(class_names[sample.pred])}  \n∠ {sample.angle:.1f}°, "
                           f"L2 {sample.l2:.2f}  \nmargin {sample.margin:.2f}, "
                           f"p {sample.prob:.2f}")


def _enlarged(image: np.ndarray) -> np.ndarray:
    """Nearest-neighbour upscaling so small images show crisp pixels at thumbnail size."""
    factor = max(1, THUMBNAIL_PIXELS // max(image.shape[:2]))
    return image.repeat(factor, axis=0).repeat(factor, axis=1)


def _choose_sample(shown: pd.DataFrame, class_names: list[str]) -> None:
    options = shown["sample_id"].astype(int).tolist()
    labels = dict(zip(options, shown["label"].astype(int)))
    current = state.selection().selected_sample
    st.session_state["geometry_selected_sample"] = current if current in options else None
    chooser, link = st.columns([1, 2], vertical_alignment="bottom")
    chooser.selectbox("Sample to explain", options, key="geometry_selected_sample",
                      placeholder="Choose a sample", index=None,
                      format_func=lambda i: f"#{i} ({class_names[labels[i]]})",
                      on_change=widgets.write_choice,
                      args=("geometry_selected_sample", "selected_sample"))
    if current is not None:
        link.page_link(app_page("attribution"),
                       label=f"Explain sample #{current} on the Attribution page",
                       icon=":material/search:")
