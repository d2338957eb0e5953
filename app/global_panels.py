"""The Geometry page's models × (reference vs compared) view (the paper's Fig. 8 b–d): one
parallel-coordinates panel per model, the reference benchmark grey and the compared one yellow,
every panel on the same axis ranges, kept while the class stays the same."""

from __future__ import annotations

import functools
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import streamlit as st

from app import escape, state
from app.charts import geometry as charts
from app.charts.overview import model_numbers, numbered
from app.components import brushable_parcoords
from app.db import DbRef
from app.queries import common
from app.queries import geometry as q
from app.compare import brushed_sample_ids, stratified_sample

__all__ = ["PANEL_BRUSH_KEYS", "brush", "model_label", "models_by_benchmarks", "write_brushed"]

# One brush per panel; brushing any of them selects samples.
PANEL_BRUSH_KEYS = ("geometry_panel_brush_0", "geometry_panel_brush_1", "geometry_panel_brush_2")
# Axis ranges kept while the class stays the same: {"class": index, "ranges": {label: range}}.
_LOCKED_KEY = "geometry_locked_ranges"
_MAX_LINES = 2_000


def model_label(models: pd.DataFrame, model_id: str) -> str:
    """"#n model": the model with the Overview's number (its place in the sorted selection)."""
    return numbered(model_id, model_numbers(state.selection().selected_models,
                                            models["model_id"]))


def brush(key: str, columns: dict[str, np.ndarray]) -> dict:
    """The ranges brushed on the parallel coordinates of widget ``key``, on the axes still
    shown (``columns``)."""
    value = st.session_state.get(key) or {}
    ranges = value.get("ranges") or {} if isinstance(value, dict) else {}
    return {label: r for label, r in ranges.items() if label in columns and r}


def write_brushed(key: str, sample_ids: np.ndarray, columns: dict[str, np.ndarray]) -> None:
    """Make the samples inside every range brushed on widget ``key`` the selected samples."""
    state.set_value("selected_samples",
                    brushed_sample_ids(sample_ids, columns, brush(key, columns)))


def _locked(class_index: int, columns: list[dict[str, np.ndarray]], num_angles: int
            ) -> dict[str, list[float]]:
    held = st.session_state.get(_LOCKED_KEY) or {}
    previous = held.get("ranges") if held.get("class") == class_index else None
    ranges = charts.locked_ranges(previous, columns, num_angles=num_angles)
    st.session_state[_LOCKED_KEY] = {"class": class_index, "ranges": ranges}
    return ranges


def models_by_benchmarks(db: DbRef, model_ids: Sequence[str], class_index: int,
                         class_names: list[str], reference: str, compared: str,
                         choose_axes: Callable[[pd.DataFrame, np.ndarray, np.ndarray], np.ndarray]
                         ) -> None:
    """Draw up to three panels, one per model of ``model_ids``, stacked (each keeps the page's
    full width, so the axes stay readable at 1,024 px)."""
    name = class_names[class_index]
    if reference == compared:
        st.info("The reference and compared benchmarks are the same: choose two different ones "
                "above.")
        return
    frames = {}
    for model_id in model_ids:
        frame, angles = q.class_metrics(db, (model_id,), (reference, compared), class_index,
                                        len(class_names))
        if set(frame["benchmark_id"]) == {reference, compared}:
            frames[model_id] = (frame.assign(group=frame["benchmark_id"]), angles)
    missing = [m for m in model_ids if m not in frames]
    if missing:
        st.info(f"No results for class {escape.plain(name)} on both {escape.code(reference)} "
                f"and {escape.code(compared)} under {', '.join(map(escape.code, missing))}.")
    if not frames:
        return
    first_frame, first_angles = next(iter(frames.values()))
    axes = choose_axes(first_frame, first_angles,
                       (first_frame["group"] == reference).to_numpy())
    columns = {m: charts.parcoords_columns(f, a, axes, class_names)
               for m, (f, a) in frames.items()}
    ranges = _locked(class_index, list(columns.values()), len(axes))
    evaluations = common.evaluations(db)
    overall = evaluations.set_index(["model_id", "benchmark_id"])["accuracy"]
    st.caption(f"Reference {escape.code(reference)} in grey (drawn on top), compared "
               f"{escape.code(compared)} in yellow; every panel has the same axis ranges, kept "
               "while the class stays the same.")
    for i, (model_id, (frame, angles)) in enumerate(frames.items()):
        class_accuracy = frame.groupby("group")["correct"].mean()
        title = charts.model_panel_title(
            model_label(common.models(db), model_id), name, reference, compared,
            (class_accuracy.get(reference, np.nan), class_accuracy.get(compared, np.nan)),
            (overall.get((model_id, reference), np.nan), overall.get((model_id, compared), np.nan)))
        lines = stratified_sample(frame, by=["group", "correct"], n_max=_MAX_LINES)
        rows = lines.index.to_numpy()
        figure = charts.parallel_coordinates(
            lines.reset_index(drop=True), angles[rows], axes, class_names,
            groups=[compared, reference], group_labels=[f"compared {compared}",
                                                         f"reference {reference}"],
            colors=(charts.COMPARED_COLOR, charts.REFERENCE_COLOR), title=title,
            density_frame=frame, density_angles=angles, ranges=ranges, on_top=reference)
        key = PANEL_BRUSH_KEYS[i]
        brushed = brush(key, columns[model_id])
        for dimension in figure["data"][0]["dimensions"]:
            if dimension["label"] in brushed:
                dimension["constraintrange"] = brushed[dimension["label"]]
        st.markdown(f"**{escape.plain(title, max_chars=400)}**")
        figure["layout"]["height"] = min(figure["layout"].get("height", 560), 480)
        shown = {"data": figure["data"], "layout": {**figure["layout"], "title": {"text": ""}}}
        brushable_parcoords(shown, key=key, on_change=functools.partial(
            write_brushed, key, frame["sample_id"].to_numpy(), columns[model_id]))
        if brushed:
            ids = brushed_sample_ids(frame["sample_id"].to_numpy(), columns[model_id], brushed)
            st.caption(f"**{len(ids):,} samples** of {escape.plain(name)} inside the ranges "
                       "brushed here: they are the selected samples.")
