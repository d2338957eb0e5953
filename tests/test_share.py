"""Links that restore a view (app/share.py) and the page report (app/report.py): the query-string
format as pure functions, hostile input, and the app under AppTest — selections mirrored into
the query string, a fresh session given those parameters restoring them, malformed links giving
a note and the defaults, and the downloads every view and the report offer."""

from __future__ import annotations

import json
import re

import duckdb
import numpy as np
import plotly.graph_objects as go
import pytest
from streamlit.testing.v1 import AppTest

from app import links
from app.pages import linked_controls
from app.report import Item, page_report
from app.state import Catalog, Selection, dropped_note, known_selection
from app.links import (
    MAX_IDS,
    MAX_PARAM_CHARS,
    LinkValueError,
    decode_ids,
    decode_ranges,
    decode_view,
    encode_ids,
    encode_ranges,
    encode_view,
)
from conftest import APP_ENTRY, PAGE_TIMEOUT, open_page as open_in_frame


# --------------------------------------------------------------------------- pure functions

def test_ranges_are_compact_and_round_trip():
    assert encode_ranges([40, 3, 4, 5, 6, 17, 16, 15, 3]) == "3-6,15-17,40"
    assert encode_ranges([7, 8]) == "7,8"
    assert encode_ranges([]) == ""
    rng = np.random.default_rng(0)
    for _ in range(20):
        ids = sorted(set(rng.integers(0, 500, rng.integers(1, 200)).tolist()))
        text = encode_ranges(ids)
        assert decode_ranges(text) == (ids, 0)
    assert encode_ranges(range(100_000)) == "0-99999"


def test_ranges_reject_hostile_input_without_expanding_it():
    ids, malformed = decode_ranges("5, x ,-3,9-7,1-2-3,12,,4-6,1e3,99999999999999")
    assert ids == [4, 5, 6, 12] and malformed == 6
    with pytest.raises(LinkValueError, match="names 1,000,000,000,000 ids"):
        decode_ranges("0-999999999999")  # counted, never expanded
    with pytest.raises(LinkValueError, match=f"at most {MAX_IDS:,}"):
        decode_ranges("0-99999")
    hundred_thousand = ",".join(map(str, range(100_000)))
    with pytest.raises(LinkValueError, match=f"{len(hundred_thousand):,} characters long"):
        decode_ranges(hundred_thousand)


def test_id_lists_escape_only_what_would_break_them():
    ids = ["lenet5-dense-s0", "odd,id", "100%", "gaussian_noise-3"]
    text = encode_ids(ids)
    assert text == "lenet5-dense-s0,odd%2Cid,100%25,gaussian_noise-3"
    assert decode_ids(text) == ids
    assert decode_ids("a,,a, b ,") == ["a", "b"]
    with pytest.raises(LinkValueError, match=f"names {MAX_IDS + 1:,} ids"):
        decode_ids(",".join("m" * (MAX_IDS + 1)))


def test_decode_view_notes_unknown_names_and_bad_values():
    view = decode_view({"models": "a,b", "class": "three", "sample": "-1",
                        "severity": "3", "measure": "accuracy_pearson", "evil<b>": "1",
                        "embed": "true", "window": "4"}, controls=linked_controls("overview"))
    assert view.selections == {"selected_models": ["a", "b"]}
    assert view.controls == {"overview_severity": 3,
                             "overview_similarity_measure": "accuracy_pearson"}
    text = " ".join(view.notes)
    assert "`class` = `three`" in text and "`sample` = `-1`" in text
    # Names not of this page are unknown; Streamlit's own `embed` is not; markup is quoted in a
    # code span (shown as its characters, tests/test_escape.py).
    assert "2 unknown link parameter(s)" in text and "`evil<b>`" in text
    assert "window" in text
    attribution = decode_view({"window": "4", "baseline": "nan", "saliency": "0"},
                              controls=linked_controls("attribution"))
    assert attribution.controls == {"attribution_window": 4, "attribution_saliency": False}
    assert "`baseline` = `nan`" in attribution.notes[0]
    flag = decode_view({"saliency": "maybe"}, controls=linked_controls("attribution"))
    assert flag.controls == {} and "`saliency` = `maybe`" in flag.notes[0]


