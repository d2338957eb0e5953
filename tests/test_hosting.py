"""Safe to host for a team: one writer per database, committed work is never thrown away, and
finished work is recognised exactly (model ids, fingerprints)."""

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from conftest import TINY
from core.pipeline.experiment import load_experiment
from core.pipeline.plan import DataShape, describe_change, model_id_for, plan_build
from core.pipeline.publish import DatabaseBusy, WorkFile

ROOT = Path(__file__).resolve().parent.parent


def copy_build(tiny_db, tmp_path) -> tuple[Path, Path]:
    """A copy of the `tiny` database and its cache (checkpoints, corrupted sets)."""
    db, cache = tmp_path / "copy.duckdb", tmp_path / "cache"
    shutil.copyfile(tiny_db, db)
    shutil.copytree(tiny_db.parent / "cache", cache)
    return db, cache


def rows(db, sql):
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_a_second_writer_exits_at_once_naming_the_first(tiny_db, tmp_path):
    # A fresh database with the checkpoints cached: the first build still evaluates and analyses
    # (tens of seconds), long enough to hold the lock while the second one starts.
    _, cache = copy_build(tiny_db, tmp_path)
    db = tmp_path / "fresh.duckdb"
    cmd = [sys.executable, "-m", "core", "build", "--experiment", str(TINY), "--db", str(db),
           "--cache", str(cache), "--quiet"]
    first = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        pid_file = db.with_name(db.name + ".lock.pid")
        deadline = time.monotonic() + 120
        while not (pid_file.exists() and pid_file.read_text().strip() == str(first.pid)):
            assert first.poll() is None and time.monotonic() < deadline, "first build never locked"
            time.sleep(0.1)
        second = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert first.poll() is None, "the first build must still be running"
        assert second.returncode == 2
        assert f"error: another build (pid {first.pid}) is writing {db}" in second.stderr
        assert "Traceback" not in second.stderr
        from core.pipeline.register import add_model   # add-model is a writer too
        with pytest.raises(DatabaseBusy, match=f"another build \\(pid {first.pid}\\)"):
            add_model(db, tmp_path / "unused.pt", arch="lenet5", method="dense")
    finally:
        first.kill()
        first.wait()
    with WorkFile(db):          # the lock dies with its holder, even under SIGKILL
        pass


def test_a_second_writer_stops_before_loading_any_data(tmp_path, monkeypatch):
    """The lock comes first: a second writer costs its imports only, no data and no training
    (what made it exit at once; not timed here, a loaded machine's seconds say little)."""
    from core.pipeline import build as build_stage

    def load_build_data(experiment):
        raise AssertionError("data loaded before the writer lock")

    monkeypatch.setattr(build_stage, "load_build_data", load_build_data)
    db = tmp_path / "x.duckdb"
    with WorkFile(db), pytest.raises(DatabaseBusy, match="another build"):
        build_stage.build(load_experiment(TINY), db, cache_dir=tmp_path / "cache", progress=False)
    assert not (tmp_path / "cache").exists()


def test_stale_temporaries_of_a_killed_writer_are_removed_under_the_lock(tmp_path):
    db = tmp_path / "x.duckdb"
    stale = [tmp_path / "x.duckdb.abc123.tmp", tmp_path / "x.duckdb.work.k9.tmp"]
    for path in stale:
        path.write_bytes(b"half a copy")
    other = tmp_path / "y.duckdb.abc.tmp"
    other.write_bytes(b"another database's")
    with WorkFile(db) as work:
        assert not any(p.exists() for p in stale) and other.exists()
        assert work.source() is None
    assert not db.with_name("x.duckdb.lock.pid").exists()


def test_model_ids_distinguish_every_ratio():
    assert model_id_for("lenet5", 1.0, "magnitude", 0.95, False, 0) == "lenet5-magnitude-r0.95-s0"
    assert model_id_for("lenet5", 1.0, "magnitude", 0.9, False, 0) == "lenet5-magnitude-r0.9-s0"
    assert model_id_for("lenet5", 2.0, "mpt", 0.5, True, 1) == "lenet5x2-mpt-r0.5-rt-s1"
    experiment = load_experiment(TINY)
    from dataclasses import replace
    plan = plan_build(replace(experiment, ratios=(0.9, 0.95, 0.99)),
                      DataShape(num_classes=10, in_channels=1, input_size=28))
    ids = [job.model_id for job in plan.models]
    assert len(set(ids)) == len(ids)
    assert "lenet5-random-r0.95-rt-s0" in ids


