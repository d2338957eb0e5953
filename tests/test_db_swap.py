"""The app's database layer while the served file is replaced (app/db.py): no query error while
a build publishes, and every replacement seen, whatever its modification time."""

import os
import shutil
import threading
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app import db as app_db
from app.queries import common as q
from core import store
from conftest import APP_ENTRY


def sql(ref: app_db.DbRef, query: str):
    """``query`` read through ``ref`` (DbRef.read runs a function of the connection)."""
    return ref.read(lambda con: con.execute(query).df())

ROOT = Path(__file__).resolve().parent.parent


def write_version(path: Path, label: str, *, n_models: int) -> None:
    """A small project database whose contents say which version it is: ``n_models`` models and
    a build-progress message ``label``."""
    con = store.connect(path)
    store.create_schema(con, num_classes=3)
    con.execute("INSERT INTO models(model_id, arch, method, ratio) SELECT 'm' || i, 'lenet5', "
                "'magnitude', (i % 9) / 10 FROM range(?) t(i)", [n_models])
    con.execute("INSERT INTO evaluations(model_id, benchmark_id, accuracy) SELECT 'm' || i, "
                "'b' || j, random() FROM range(?) t(i), range(40) s(j)", [n_models])
    con.execute("INSERT INTO build_progress VALUES ('train', 1, 2, ?, now())", [label])
    con.close()


def publish(source: Path, target: Path) -> None:
    """What the builder does: a complete copy renamed over the served file."""
    tmp = target.with_name(target.name + ".tmp")
    shutil.copyfile(source, tmp)
    os.replace(tmp, target)


@pytest.fixture
def versions(tmp_path, monkeypatch):
    a, b = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    write_version(a, "version A", n_models=300)
    write_version(b, "version B", n_models=500)
    served = tmp_path / "served.duckdb"
    shutil.copyfile(a, served)
    monkeypatch.setenv("ROBUSTNESS_DB", str(served))
    return a, b, served


def test_queries_on_many_threads_never_fail_while_the_file_is_swapped(versions):
    a, b, served = versions
    errors, answers = [], []
    stop = threading.Event()

    def page_queries():
        # What a page run does: take the current version, then run several queries on it.
        while not stop.is_set():
            try:
                ref = app_db.current_db()
                models = sql(ref, "SELECT * FROM models ORDER BY model_id")
                joined = sql(ref, "SELECT m.arch, count(*) AS n, avg(e.accuracy) AS mean "
                                 "FROM evaluations e JOIN models m USING (model_id) "
                                 "GROUP BY m.arch")
                progress = q.build_progress(ref)
                answers.append((len(models), int(joined.n.sum()), progress.message.iloc[0]))
            except Exception as exc:          # what would reach a page as an error box
                errors.append(repr(exc))

    threads = [threading.Thread(target=page_queries) for _ in range(6)]
    for thread in threads:
        thread.start()
    try:
        for swap in range(20):
            time.sleep(0.1)
            publish(b if swap % 2 == 0 else a, served)
        time.sleep(0.2)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert not errors, errors[:3]
    assert len(answers) >= 20
    # Every query answers from one whole version, never a mix of two files.
    models = {"version A": 300, "version B": 500}
    assert {n for n, _, _ in answers} <= {300, 500}
    assert {joined for _, joined, _ in answers} <= {300 * 40, 500 * 40}
    assert {label for _, _, label in answers} == {"version A", "version B"}
    # Most page runs read one version throughout (a replaced version stays open a while).
    whole = sum(n == models[label] and joined == 40 * n for n, joined, label in answers)
    assert whole >= 0.8 * len(answers), (whole, len(answers))
    # The last publication (A) is what a new query sees; no query holds a version any more and
    # replaced versions beyond the kept ones were closed.
    assert sql(app_db.current_db(), "SELECT count(*) AS n FROM models").n[0] == 300
    opened = app_db._OPEN[str(served)]
    assert 1 <= len(opened) <= app_db.RETIRED_KEPT + 1
    assert all(v.users == 0 for v in opened)


def test_a_page_run_reads_the_version_it_began_on_after_a_publication(versions):
    a, b, served = versions
    first = app_db.current_db()
    assert sql(first, "SELECT count(*) AS n FROM models").n[0] == 300
    publish(b, served)
    second = app_db.current_db()
    assert sql(second, "SELECT count(*) AS n FROM models").n[0] == 500   # opens the new file
    # The run that began on the first version still reads it, from the replaced file.
    assert sql(first, "SELECT count(*) AS n FROM models").n[0] == 300


def test_a_replaced_version_is_closed_once_unused_and_past_its_keeping(versions, monkeypatch):
    a, b, served = versions
    monkeypatch.setattr(app_db, "RETIRED_SECONDS", 0.0)
    first = app_db.current_db()
    sql(first, "SELECT 1")
    publish(b, served)
    sql(app_db.current_db(), "SELECT 1")
    opened = app_db._OPEN[str(served)]
    assert [v.ref for v in opened] == [app_db.current_db()]
    # The stale reference answers from the file in place now.
    assert sql(first, "SELECT count(*) AS n FROM models").n[0] == 500


def test_a_query_interrupted_by_a_swap_is_retried_once_on_the_new_file(versions, monkeypatch):
    a, b, served = versions
    ref = app_db.current_db()
    sql(ref, "SELECT 1")
    real_run, calls = app_db._run, []

    def run_then_swap(db, query, params):
        calls.append(db)
        if len(calls) == 1:       # the first attempt fails as a closed connection would …
            publish(b, served)   # … because the file was swapped meanwhile
            raise app_db.duckdb.ConnectionException("Connection already closed!")
        return real_run(db, query, params)

    monkeypatch.setattr(app_db, "_run", run_then_swap)
    assert sql(ref, "SELECT count(*) AS n FROM models").n[0] == 500
    assert calls[0] == ref and calls[1] == app_db.current_db() != ref


def test_a_real_query_error_is_not_retried(versions):
    ref = app_db.current_db()
    with pytest.raises(app_db.duckdb.CatalogException):
        sql(ref, "SELECT * FROM no_such_table")


def test_the_identity_changes_with_every_replacement_even_an_older_one(versions):
    a, b, served = versions
    before = app_db.current_db()
    publish(b, served)
    hour_ago = before.mtime_ns - 3600 * 10**9
    os.utime(served, ns=(hour_ago, hour_ago))
    after = app_db.current_db()
    assert after.mtime_ns < before.mtime_ns and after != before
    # Rewritten in place (same inode, as `cp -p` onto an existing file) with the old mtime and
    # the same size: only the change time tells.
    shutil.copyfile(a, served)
    os.utime(served, ns=(after.mtime_ns, after.mtime_ns))
    in_place = app_db.current_db()
    assert in_place.inode == after.inode and in_place.mtime_ns == after.mtime_ns
    assert in_place != after


def sidebar_text(at) -> str:
    return " ".join(str(p.proto.text) for p in at.get("progress"))


def test_every_session_shows_a_replacement_with_an_older_mtime_on_its_next_run(versions):
    a, b, served = versions
    sessions = [AppTest.from_file(str(APP_ENTRY), default_timeout=120)
                for _ in range(3)]
    for at in sessions:
        at.run()
        assert not at.exception
        assert "version A" in sidebar_text(at)
    old = served.stat().st_mtime_ns
    publish(b, served)
    os.utime(served, ns=(old - 3600 * 10**9,) * 2)      # a backup restored with `cp -p`
    for at in sessions:
        at.run()
        assert not at.exception
        assert "version B" in sidebar_text(at) and "version A" not in sidebar_text(at)