def test_a_links_ids_are_kept_where_the_database_holds_them_and_the_dropped_counted():
    catalog = Catalog(frozenset({"m1", "m2"}), frozenset({"clean", "fog-1"}), 10,
                      np.arange(0, 300, 2))
    view = decode_view({"models": "m2,ghost,m1,phantom", "benchmarks": "fog-1",
                        "samples": "0-9,1000", "class": "10", "sample": "3",
                        "reference": "clean", "compared": "nowhere"},
                       controls=linked_controls("geometry"))
    linked = Selection.of(view.selections)
    known, dropped = known_selection(linked, catalog)
    assert known == Selection(selected_models=("m2", "m1"), selected_benchmarks=("fog-1",),
                              selected_samples=(0, 2, 4, 6, 8), reference_benchmark="clean")
    assert dropped == {"selected_models": ["ghost", "phantom"],
                       "selected_samples": [1, 3, 5, 7, 9, 1000],
                       "compared_benchmark": ["nowhere"], "selected_class": [10],
                       "selected_sample": [3]}
    text = dropped_note(linked, dropped, catalog)
    assert "2 of 4 selected model id(s) (`ghost`, `phantom`)" in text
    assert "6 of 11 selected sample id(s) (`1`, `3`, `5` …)" in text
    assert "the class `10` (this database has 10 classes, 0 to 9)" in text
    assert "the sample `3`" in text and "the compared benchmark `nowhere`" in text
    assert known_selection(known, catalog) == (known, {})
    assert dropped_note(known, {}, catalog) == ""


def test_encode_view_leaves_out_what_does_not_fit():
    values = {"selected_models": ["m1", "m2"],
              "selected_samples": list(range(0, 2 * MAX_IDS + 2, 2)),
              "selected_class": 3, "selected_sample": None, "overview_placement": "geometry_umap",
              "geometry_compare_mode": "ignored on the overview"}
    params, left_out = encode_view(values, controls=linked_controls("overview"))
    assert params == {"models": "m1,m2", "class": "3", "placement": "geometry_umap"}
    assert f"{MAX_IDS + 1:,} selected samples" in left_out[0]
    spread = {"selected_samples": list(range(0, 9800, 2))}  # 4,900 ids, ~24,000 characters
    params, left_out = encode_view(spread, controls=linked_controls("overview"))
    assert "samples" not in params and f"at most {MAX_PARAM_CHARS:,}" in left_out[0]


def test_report_holds_every_figure_once_with_plotly_inline_and_escapes_readings():
    figures = [go.Figure(go.Scatter(x=[1, 2], y=[3, 4]), layout_title_text=f"Figure <i>{i}</i>")
               for i in range(3)]
    items = [Item("figure", f"f{i}", fig) for i, fig in enumerate(figures)]
    items.insert(1, Item("reading", "", "Angle at **r = −0.62** <script>alert(1)</script>"))
    text = page_report(items, title="Overview", link="http://host/population?models=m1",
                       selections={"selected_models": ["m1"], "selected_class": None})
    assert text.count("Plotly.newPlot(") == 3
    assert len(re.findall(r"\* plotly\.js v\d", text)) == 1  # the library once, inline
    assert not re.search(r"<script[^>]*\ssrc=", text)  # nothing fetched from a network
    assert "<strong>r = −0.62</strong>" in text and "&lt;script&gt;alert(1)" in text
    assert "<h2>Figure 1</h2>" in text and "selected models</strong>: m1" in text
    assert "selected class" not in text


# --------------------------------------------------------------------------- the app

@pytest.fixture
def open_page(monkeypatch):
    """``open_page(page, db, query=None, **state)``: a fresh session of ``page`` opened with
    the query parameters ``query`` (a link) and session-state keys preset; after its first
    run, without exception."""
    def run(page: str, db, query: dict | None = None, **state) -> AppTest:
        monkeypatch.setenv("ROBUSTNESS_DB", str(db))
        at = open_in_frame(AppTest.from_file(str(APP_ENTRY), default_timeout=PAGE_TIMEOUT),
                           page)
        for key, value in (query or {}).items():
            at.query_params[key] = value
        for key, value in state.items():
            at.session_state[key] = value
        at.run()
        assert not at.exception, at.exception
        return at

    return run


def _ids(db, table: str, column: str) -> list:
    with duckdb.connect(str(db), read_only=True) as con:
        return [r[0] for r in con.execute(f"SELECT DISTINCT {column} FROM {table} ORDER BY 1")
                .fetchall()]


