"""Attribution: for one sample, occlusion maps of how each pixel region changes the angle, L2,
margin and probability, and gradient maps (Integrated Gradients, Grad-CAM) of the angle, margin
and probability, side by side across models (see docs/definitions.md, Attribution)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from app import escape, glossary, state, widgets
from app.charts import attribution as charts
from app.db import current_db
from app.links import Control
from app.queries import attribution as qa
from app.queries import common
from app.services import attribution as maps
from app.services.attribution_types import GRADIENT_COLUMNS, AttributionRow, OcclusionKey
from app.services.compute import cached_else_computed
from app.services.limits import occlusion_count, smallest_stride
from app.services.models import CheckpointError, has_checkpoint
from app.settings import settings
from core.store import CLEAN

MAX_MODELS = 8
DEFAULT_RATIOS = (0.5, 0.7, 0.9)
_BENCHMARK_KEY = "attribution_benchmark"
_MODELS_KEY = "attribution_models"
_SYNCED_KEY = "_attribution_models_synced"  # selected_models when the rows last followed them
_GRADIENTS_KEY = "attribution_gradients"
_WINDOW_KEY = "attribution_window"
_STRIDE_KEY = "attribution_stride"
_BASELINE_KEY = "attribution_baseline"
_SALIENCY_KEY = "attribution_saliency"
# The controls a link to this page carries: parameter name → widget key and value kind.
LINKED_CONTROLS = {"benchmark": Control(_BENCHMARK_KEY, "choice"),
                   "window": Control(_WINDOW_KEY, "int"),
                   "stride": Control(_STRIDE_KEY, "int"),
                   "baseline": Control(_BASELINE_KEY, "float"),
                   "saliency": Control(_SALIENCY_KEY, "flag")}


def run() -> None:
    st.title("Attribution")
    glossary.link_to_guide()
    st.caption("Occlusion: a square patch of the image is set to the baseline value and slid over "
               "it; each map shows, per pixel, the mean change of a last-layer metric over the "
               "patches covering that pixel. Blue: hiding the region increases the metric; red: "
               "it decreases it.")
    db = current_db()
    if not widgets.database_ready(db):
        return
    sample_ids = qa.image_sample_ids(db)
    if not sample_ids:
        st.info("This database stores no sample images, so there is nothing to occlude. "
                "Build it with images (the default of `python -m core build`).")
        return
    sample_id = _pick_sample(sample_ids)
    if sample_id is None:
        return
    benchmark_id = _pick_benchmark(db, sample_id)
    if benchmark_id is None:
        return
    image, label = qa.sample_image(db, benchmark_id, sample_id)
    window, stride, baseline, with_saliency = _controls(image.shape)
    if not _within_limit(image.shape, window, stride):
        return
    model_ids = _pick_models(db)
    if _GRADIENTS_KEY in st.session_state:  # a column id this version does not draw is dropped
        st.session_state[_GRADIENTS_KEY] = [c for c in st.session_state[_GRADIENTS_KEY]
                                            if c in GRADIENT_COLUMNS]
    gradient_columns = st.multiselect(
        "Gradient columns (beside the occlusion maps)", GRADIENT_COLUMNS,
        key=_GRADIENTS_KEY, format_func=charts.gradient_label,
        help="Integrated Gradients (from the baseline image, "
             f"{maps.IG_STEPS} steps) and Grad-CAM (last convolution, signed) of the metric. "
             "Shown negated, so that blue and red mean what they mean for occlusion.")
    if not model_ids:
        st.info("Choose at least one model above (rows of the grid).")
        return

    key = OcclusionKey(benchmark_id, sample_id, window, stride, baseline)
    rows, problems = _occlusion_rows(db, model_ids, key, image, label)
    saliency = _saliency(db, rows, key, image.shape[:2], problems) if with_saliency else None
    gradients = (_gradients(db, rows, maps.gradient_key(key), image, label, gradient_columns,
                            problems) if gradient_columns else None)
    for problem in problems:
        st.warning(problem)
    if not rows:
        return

    class_names = common.dataset_info(db)["class_names"]
    true_name = class_names[label] if 0 <= label < len(class_names) else str(label)
    title = (f"Sample {sample_id} of {benchmark_id} (true class: {true_name}) — change when a "
             f"{window}×{window} patch, stride {stride}, is set to {baseline:g}")
    fig = charts.attribution_grid(rows, image, label, class_names=class_names,
                                  saliency=saliency, gradients=gradients, title=title)
    widgets.figure(fig, key="attribution_grid", name=f"attribution_{benchmark_id}_{sample_id}",
                   data=lambda: charts.maps_frame(rows, saliency, gradients),
                   label="Download maps")
    st.caption("Titles give each metric's value on the unoccluded image; ✓/✗ marks whether the "
               "model classifies it correctly. Each column shares one colour range (symmetric "
               "around 0) across models.")
    if gradients:
        st.caption(
            "Gradient columns are negated (−IG, −Grad-CAM) so their colours read like the "
            "occlusion maps': red where the pixels (IG) or the last convolution's features "
            "there (Grad-CAM) raise the metric — hiding them would lower it — and blue where "
            "they lower it. −IG is in the metric's unit and its Σ ≈ metric(baseline image) − "
            "metric(image); Grad-CAM is signed (no ReLU), in arbitrary units, upsampled from "
            "the convolution's grid.")
    st.caption("Margins: " + (
        "with the head's bias, the signed distance to the nearest decision boundary (the "
        "default build)." if maps.margin_has_bias(db) else
        "without the head's bias — the paper's Eq. 5 (built with `[evaluation] "
        "bias_in_margin = false`); see docs/geometry.md, Margin."))


def _pick_sample(sample_ids: list[int]) -> int | None:
    current = state.selection().selected_sample
    how = ("click a sample in a scatter on the **Geometry** page, or pick a sample id (its index "
           "in the test split) below")
    if current is not None and int(current) not in set(sample_ids):
        st.info(f"Sample {escape.plain(current)} has no stored image in this database (images "
                f"are kept for {len(sample_ids)} samples): {how}.")
        current = None
    elif current is None:
        st.info(f"No sample selected: {how}.")
    chosen = st.selectbox(f"Sample id ({len(sample_ids)} with stored images)", sample_ids,
                          index=None if current is None else sample_ids.index(int(current)),
                          placeholder="choose a sample id")
    if chosen is not None and chosen != current:
        state.set_value("selected_sample", int(chosen))
        st.rerun()  # the sidebar already showed the old selection
    return chosen


def _pick_benchmark(db, sample_id: int) -> str | None:
    options = qa.image_benchmarks(db, sample_id)
    if not options:
        st.info(f"Sample {sample_id} has no stored image in any benchmark of this database.")
        return None
    # The choice is kept while it is an option (a link may carry it too).
    widgets.drop_unknown_choice(_BENCHMARK_KEY, options, label="benchmark")
    if _BENCHMARK_KEY not in st.session_state:
        chosen = state.selection()
        preferred = [chosen.reference_benchmark, chosen.compared_benchmark, CLEAN]
        st.session_state[_BENCHMARK_KEY] = next((b for b in preferred if b in options),
                                                options[0])
    return st.selectbox("Benchmark (the clean or corrupted image of this sample)", options,
                        key=_BENCHMARK_KEY)


def _controls(shape: tuple[int, ...]) -> tuple[int, int, float, bool]:
    side = min(shape[0], shape[1])
    c1, c2, c3, c4 = st.columns(4)
    # Values live under widget keys (a link restores them); out-of-range ones get a note.
    window = int(widgets.bounded_number(c1, "Window (px)", key=_WINDOW_KEY,
                                        min_value=1, max_value=side, default=min(4, side),
                                        step=1, help="Side of the square patch that is hidden."))
    stride = int(widgets.bounded_number(c2, "Stride (px)", key=_STRIDE_KEY,
                                        min_value=1, max_value=window, default=min(2, window),
                                        step=1,
                                        help="Step between patch positions (at most the window)."))
    baseline = float(widgets.bounded_number(
        c3, "Baseline (pixel value)", key=_BASELINE_KEY, min_value=0.0, max_value=1.0,
        default=0.0, step=0.05, help="Value the hidden pixels take: 0 = black, 1 = white."))
    st.session_state.setdefault(_SALIENCY_KEY, True)
    with_saliency = c4.checkbox("Gradient saliency column", key=_SALIENCY_KEY,
                                help="|∂ prob(true class) / ∂ pixel|, for contrast.")
    return window, stride, baseline, with_saliency


def _within_limit(shape: tuple[int, ...], window: int, stride: int) -> bool:
    """State the server's limit on occluded images per model; False (with a message saying
    which stride would fit) when the window and stride exceed it."""
    limit = settings().max_occlusions
    count = occlusion_count(shape[0], shape[1], window, stride)
    st.caption(f"This server computes at most {limit} occluded images per model per request; "
               f"window {window}, stride {stride} on this {shape[0]}×{shape[1]} image takes "
               f"{count}.")
    if count <= limit:
        return True
    fitting = smallest_stride(shape[0], shape[1], window, limit)
    st.warning(f"Window {window}, stride {stride} needs {count} occluded images per model, more "
               f"than the {limit} this server allows. "
               + (f"Raise the stride to {fitting} or more." if fitting is not None else
                  "Raise the window (and the stride with it)."))
    return False


def default_models(models: pd.DataFrame, usable: pd.Series) -> list[str]:
    """The dense model and magnitude-pruned ones at ratios near 0.5, 0.7, 0.9 (without
    retraining when available) of the first architecture that has a usable dense model; else
    the first usable models."""
    candidates = models[usable.to_numpy()]
    dense = candidates[candidates["method"] == "dense"]
    if dense.empty:
        return candidates["model_id"].head(1 + len(DEFAULT_RATIOS)).tolist()
    first = dense.iloc[0]
    chosen = [first["model_id"]]
    pruned = candidates[(candidates["arch"] == first["arch"])
                        & (candidates["method"] == "magnitude")]
    pruned = pruned.sort_values("retrained", kind="stable")
    for ratio in DEFAULT_RATIOS:
        if pruned.empty:
            break
        nearest = pruned.loc[(pruned["ratio"] - ratio).abs().idxmin()]
        chosen.append(nearest["model_id"])
        pruned = pruned[pruned["ratio"] != nearest["ratio"]]
    return chosen


def _pick_models(db) -> list[str]:
    models = common.models(db)
    usable = has_checkpoint(db, models)
    known = list(state.selection().selected_models)  # reconciled: all in this database
    if len(known) > MAX_MODELS:
        st.caption(f"Showing the first {MAX_MODELS} of the {len(known)} selected models.")
    if not usable.any():
        st.info("No model in this database has a checkpoint (synthetic databases carry none); "
                "occlusion needs the trained weights. Build a database with "
                "`python -m core build`.")
    # The rows follow the selected models whenever another page (or a link) changed them;
    # choosing rows here writes the selected models.
    options = models["model_id"].tolist()
    if (_MODELS_KEY not in st.session_state
            or st.session_state.get(_SYNCED_KEY) != list(state.selection().selected_models)
            or not set(st.session_state[_MODELS_KEY]) <= set(options)):
        st.session_state[_MODELS_KEY] = (known[:MAX_MODELS] if known
                                         else default_models(models, usable))
        st.session_state[_SYNCED_KEY] = list(state.selection().selected_models)
    no_weights = set(models.loc[~usable.to_numpy(), "model_id"])
    return st.multiselect(
        "Models (rows)", options, key=_MODELS_KEY,
        max_selections=MAX_MODELS, on_change=_write_models,
        format_func=lambda m: f"{m} (no checkpoint)" if m in no_weights else m,
        help="Defaults to the models selected on the other pages.")


def _write_models() -> None:
    chosen = list(st.session_state[_MODELS_KEY])
    state.set_value("selected_models", chosen)
    st.session_state[_SYNCED_KEY] = chosen


def _occlusion_rows(db, model_ids: list[str], key: OcclusionKey, image: np.ndarray,
                    label: int) -> tuple[list[AttributionRow], list[str]]:
    """Rows in ``model_ids`` order — cached ones at once, the others computed with a progress
    bar — and a message per model that could not be computed."""
    cached = maps.cached_rows(db, model_ids, key)
    missing = {m: None for m in model_ids if m not in cached}
    problems: list[str] = []
    found = cached_else_computed(
        cached, missing, lambda model_id, _: maps.compute_row(db, model_id, key, image, label),
        what="occlusion maps", problems=problems)
    note = maps.cache_note(db) if any(m in found for m in missing) else ""
    if note:
        st.caption(escape.plain(note, max_chars=400))
    return [found[m] for m in model_ids if m in found], problems


def _saliency(db, rows, key: OcclusionKey, size: tuple[int, int], problems: list[str]
              ) -> dict[str, np.ndarray]:
    saliency = {}
    for row in rows:
        try:
            saliency[row.model_id] = maps.saliency_map(db, row.model_id, key.benchmark_id,
                                                       key.sample_id)
        except CheckpointError as exc:
            problems.append(f"No saliency map: {escape.plain(exc, max_chars=300)}")
            saliency[row.model_id] = np.full(size, np.nan, dtype=np.float32)
    return saliency


def _gradients(db, rows, key, image: np.ndarray, label: int, columns: list[str],
               problems: list[str]) -> dict[str, dict[str, np.ndarray]]:
    """model_id → {column → shown map}: cached ones at once, the missing columns computed with
    a progress bar; a model that fails gets NaN maps and a message."""
    model_ids = [row.model_id for row in rows]
    cached = maps.cached_gradients(db, model_ids, key, columns)
    missing = {m: [c for c in columns if c not in cached.get(m, {})] for m in model_ids}

    def compute(model_id: str, todo: list[str]) -> dict[str, np.ndarray]:
        return {**cached.get(model_id, {}),
                **maps.compute_gradients(db, model_id, key, image, label, todo)}

    found = cached_else_computed(cached, {m: cols for m, cols in missing.items() if cols},
                                 compute, what="gradient maps", problems=problems,
                                 failure="No gradient maps: {error}")
    size = image.shape[:2]
    return {m: {c: found.get(m, {}).get(c, np.full(size, np.nan, dtype=np.float32))
                for c in columns} for m in model_ids}