def test_a_plan_with_two_models_of_one_id_is_refused():
    from dataclasses import replace
    experiment = load_experiment(TINY)
    twice = replace(experiment, archs=experiment.archs * 2)
    with pytest.raises(ValueError, match="plans two models with the id 'lenet5-dense-r0.0-s0'"):
        plan_build(twice, DataShape(num_classes=10, in_channels=1, input_size=28))


def test_fingerprints_follow_exactly_the_settings_of_each_model():
    from dataclasses import replace
    shape = DataShape(num_classes=10, in_channels=1, input_size=28)
    base = load_experiment(TINY)
    before = {j.model_id: j.fingerprint for j in plan_build(base, shape).models}

    def changed(experiment):
        after = {j.model_id: j.fingerprint for j in plan_build(experiment, shape).models}
        return {m for m in before if before[m] != after[m]}

    pruned = {m for m in before if "-dense-" not in m and "-mpt-" not in m}
    more_epochs = replace(base, archs=(replace(base.archs[0], epochs=4),))
    assert changed(more_epochs) == pruned | {"lenet5-dense-r0.0-s0"}
    assert changed(replace(base, retrain_epochs=0.3)) == {m for m in pruned if "-rt-" in m}
    assert changed(replace(base, mpt_lr=0.2)) == {m for m in before if "-mpt-" in m}
    assert changed(replace(base, subset_seed=5, n_per_class=7)) == set()   # evaluation only
    assert changed(replace(base, archs=(replace(base.archs[0], epochs=3.0),))) == set()
    new = {j.model_id: j.fingerprint for j in plan_build(more_epochs, shape).models}
    dense = "lenet5-dense-r0.0-s0"
    assert describe_change(before[dense], new[dense]) == "epochs 3 → 4"
    assert describe_change(before["lenet5-random-r0.5-s0"], new["lenet5-random-r0.5-s0"]) == \
        "dense parent lenet5-dense-r0.0-s0 changed"