def _link(at: AppTest) -> str:
    return next(c.value for c in at.sidebar.code)


def test_selections_go_into_the_query_string_and_a_fresh_session_restores_them(open_page,
                                                                              synth_db):
    models = _ids(synth_db, "models", "model_id")
    chosen = {"selected_models": [models[5], models[2]],
              "selected_benchmarks": ["clean", _ids(synth_db, "benchmarks", "benchmark_id")[3]],
              "selected_class": 4, "selected_samples": [3, 4, 5, 6, 7, 40, 41, 200],
              "selected_sample": 40}
    at = open_page("geometry", synth_db, **chosen)
    params = dict(at.query_params)
    assert params["samples"] == ["3-7,40,41,200"] or params["samples"] == "3-7,40,41,200"
    query = {k: v if isinstance(v, str) else v[-1] for k, v in params.items()}
    assert query["models"] == f"{models[5]},{models[2]}" and query["class"] == "4"
    assert query["sample"] == "40" and query["compare"] == "two models, one benchmark"
    link = _link(at)
    assert link.startswith("/samples-geometry?") and "samples=3-7,40,41,200" in link

    fresh = open_page("geometry", synth_db, query=query)
    for key, value in chosen.items():
        assert fresh.session_state[key] == value, key
    assert fresh.selectbox(key="geometry_selected_models_0").value == models[5]
    assert fresh.selectbox(key="geometry_selected_class").value == 4
    assert not fresh.warning  # nothing to drop
    assert dict(fresh.query_params) == dict(at.query_params)  # the same view, the same link


def test_a_changed_selection_is_mirrored_and_not_undone_by_the_link(open_page, synth_db):
    models = _ids(synth_db, "models", "model_id")
    at = open_page("geometry", synth_db, query={"models": models[1], "class": "2"})
    at.selectbox(key="geometry_selected_class").set_value(7).run()
    assert not at.exception
    assert at.session_state["selected_class"] == 7  # the link's class 2 is not restored again
    assert _link(at).count("class=7") == 1
    assert at.session_state["selected_models"][0] == models[1]


def test_page_controls_travel_in_the_link(open_page, synth_db):
    at = open_page("overview", synth_db, overview_severity=1)  # the synthetic severity
    query = {k: v if isinstance(v, str) else v[-1] for k, v in dict(at.query_params).items()}
    assert query["severity"] == "1"
    fresh = open_page("overview", synth_db, query={"severity": "1"})
    assert fresh.radio(key="overview_severity").value == 1
    assert "(severity 1)" in fresh.get("plotly_chart")[0].proto.spec
    bad = open_page("overview", synth_db, query={"severity": "3"})
    assert bad.radio(key="overview_severity").value == "average of all"
    assert "Ignoring severity `3`" in " ".join(i.value for i in bad.info)


@pytest.mark.parametrize("query, expected", [
    ({"models": "no-such-model,{model}", "benchmarks": "clean,nowhere-9"},
     ["1 of 2 selected model id(s) (`no-such-model`)",
      "1 of 2 selected benchmark id(s) (`nowhere-9`)"]),
    ({"models": ",".join(["m"] * 100_000)}, ["`models` is 199,999 characters long"]),
    ({"samples": "0-99999"}, ["`samples` names 100,000 ids"]),
    ({"samples": "1-3,zz,10000-10002", "class": "-4", "sample": "1e9", "x": "1"},
     ["Ignored 1 malformed part(s) of `samples`", "3 of 6 selected sample id(s)",
      "`class` = `-4`", "`sample` = `1e9`", "1 unknown link parameter(s): `x`"]),
    ({"class": "99", "reference": "'; DROP TABLE models; --"},
     ["the class `99` (this database has 10 classes", "the reference benchmark "
      "`'; DROP TABLE models; --`"]),
])
def test_malformed_links_give_a_note_and_the_defaults(open_page, synth_db, query, expected):
    model = _ids(synth_db, "models", "model_id")[0]
    query = {k: v.format(model=model) for k, v in query.items()}
    at = open_page("geometry", synth_db, query=query)
    # The link's own notes (a warning), and the frame's one note on ids it dropped (an info).
    notes = " ".join(w.value for w in [*at.warning, *at.info])
    for fragment in expected:
        assert fragment in notes
    assert at.get("plotly_chart"), "the page draws its defaults"
    assert all(v is None or isinstance(v, (list, int, str))
               for v in (at.session_state[k] for k in links.SELECTION_PARAMS.values()))
    assert _ids(synth_db, "models", "model_id")  # the database is untouched


