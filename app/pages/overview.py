"""Overview page: accuracy of every pruning method on clean and corrupted data, how alike the
models' geometry is, and what the analysis tables say (correlations, redundancy, dimension,
spread hypothesis, vulnerable samples). Selections made here (models, benchmarks, samples) carry to the other pages.
"""

from __future__ import annotations

from functools import partial

import pandas as pd
import streamlit as st

from app import escape, glossary, state, widgets
from app.charts import overview as charts
from app.db import DbRef, current_db
from app.dimension_note import show_feature_dim_note
from app.links import Control
from app.queries import common
from app.queries import overview as q
from app.selection import bar_selection, point_selection
from core.analysis import SPREAD_STATS, SPREAD_TARGETS
from core.store import CLEAN

_AVERAGE = "average of all"
_TABLE_KEY = "overview_table"
_SIMILARITY_KEY = "overview_similarity"
_BENCHMARKS_KEY = "overview_similarity_benchmarks"
_PLACEMENT_KEY = "overview_placement"
_SEVERITY_KEY = "overview_severity"
_SIMILARITY_MEASURE_KEY = "overview_similarity_measure"
_VULNERABLE_ARCH_KEY = "overview_vulnerable_arch"
_EFFECTIVE_FIT_KEY = "overview_effective_fit"
# The controls a link to this page carries: parameter name → widget key and value kind.
LINKED_CONTROLS = {"severity": Control(_SEVERITY_KEY, "choice"),
                   "measure": Control(_SIMILARITY_MEASURE_KEY, "choice"),
                   "placement": Control(_PLACEMENT_KEY, "choice"),
                   "arch": Control(_VULNERABLE_ARCH_KEY, "choice"),
                   "fit": Control(_EFFECTIVE_FIT_KEY, "choice")}
# choice → (embeddings.space, embeddings.scope)
_PLACEMENTS = {"shared": ("geometry", "shared"), "geometry": ("geometry", "benchmark"),
               "geometry_umap": ("geometry_umap", "benchmark"), "cka": ("cka", "benchmark")}
_PLACEMENT_NAMES = {"shared": "shared (all benchmarks)", "geometry": "stress, this benchmark",
                    "geometry_umap": "UMAP, this benchmark", "cka": "CKA, this benchmark"}


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
    _evaluation_table(db)
    _similarity_view(db)
    _insights(db)


# --------------------------------------------------------------------------- evaluation table

def _on_table_select(bars: pd.DataFrame) -> None:
    models, benchmarks = bar_selection(st.session_state[_TABLE_KEY], bars)
    state.set_value("selected_models", models)
    state.set_value("selected_benchmarks", benchmarks)


def _evaluation_table(db: DbRef) -> None:
    st.header("Evaluation table")
    levels = q.severities(db)
    widgets.drop_unknown_choice(_SEVERITY_KEY, [_AVERAGE, *levels], label="severity")
    severity = st.radio("Corruption severity", [_AVERAGE, *levels], horizontal=True,
                        key=_SEVERITY_KEY,
                        format_func=lambda s: s if s == _AVERAGE else f"severity {s}",
                        help="Clean accuracy is the same in every setting.")
    severity = None if severity == _AVERAGE else int(severity)
    bars = q.accuracy_bars(db, severity)
    pruned, _ = charts.split_dense(bars)
    if pruned.empty:
        st.info("No pruned models are evaluated yet — the table compares pruning ratios, so it "
                "needs at least one pruned model.")
        return
    samples = [int(s) for s in state.selection().selected_samples]
    n_images = (common.dataset_info(db).get("n_eval") if db.has_table("dataset_info")
                else None)
    measured_on = charts.evaluated_images(n_images)
    if _class_accuracy_toggle(db):
        class_index = state.selection().selected_class
        name = common.dataset_info(db)["class_names"][class_index]
        bars = charts.with_subset(bars, q.class_accuracy_bars(db, severity, class_index))
        st.caption(f"Bars show accuracy on **class {escape.plain(name)}**; the narrow green "
                   f"(gain) or red (loss) bar spans the difference from the {measured_on}.")
    elif samples:
        subset = q.subset_accuracy_bars(db, severity, tuple(sorted(set(samples))))
        if subset.empty:
            st.info(f"None of the {len(samples)} selected samples is in this database; showing "
                    f"accuracy on the {measured_on}.")
        else:
            bars = charts.with_subset(bars, subset)
            st.caption(f"Bars show accuracy on the **{len(samples)} selected samples**; the "
                       "narrow green (gain) or red (loss) bar spans the difference from the "
                       f"{measured_on}.")
    scope = "averaged over severities" if severity is None else f"severity {severity}"
    fig = charts.evaluation_table_figure(
        bars, selected_models=list(state.selection().selected_models),
        selected_benchmarks=list(state.selection().selected_benchmarks),
        title=f"Accuracy vs pruning ratio on clean and corrupted data ({scope})",
        n_images=n_images)
    widgets.figure(fig, key=_TABLE_KEY, name="accuracy_table",
                   data=charts.table_csv_frame(bars), on_select=partial(_on_table_select, bars),
                   selection_mode=("points", "box"), config=charts.plotly_config("accuracy_table"))
    st.caption("Click a bar, or drag with the toolbar's box select, to select their models and "
               "benchmarks; the sidebar's button clears. Dashed line: the dense model of the row's "
               "architecture.")


