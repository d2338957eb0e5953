"""Attribution: for one sample, occlusion maps of how each pixel region changes the angle, L2,
margin and probability, side by side across models (see docs/definitions.md, Attribution)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from app import glossary, state, widgets
from app.charts import attribution as charts
from app.db import current_db
from app.queries import attribution as qa
from app.queries import common
from app.queries.attribution import OcclusionKey
from app.services import attribution as maps

MAX_MODELS = 8
DEFAULT_RATIOS = (0.5, 0.7, 0.9)


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
    model_ids = _pick_models(db)
    if not model_ids:
        st.info("Choose at least one model above (rows of the grid).")
        return

    key = OcclusionKey(benchmark_id, sample_id, window, stride, baseline)
    rows, problems = _occlusion_rows(db, model_ids, key, image, label)
    saliency = _saliency(db, rows, key, image.shape[:2], problems) if with_saliency else None
    for problem in problems:
        st.warning(problem)
    if not rows:
        return

    class_names = common.dataset_info(db)["class_names"]
    true_name = class_names[label] if 0 <= label < len(class_names) else str(label)
    title = (f"Sample {sample_id} of {benchmark_id} (true class: {true_name}) — change when a "
             f"{window}×{window} patch, stride {stride}, is set to {baseline:g}")
    fig = charts.attribution_grid(rows, image, label, class_names=class_names,
                                  saliency=saliency, title=title)
    st.plotly_chart(fig, key="attribution_grid")
    st.caption("Titles give each metric's value on the unoccluded image; ✓/✗ marks whether the "
               "model classifies it correctly. Each metric column shares one colour range "
               "(symmetric around 0) across models.")
    widgets.download_buttons(lambda: charts.maps_frame(rows, saliency), label="Download maps",
                             file_stem=f"attribution_{benchmark_id}_{sample_id}",
                             key="attribution_maps")


def _pick_sample(sample_ids: list[int]) -> int | None:
    current = state.get("selected_sample")
    how = ("click a sample in a scatter on the **Geometry** page, or pick a sample id (its index "
           "in the test split) below")
    if current is not None and int(current) not in set(sample_ids):
        st.info(f"Sample {current} has no stored image in this database (images are kept for "
                f"{len(sample_ids)} samples): {how}.")
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
    preferred = [state.get("reference_benchmark"), state.get("compared_benchmark"), "clean"]
    default = next((b for b in preferred if b in options), options[0])
    return st.selectbox("Benchmark (the clean or corrupted image of this sample)", options,
                        index=options.index(default))


def _controls(shape: tuple[int, ...]) -> tuple[int, int, float, bool]:
    side = min(shape[0], shape[1])
    c1, c2, c3, c4 = st.columns(4)
    window = int(c1.number_input("Window (px)", min_value=1, max_value=side,
                                 value=min(4, side), step=1,
                                 help="Side of the square patch that is hidden."))
    stride = int(c2.number_input("Stride (px)", min_value=1, max_value=window,
                                 value=min(2, window), step=1,
                                 help="Step between patch positions (at most the window)."))
    baseline = float(c3.number_input("Baseline (pixel value)", min_value=0.0, max_value=1.0,
                                     value=0.0, step=0.05,
                                     help="Value the hidden pixels take: 0 = black, 1 = white."))
    with_saliency = c4.checkbox("Gradient saliency column", value=True,
                                help="|∂ prob(true class) / ∂ pixel|, for contrast.")
    return window, stride, baseline, with_saliency


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
    usable = maps.has_checkpoint(db, models)
    known = widgets.note_stale("selected_models", models["model_id"], "model")
    if len(known) > MAX_MODELS:
        st.caption(f"Showing the first {MAX_MODELS} of the {len(known)} selected models.")
    if not usable.any():
        st.info("No model in this database has a checkpoint (synthetic databases carry none); "
                "occlusion needs the trained weights. Build a database with "
                "`python -m core build`.")
    default = known[:MAX_MODELS] if known else default_models(models, usable)
    no_weights = set(models.loc[~usable.to_numpy(), "model_id"])
    return st.multiselect(
        "Models (rows)", models["model_id"].tolist(), default=default,
        max_selections=MAX_MODELS,
        format_func=lambda m: f"{m} (no checkpoint)" if m in no_weights else m,
        help="Defaults to the models selected on the other pages.")


def _occlusion_rows(db, model_ids: list[str], key: OcclusionKey, image: np.ndarray,
                    label: int) -> tuple[list[charts.AttributionRow], list[str]]:
    """Rows in ``model_ids`` order — cached ones at once, the others computed with a progress
    bar — and a message per model that could not be computed."""
    found = maps.cached_rows(db, model_ids, key)
    missing = [m for m in model_ids if m not in found]
    problems = []
    if missing:
        bar = st.progress(0.0)
        for i, model_id in enumerate(missing):
            bar.progress(i / len(missing), text=f"Computing occlusion maps of {model_id} "
                                                f"({i + 1} of {len(missing)})")
            try:
                found[model_id] = maps.compute_row(db, model_id, key, image, label)
            except maps.CheckpointError as exc:
                problems.append(str(exc))
        bar.empty()
        note = maps.cache_note(db) if any(m in found for m in missing) else ""
        if note:
            st.caption(note)
    return [found[m] for m in model_ids if m in found], problems


def _saliency(db, rows, key: OcclusionKey, size: tuple[int, int], problems: list[str]
              ) -> dict[str, np.ndarray]:
    saliency = {}
    for row in rows:
        try:
            saliency[row.model_id] = maps.saliency_map(db, row.model_id, key.benchmark_id,
                                                       key.sample_id)
        except maps.CheckpointError as exc:
            problems.append(f"No saliency map: {exc}")
            saliency[row.model_id] = np.full(size, np.nan, dtype=np.float32)
    return saliency