def test_every_view_offers_csv_parquet_and_html_and_the_report_holds_every_figure(
        open_page, synth_db, downloads):
    models = _ids(synth_db, "models", "model_id")
    at = open_page("geometry", synth_db, selected_models=models[:2],
                   selected_benchmarks=["clean"], reference_benchmark="clean",
                   compared_benchmark=_ids(synth_db, "benchmarks", "benchmark_id")[2])
    charts = at.get("plotly_chart")
    # The global view's brushable parallel coordinates is a custom component, not a plotly_chart.
    n_figures = len(charts) + 1
    html_files = {n for n in downloads if n.endswith(".html") and not n.startswith("report_")}
    # local scatter, distributions, A/B overlay, Δ comparison, global view
    assert len(html_files) == n_figures >= 5
    for name in html_files:
        assert downloads[name].count("Plotly.newPlot(") == 1
        assert len(re.findall(r"\* plotly\.js v\d", downloads[name])) == 1  # works offline
    tables = {n.rsplit(".", 1)[0] for n in downloads if n.endswith(".csv")}
    assert {n.rsplit(".", 1)[0] for n in downloads if n.endswith(".parquet")} == tables
    assert len(tables) >= 4
    report = downloads["report_geometry.html"]
    assert report.count("Plotly.newPlot(") == n_figures
    assert len(re.findall(r"\* plotly\.js v\d", report)) == 1
    for chart in charts:
        title = re.search(r'"title":\{"text":"([^"]{12,})', chart.proto.spec)
        if title:
            assert title.group(1)[:30] in report


def test_a_query_string_over_streamlits_limit_opens_the_defaults(open_page, synth_db):
    # 100,000 sample ids written out (~590,000 characters) exceed the 512 Ki characters
    # Streamlit accepts: it drops the whole query string before the app sees it.
    at = open_page("geometry", synth_db, query={"samples": ",".join(map(str, range(100_000))),
                                                "class": "3"})
    assert at.session_state["selected_samples"] == [] and at.session_state["selected_class"] is None
    assert at.get("plotly_chart")


def test_attribution_controls_and_rows_travel_in_the_link(open_page, tmp_path):
    from test_page_attribution import DENSE, PRUNED, write_attribution_db

    db = write_attribution_db(tmp_path)
    at = open_page("attribution", db, query={
        "sample": "1", "models": f"{PRUNED[0]},{DENSE}", "benchmark": "gaussian_noise-3",
        "window": "6", "stride": "3", "baseline": "0.5", "saliency": "0"})
    assert at.multiselect(key="attribution_models").value == [PRUNED[0], DENSE]
    assert at.selectbox(key="attribution_benchmark").value == "gaussian_noise-3"
    assert at.number_input(key="attribution_window").value == 6
    assert at.number_input(key="attribution_stride").value == 3
    assert at.number_input(key="attribution_baseline").value == 0.5
    assert at.checkbox(key="attribution_saliency").value is False
    title = json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]["title"]["text"]
    assert "Sample 1 of gaussian_noise-3" in title and "6×6 patch, stride 3" in title
    query = {k: v if isinstance(v, str) else v[-1] for k, v in dict(at.query_params).items()}
    assert query == {"models": f"{PRUNED[0]},{DENSE}", "sample": "1",
                     "benchmark": "gaussian_noise-3", "window": "6", "stride": "3",
                     "baseline": "0.5", "saliency": "0"}
    # Choosing other rows writes the selected models, and so the link.
    at.multiselect(key="attribution_models").unselect(PRUNED[0]).run()
    assert at.session_state["selected_models"] == [DENSE]
    assert "models=" + DENSE in next(c.value for c in at.sidebar.code)

    bad = open_page("attribution", db, query={"sample": "1", "window": "999", "stride": "0",
                                              "benchmark": "fog-5"})
    notes = " ".join(i.value for i in bad.info)
    assert "Ignoring Window (px) = `999`" in notes and "Ignoring benchmark `fog-5`" in notes
    assert bad.number_input(key="attribution_window").value == 4
    assert bad.selectbox(key="attribution_benchmark").value == "clean"