def _class_accuracy_toggle(db: DbRef) -> bool:
    """A toggle, shown when a class is chosen (on the Geometry page): accuracy on that class."""
    class_index = state.selection().selected_class
    has_tables = db.has_table("dataset_info") and db.has_table("sample_metrics")
    names = common.dataset_info(db)["class_names"] if has_tables else []
    if not isinstance(class_index, int) or not 0 <= class_index < len(names):
        return False
    return st.toggle(f"Accuracy on the selected class ({names[class_index]})",
                     key="overview_class_accuracy",
                     help="Show each bar's accuracy on the samples of the class chosen on the "
                          "Geometry page, instead of the selected samples or the evaluation "
                          "subset.")


# --------------------------------------------------------------------------- similarity view

def _on_points_select() -> None:
    # A marker stands for every model placed at its point (coincident models): select them all.
    keys = point_selection(st.session_state[_SIMILARITY_KEY])
    state.set_value("selected_models", charts.marker_models(keys))


def _on_benchmarks_change(options: list[str]) -> None:
    # Benchmarks without a placement (selected in the table) stay selected.
    others = [b for b in list(state.selection().selected_benchmarks) if b not in set(options)]
    state.set_value("selected_benchmarks", others + list(st.session_state[_BENCHMARKS_KEY]))


def _placements(db: DbRef, n_shown: int) -> list[str]:
    """The placement choices of this database: the shared one, and the per-benchmark ones when
    one benchmark is shown (they are never overlaid: each benchmark has its own axes)."""
    held = set(q.embedding_spaces(db))
    choices = [name for name, key in _PLACEMENTS.items() if key in held]
    return [c for c in choices if n_shown == 1 or _PLACEMENTS[c][1] == "shared"]