def test_changing_epochs_rebuilds_the_dense_model_and_its_pruned_children_only(tiny_db,
                                                                               tmp_path):
    db, cache = copy_build(tiny_db, tmp_path)
    experiment = tmp_path / "tiny_epochs.toml"
    text = TINY.read_text()
    assert "\nepochs = 3\n" in text
    # Analysis off: it would refresh the analysis tables (by their fingerprints) at length, and
    # this test is about which models are rebuilt.
    experiment.write_text(text.replace("\nepochs = 3\n", "\nepochs = 4\n", 1)
                          .replace("[analysis]\nenabled = true", "[analysis]\nenabled = false"))
    query = "SELECT model_id, fingerprint, checkpoint FROM models ORDER BY 1"
    before = {m: (f, c) for m, f, c in rows(db, query)}
    evaluations = "SELECT model_id, benchmark_id, accuracy, mean_angle FROM evaluations"
    old_results = set(rows(db, evaluations))
    result = subprocess.run(
        [sys.executable, "-m", "core", "build", "--experiment", str(experiment), "--db", str(db),
         "--cache", str(cache)], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    log = result.stdout + result.stderr
    assert "retraining lenet5-dense-r0.0-s0: epochs 3 → 4" in log
    assert "re-pruning lenet5-magnitude-r0.9-rt-s0: dense parent lenet5-dense-r0.0-s0 " \
           "changed" in log
    assert not re.search(r"(retraining|re-pruning) lenet5x1.5-mpt", log)
    after = {m: (f, c) for m, f, c in rows(db, query)}
    assert after.keys() == before.keys()
    rebuilt = {m for m in before if before[m] != after[m]}
    pruned = {m for m in before if "-dense-" not in m and "-mpt-" not in m}
    assert rebuilt == pruned | {"lenet5-dense-r0.0-s0"}
    new_results = set(rows(db, evaluations))
    n_bench = rows(db, "SELECT count(*) FROM benchmarks")[0][0]
    assert len(new_results) == len(old_results) == len(before) * n_bench
    kept = {r[0] for r in old_results & new_results}
    assert kept == set(before) - rebuilt, "exactly the rebuilt models were re-evaluated"
    assert not os.path.exists(str(db) + ".work")


def test_a_rerun_publishes_committed_work_it_finds_instead_of_deleting_it(tiny_db, tmp_path):
    """A build killed in its last publish leaves a complete work file and a served file that
    lacks some results: the rerun (nothing left to do) publishes the work file."""
    from core.pipeline.build import build

    db, cache = copy_build(tiny_db, tmp_path)
    work = db.with_name(db.name + ".work")
    shutil.copyfile(db, work)
    con = duckdb.connect(str(db))
    con.execute("DELETE FROM evaluations WHERE model_id = 'lenet5-dense-r0.0-s0'")
    con.close()
    os.utime(db, ns=(work.stat().st_mtime_ns - 10**9,) * 2)    # served is the older file
    report = build(load_experiment(TINY), db, cache_dir=cache, progress=False)
    assert not report.up_to_date
    assert not work.exists()
    n_bench = rows(db, "SELECT count(*) FROM benchmarks")[0][0]
    assert rows(db, "SELECT count(*) FROM evaluations WHERE model_id = "
                    "'lenet5-dense-r0.0-s0'")[0][0] == n_bench


def test_a_database_built_before_fingerprints_is_migrated_without_rebuilding(tiny_db,
                                                                              tmp_path):
    from core.pipeline.build import build

    db, cache = copy_build(tiny_db, tmp_path)
    con = duckdb.connect(str(db))
    con.execute("ALTER TABLE models DROP COLUMN fingerprint")
    con.execute("DROP TABLE build_fingerprints")
    con.close()
    results = set(rows(db, "SELECT model_id, benchmark_id, accuracy FROM evaluations"))
    fits = set(rows(db, "SELECT model_id, fit_seconds FROM models"))
    build(load_experiment(TINY), db, cache_dir=cache, progress=False)
    assert rows(db, "SELECT count(*) FROM models WHERE fingerprint IS NULL")[0][0] == 0
    assert set(rows(db, "SELECT model_id, fit_seconds FROM models")) == fits   # none rebuilt
    assert set(rows(db, "SELECT model_id, benchmark_id, accuracy FROM evaluations")) == results
    assert rows(db, "SELECT count(*) FROM build_fingerprints")[0][0] == 1


def test_add_model_replaces_an_existing_id_only_when_asked(tiny_db, tmp_path):
    import torch

    from core.models import build_model
    from core.pipeline.register import add_model

    db = tmp_path / "user.duckdb"
    shutil.copyfile(tiny_db, db)
    ckpt = tmp_path / "mine.pt"
    torch.save(build_model("lenet5", in_channels=1, num_classes=10).state_dict(), ckpt)
    taken = "lenet5-magnitude-r0.5-s0"
    before = db.read_bytes()
    with pytest.raises(ValueError, match=f"Model id '{taken}' is already in .*--replace"):
        add_model(db, ckpt, arch="lenet5", method="magnitude", ratio=0.5, model_id=taken)
    assert db.read_bytes() == before
    assert rows(db, f"SELECT count(*) FROM evaluations WHERE model_id = '{taken}'")[0][0] > 0
    add_model(db, ckpt, arch="lenet5", method="magnitude", ratio=0.5, model_id=taken,
              replace=True)
    assert rows(db, f"SELECT source FROM models WHERE model_id = '{taken}'") == [("user",)]
    for table in ("evaluations", "sample_metrics"):
        assert rows(db, f"SELECT count(*) FROM {table} WHERE model_id = '{taken}'")[0][0] == 0


def test_every_experiment_key_has_a_rule():
    """Validation is complete: each key of every section, and each [[arch]] field, is checked
    for its type and range (add a rule with every new key)."""
    from dataclasses import fields

    from core.pipeline.experiment import _ARCH_KEYS, _SECTIONS, _TOP_KEYS, ArchSpec, Rule

    entries = [*_TOP_KEYS.values(), *(e for keys in _SECTIONS.values() for e in keys.values())]
    assert all(isinstance(entry, tuple) and isinstance(entry[1], Rule) for entry in entries)
    assert set(_ARCH_KEYS) == {f.name for f in fields(ArchSpec)}
