"""Overview page: accuracy of every pruning method on clean and corrupted data, how alike the
models' geometry is, and what the analysis tables say (correlations, redundancy, dimension,
vulnerable samples). Selections made here (models, benchmarks, samples) carry to the other pages.
"""

from __future__ import annotations

from functools import partial

import pandas as pd
import streamlit as st

from app import glossary, state, widgets
from app.charts import overview as charts
from app.db import DbRef, current_db
from app.queries import common
from app.queries import overview as q
from app.selection import bar_selection, point_selection
from core.analysis.roc import roc_curves

_AVERAGE = "average of all"
_TABLE_KEY = "overview_table"
_SIMILARITY_KEY = "overview_similarity"
_BENCHMARKS_KEY = "overview_similarity_benchmarks"


def run() -> None:
    st.title("Overview")
    glossary.link_to_guide()
    st.caption("Pruning methods × architectures × corruption benchmarks: accuracy, how alike the "
               "models' last-layer geometry is, and what the population-level analysis says.")
    db = current_db()
    if not widgets.database_ready(db):
        return
    if not (db.has_table("evaluations") and db.has_table("models")
            and db.has_table("benchmarks")):
        st.info("This database has no evaluation tables; rebuild it with `python -m core build`.")
        return
    # Ids left over from another database are dropped with a note, never an error.
    widgets.drop_stale_selections({"selected_models": common.models(db)["model_id"],
                                   "selected_benchmarks": common.benchmarks(db)["benchmark_id"]})
    _evaluation_table(db)
    _similarity_view(db)
    _insights(db)


def _download(frame: pd.DataFrame, file_stem: str, key: str) -> None:
    widgets.download_buttons(frame, label="Download data", file_stem=file_stem, key=key)


# --------------------------------------------------------------------------- evaluation table

def _on_table_select(bars: pd.DataFrame) -> None:
    models, benchmarks = bar_selection(st.session_state[_TABLE_KEY], bars)
    state.set_value("selected_models", models)
    state.set_value("selected_benchmarks", benchmarks)


def _evaluation_table(db: DbRef) -> None:
    st.header("Evaluation table")
    levels = q.severities(db)
    severity = st.radio("Corruption severity", [_AVERAGE, *levels], horizontal=True,
                        key="overview_severity",
                        format_func=lambda s: s if s == _AVERAGE else f"severity {s}",
                        help="Clean accuracy is the same in every setting.")
    severity = None if severity == _AVERAGE else int(severity)
    bars = q.accuracy_bars(db, severity)
    pruned, _ = charts.split_dense(bars)
    if pruned.empty:
        st.info("No pruned models are evaluated yet — the table compares pruning ratios, so it "
                "needs at least one pruned model.")
        return
    samples = [int(s) for s in state.get_list("selected_samples")]
    if samples:
        subset = q.subset_accuracy_bars(db, severity, tuple(sorted(set(samples))))
        if subset.empty:
            st.info(f"None of the {len(samples)} selected samples is in this database; showing "
                    "whole-test-set accuracy.")
        else:
            bars = charts.with_subset(bars, subset)
            st.caption(f"Bars show accuracy on the **{len(samples)} selected samples**; the "
                       "narrow green (gain) or red (loss) bar spans the difference from the whole "
                       "test set.")
    scope = "averaged over severities" if severity is None else f"severity {severity}"
    fig = charts.evaluation_table_figure(
        bars, selected_models=state.get_list("selected_models"),
        selected_benchmarks=state.get_list("selected_benchmarks"),
        title=f"Accuracy vs pruning ratio on clean and corrupted data ({scope})")
    st.plotly_chart(fig, key=_TABLE_KEY, on_select=partial(_on_table_select, bars),
                    selection_mode=("points", "box"), config=charts.plotly_config("accuracy_table"))
    st.caption("Click or box-select bars to select their models and benchmarks (shift adds); "
               "double-click empty space to clear. Dashed line: the dense model of the row's "
               "architecture.")
    _download(charts.table_csv_frame(bars), "accuracy_table", "overview_table")


# --------------------------------------------------------------------------- similarity view

def _on_points_select() -> None:
    state.set_value("selected_models", point_selection(st.session_state[_SIMILARITY_KEY]))


def _on_benchmarks_change(options: list[str]) -> None:
    # Benchmarks without a placement (selected in the table) stay selected.
    others = [b for b in state.get_list("selected_benchmarks") if b not in set(options)]
    state.set_value("selected_benchmarks", others + list(st.session_state[_BENCHMARKS_KEY]))