def _similarity_view(db: DbRef) -> None:
    st.header("Geometric similarity")
    options = q.embedding_benchmarks(db)
    if not options:
        st.info("No geometric embeddings in this database yet: the analysis step "
                "(`python -m core build`, or `core.pipeline.analysis_tables.update_analysis`) places "
                "every (model, benchmark) by its true geometry distances.")
        return
    chosen = [b for b in list(state.selection().selected_benchmarks) if b in set(options)]
    if st.session_state.get(_BENCHMARKS_KEY) != chosen:
        st.session_state[_BENCHMARKS_KEY] = chosen
    left, right = st.columns([3, 2])
    left.multiselect("Benchmarks shown (the same as the selected benchmarks)", options,
                     key=_BENCHMARKS_KEY, on_change=_on_benchmarks_change, args=(options,))
    shown = chosen or options[:1]
    if len(shown) > 1 and not _placements(db, len(shown)):
        st.caption("This database has no shared placement (its analysis predates it): each "
                   f"benchmark has its own axes, so only {escape.code(shown[0])} is drawn.")
        shown = shown[:1]
    choices = _placements(db, len(shown))
    widgets.drop_unknown_choice(_PLACEMENT_KEY, choices, label="placement")
    choice = right.radio("Placement", choices, horizontal=True, key=_PLACEMENT_KEY,
                         format_func=lambda c: _PLACEMENT_NAMES.get(c, c),
                         help="Shared: every (model, benchmark) in one plane, so points of "
                              "different benchmarks compare. One benchmark: stress (drawn "
                              "distances match the true ones), UMAP (keeps neighbourhoods, "
                              "distorts distances) or CKA (linear CKA of the features) of that "
                              "benchmark's models alone.")
    if len(shown) > 1:
        st.caption("Several benchmarks are shown in the shared placement only: the per-benchmark "
                   "placements have axes of their own and are never drawn on one chart.")
    if not chosen:
        st.caption(f"No benchmark selected — showing {escape.code(shown[0])}.")
    space, scope = _PLACEMENTS.get(choice, ("geometry", "benchmark"))
    points = q.embedding_points(db, space, scope, tuple(shown))
    if points.empty:
        st.info(f"No {escape.plain(_PLACEMENT_NAMES.get(choice, choice))} placement for these "
                "benchmarks (CKA needs stored features); showing the stress placement.")
        choice, (space, scope) = "geometry", _PLACEMENTS["geometry"]
        points = q.embedding_points(db, space, scope, tuple(shown))
    selected = list(state.selection().selected_models)
    numbers = charts.model_numbers(selected, points["model_id"])
    edges = q.mst_edges(db, tuple(shown), tuple(selected))
    fig, note = charts.embedding_figure(points, space=choice, mst_edges=edges,
                                        selected_models=selected, numbers=numbers,
                                        colour_by="benchmark" if scope == "shared" else "method")
    widgets.figure(fig, key=_SIMILARITY_KEY, name="geometric_similarity",
                   data=points.assign(space=space, scope=scope), on_select=_on_points_select,
                   selection_mode=("points", "box", "lasso"),
                   config=charts.plotly_config("geometric_similarity"))
    overall = q.shared_quality(db, space) if scope == "shared" else None
    st.caption(charts.placement_quality_line(q.placement_quality(db, space, scope, tuple(shown)),
                                             space=choice, overall=overall))
    show_feature_dim_note(common.models(db), points["model_id"].unique())
    if note:
        st.caption(note)
    if scope == "shared" and len(shown) > 1:
        corruption_of = dict(zip(common.benchmarks(db)["benchmark_id"],
                                 common.benchmarks(db)["corruption"]))
        similarity = q.benchmark_similarity(db)
        widgets.reading(charts.tree_overlap_reading(
            charts.tree_overlap(points), corruption_of,
            similarity[similarity["measure"] == charts.GEOMETRY_MEASURE]))
    scope_text = f"the {len(selected)} selected models" if selected else "all models"
    tree = (" Lines: minimum spanning tree of the true geometry distances of each benchmark over "
            f"{scope_text}." if space in charts.GEOMETRY_SPACES else "")
    st.caption("Click, box or lasso markers to select their models; a ×n marker is n results "
               f"with the same geometry and selects them all.{tree}")
    _number_key(db, numbers)


def _number_key(db: DbRef, numbers: dict[str, int]) -> None:
    """The models' numbers (drawn beside the markers when few), with their clean accuracy."""
    evaluations = common.evaluations(db)
    clean = evaluations[evaluations["corruption"] == CLEAN].groupby("model_id")["accuracy"].mean()
    with st.expander(f"Model numbers ({len(numbers)} models; the Geometry page uses the same)",
                     expanded=len(numbers) <= charts.MAX_NUMBERED):
        st.dataframe(charts.number_key(numbers, clean), hide_index=True, width="stretch",
                     column_config={"clean accuracy": st.column_config.NumberColumn(
                         format="%.3f")})


# --------------------------------------------------------------------------- insights

def _insights(db: DbRef) -> None:
    st.header("Insights")
    tabs = st.tabs(["Correlations", "Benchmark redundancy", "Curse of dimensionality",
                    "Spread hypothesis", "Vulnerable samples", "Effective robustness"])
    with tabs[0]:
        _correlations(db)
    with tabs[1]:
        _redundancy(db)
    with tabs[2]:
        _dimension(db)
    with tabs[3]:
        _spread(db)
    with tabs[4]:
        _vulnerable(db)
    with tabs[5]:
        _effective_robustness(db)