def _similarity_view(db: DbRef) -> None:
    st.header("Geometric similarity")
    options = q.embedding_benchmarks(db)
    if not options:
        st.info("No geometric embeddings in this database yet: the analysis step "
                "(`python -m core build`, or `core.analysis_tables.update_analysis`) computes the "
                "UMAP placement of every (model, benchmark).")
        return
    chosen = [b for b in state.get_list("selected_benchmarks") if b in set(options)]
    if st.session_state.get(_BENCHMARKS_KEY) != chosen:
        st.session_state[_BENCHMARKS_KEY] = chosen
    left, right = st.columns([3, 1])
    left.multiselect("Benchmarks shown (the same as the selected benchmarks)", options,
                     key=_BENCHMARKS_KEY, on_change=_on_benchmarks_change, args=(options,))
    with_cka = right.toggle("Place by CKA beside", key="overview_with_cka",
                            help="Also place the same models by the linear CKA of their features.")
    shown = chosen or options[:1]
    if not chosen:
        st.caption(f"No benchmark selected — showing `{shown[0]}`.")
    points = q.embedding_points(db, "geometry", tuple(shown))
    cka_points = q.embedding_points(db, "cka", tuple(shown)) if with_cka else None
    if with_cka and cka_points.empty:
        st.info("No CKA placement for these benchmarks (it needs stored features); showing the "
                "geometric placement only.")
        cka_points = None
    fig, note = charts.embedding_figure(points, cka_points=cka_points,
                                        selected_models=state.get_list("selected_models"))
    st.plotly_chart(fig, key=_SIMILARITY_KEY, on_select=_on_points_select,
                    selection_mode=("points", "box", "lasso"),
                    config=charts.plotly_config("geometric_similarity"))
    if note:
        st.caption(note)
    st.caption("Box or lasso points to select their models; the selection is highlighted here "
               "and in the table.")
    frames = [points.assign(space="geometry")]
    if cka_points is not None:
        frames.append(cka_points.assign(space="cka"))
    _download(pd.concat(frames, ignore_index=True), "geometric_similarity", "overview_similarity")


# --------------------------------------------------------------------------- insights

def _insights(db: DbRef) -> None:
    st.header("Insights")
    tabs = st.tabs(["Correlations", "Benchmark redundancy", "Curse of dimensionality",
                    "Vulnerable samples"])
    with tabs[0]:
        _correlations(db)
    with tabs[1]:
        _redundancy(db)
    with tabs[2]:
        _dimension(db)
    with tabs[3]:
        _vulnerable(db)


def _missing(what: str) -> None:
    st.info(f"No {what} in this database yet — the analysis step computes it "
            "(`python -m core build`).")


def _correlations(db: DbRef) -> None:
    corr = q.correlations(db)
    if corr.empty:
        _missing("correlation table")
        return
    available = list(dict.fromkeys(corr["model_id"]))
    shown, note = charts.correlation_models(available, state.get_list("selected_models"))
    st.plotly_chart(charts.correlation_figure(corr, shown), key="overview_correlations",
                    config=charts.plotly_config("correlations"))
    if note:
        st.caption(note)
    st.markdown(charts.correlation_reading(corr, shown))
    _download(corr[corr["model_id"].isin(shown)], "correlations", "overview_correlations")


def _redundancy(db: DbRef) -> None:
    similarity = q.benchmark_similarity(db)
    if similarity.empty:
        _missing("benchmark similarity")
        return
    measures = list(dict.fromkeys(similarity["measure"]))
    measure = st.radio("Similarity measure", measures, horizontal=True,
                       key="overview_similarity_measure",
                       format_func=lambda m: charts.MEASURE_LABELS.get(m, m))
    st.plotly_chart(charts.redundancy_figure(similarity, measure=measure),
                    key="overview_redundancy", config=charts.plotly_config("benchmark_redundancy"))
    st.markdown(charts.redundancy_reading(similarity, measure=measure))
    _download(similarity[similarity["measure"] == measure], "benchmark_redundancy",
              "overview_redundancy")


def _dimension(db: DbRef) -> None:
    dims = q.dimension_angles(db)
    if dims.empty:
        _missing("dimension-angle table")
        return
    st.plotly_chart(charts.dimension_figure(dims), key="overview_dimension",
                    config=charts.plotly_config("dimension_angles"))
    st.markdown(charts.dimension_reading(dims))
    _download(dims, "dimension_angles", "overview_dimension")


def _select_top(samples: pd.DataFrame) -> None:
    state.set_value("selected_samples",
                    charts.top_flagged(samples, int(st.session_state["overview_top_k"])))


def _vulnerable(db: DbRef) -> None:
    archs = q.vulnerability_archs(db)
    if not archs:
        _missing("vulnerable-sample table")
        return
    arch = st.selectbox("Architecture", archs, key="overview_vulnerable_arch")
    samples = q.vulnerable_samples(db, arch)
    auc = q.vulnerability_auc(db)
    curves = roc_curves(samples)
    if curves.empty:
        st.info(f"No ROC curve for {arch}: the PIE and low-PV flags need both flagged and "
                "unflagged samples.")
    else:
        st.plotly_chart(charts.roc_figure(curves, auc, arch=arch), key="overview_roc",
                        config=charts.plotly_config("vulnerable_samples_roc"))
        st.markdown(charts.roc_reading(auc, arch=arch))
    left, right = st.columns([1, 2], vertical_alignment="bottom")
    left.number_input("k (samples)", min_value=1, max_value=max(1, len(samples)),
                      value=min(50, max(1, len(samples))), step=10, key="overview_top_k")
    right.button("Select the top-k flagged samples", key="overview_select_top",
                 on_click=_select_top, args=(samples,),
                 help="The k samples with the largest geometric score become the selected "
                      "samples: the table shows accuracy on them, the Geometry page their points.")
    selected = state.get_list("selected_samples")
    if selected:
        st.caption(f"{len(selected)} samples selected.")
    _download(curves, "vulnerable_samples_roc", "overview_roc")