def _missing(what: str) -> None:
    st.info(f"No {what} in this database yet — the analysis step computes it "
            "(`python -m core build`).")


def _correlations(db: DbRef) -> None:
    corr = q.correlations(db)
    if corr.empty:
        _missing("correlation table")
        return
    available = list(dict.fromkeys(corr["model_id"]))
    shown, note = charts.correlation_models(available, list(state.selection().selected_models))
    widgets.figure(charts.correlation_figure(corr, shown), key="overview_correlations",
                   name="correlations", data=corr[corr["model_id"].isin(shown)],
                   config=charts.plotly_config("correlations"))
    if note:
        st.caption(note)
    widgets.reading(charts.correlation_reading(corr, shown))


def _redundancy(db: DbRef) -> None:
    similarity = q.benchmark_similarity(db)
    if similarity.empty:
        _missing("benchmark similarity")
        return
    # The accuracy measures are chosen here; the geometry distance is drawn beside the choice.
    measures = list(dict.fromkeys(similarity["measure"]))
    accuracy = [m for m in measures if m != charts.GEOMETRY_MEASURE] or measures
    # The unsaturated measure first (the default): see its caption.
    accuracy.sort(key=lambda m: m != charts.DEFAULT_REDUNDANCY_MEASURE)
    widgets.drop_unknown_choice(_SIMILARITY_MEASURE_KEY, accuracy,
                                label="similarity measure")
    measure = st.radio("Accuracy similarity measure", accuracy, horizontal=True,
                       key=_SIMILARITY_MEASURE_KEY,
                       format_func=lambda m: charts.MEASURE_LABELS.get(m, m))
    shown = similarity["measure"].isin({measure, charts.GEOMETRY_MEASURE})
    widgets.figure(charts.redundancy_figure(similarity, measure=measure),
                   key="overview_redundancy", name="benchmark_redundancy",
                   data=similarity[shown], config=charts.plotly_config("benchmark_redundancy"))
    if measure == charts.DEFAULT_REDUNDANCY_MEASURE:
        st.caption("Ranked by the rank correlation of the models' accuracy drop within each "
                   "severity: pooled over severities, every corruption's accuracy falls with "
                   "severity, so the Pearson measures put most pairs near r = 1 and rank "
                   "nothing.")
    if measure != charts.GEOMETRY_MEASURE:
        widgets.reading(charts.redundancy_reading(similarity, measure=measure))
        channels = common.dataset_info(db)["channels"] if db.has_table("dataset_info") else 0
        widgets.reading(charts.saturate_note(similarity, channels=channels))
        widgets.reading(charts.redundant_by_both_reading(similarity, measure=measure))


def _dimension(db: DbRef) -> None:
    dims = q.dimension_angles(db)
    if dims.empty:
        _missing("dimension-angle table")
        return
    widgets.figure(charts.dimension_figure(dims), key="overview_dimension",
                   name="dimension_angles", data=dims,
                   config=charts.plotly_config("dimension_angles"))
    widgets.reading(charts.dimension_reading(dims))


def _spread(db: DbRef) -> None:
    spread = q.geometry_spread(db)
    if spread.empty:
        _missing("geometry-spread table")
        return
    left, right = st.columns(2)
    stat = left.radio("Clean geometry (x)", SPREAD_STATS, horizontal=True,
                      key="overview_spread_stat")
    target = right.radio("Robustness (y)", SPREAD_TARGETS, horizontal=True,
                         key="overview_spread_target",
                         format_func=lambda t: "corrupted accuracy" if t == "corrupted_accuracy"
                         else "drop from clean")
    correlations = q.spread_correlations(db)
    widgets.figure(charts.spread_figure(spread, correlations, stat=stat, target=target),
                   key="overview_spread", name="geometry_spread", data=spread,
                   config=charts.plotly_config("geometry_spread"))
    widgets.reading(charts.spread_reading(correlations, stat=stat, target=target))


def _select_top(samples: pd.DataFrame) -> None:
    state.set_value("selected_samples",
                    charts.top_flagged(samples, int(st.session_state["overview_top_k"])))


def _vulnerable(db: DbRef) -> None:
    archs = q.vulnerability_archs(db)
    if not archs:
        _missing("vulnerable-sample table")
        return
    widgets.drop_unknown_choice(_VULNERABLE_ARCH_KEY, archs, label="architecture")
    arch = st.selectbox("Architecture", archs, key=_VULNERABLE_ARCH_KEY)
    samples = q.vulnerable_samples(db, arch)
    auc = q.vulnerability_auc(db)
    curves = q.roc_curves(db, arch)
    if curves.empty:
        st.info(f"No ROC curve for {escape.code(arch)}: the disagreement and low-PV flags need "
                "both flagged and unflagged samples.")
    else:
        widgets.figure(charts.roc_figure(curves, auc, arch=arch), key="overview_roc",
                       name="vulnerable_samples_roc", data=curves,
                       config=charts.plotly_config("vulnerable_samples_roc"))
        widgets.reading(charts.roc_reading(auc, arch=arch))
    _seed_pies(db, arch)
    left, right = st.columns([1, 2], vertical_alignment="bottom")
    left.number_input("k (samples)", min_value=1, max_value=max(1, len(samples)),
                      value=min(50, max(1, len(samples))), step=10, key="overview_top_k")
    right.button("Select the top-k flagged samples", key="overview_select_top",
                 on_click=_select_top, args=(samples,),
                 help="The k samples with the largest geometric score become the selected "
                      "samples: the table shows accuracy on them, the Geometry page their points.")
    selected = list(state.selection().selected_samples)
    if selected:
        st.caption(f"{len(selected)} samples selected.")


def _seed_pies(db: DbRef, arch: str) -> None:
    st.markdown("**PIEs as Hooker et al. define them** — a separate seed population (dense "
                "seeds, each pruned by magnitude); its models are not in the charts above.")
    if arch not in q.pie_archs(db):
        st.info(f"No seed population for {escape.code(arch)}: enable `[seed_population]` in "
                "the experiment to train one.")
        return
    counts, auc = q.pie_counts(db, arch), q.pie_auc(db, arch)
    widgets.figure(charts.pie_count_figure(counts, arch=arch), key="overview_pie_counts",
                   name="pie_counts", data=counts, config=charts.plotly_config("pie_counts"))
    st.dataframe(charts.pie_auc_table(auc), hide_index=True, key="overview_pie_auc")
    widgets.reading(charts.pie_reading(auc))


def _effective_robustness(db: DbRef) -> None:
    effective = q.effective_robustness(db)
    if effective.empty:
        _missing("effective-robustness table")
        return
    choices = list(_EFFECTIVE_FITS)
    widgets.drop_unknown_choice(_EFFECTIVE_FIT_KEY, choices, label="fit")
    if _EFFECTIVE_FIT_KEY not in st.session_state:
        st.session_state[_EFFECTIVE_FIT_KEY] = choices[
            0 if charts.fits_per_arch_by_default(effective) else 1]
    fit = st.radio("Fit line", choices, key=_EFFECTIVE_FIT_KEY, horizontal=True,
                   help="Families of different architectures can lie on different lines: a "
                        "population fit then reads an architecture's offset as robustness.")
    st.caption(_EFFECTIVE_FITS[fit])
    if fit == choices[0]:
        effective = q.effective_robustness_per_arch(db)
        alone = int(effective["effective_robustness"].isna().sum())
        if alone:
            st.caption(f"{alone} model{'s' if alone != 1 else ''} of architectures with fewer "
                       "than 3 models (no population of their own) are left out.")
    widgets.figure(charts.effective_robustness_figure(effective), key="overview_effective",
                   name="effective_robustness", data=effective,
                   config=charts.plotly_config("effective_robustness"))
    widgets.reading(charts.effective_robustness_reading(effective))


_EFFECTIVE_FITS = {
    "each architecture": "One fit per architecture: a model's effective robustness is measured "
                         "against the models of its own architecture (the default when two or "
                         "more architectures have 3 models or more).",
    "whole population": "One fit over every model (the stored table): with several "
                        "architectures, their offsets from each other count as robustness.",
}
