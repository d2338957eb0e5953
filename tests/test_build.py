"""The pipeline end to end on the `tiny` preset: consistency, idempotence, crash safety."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from build_processes import survivors, tagged_env
from conftest import TINY, run_build
from core.checks import CHECKS, check_database
from core.pipeline.experiment import load_experiment
from core.pipeline.plan import DataShape, plan_build
from table_digests import database_digests

RECORDED_DIGESTS = Path(__file__).resolve().parent / "data" / "tiny_tables.json"
RECORDED_ALTERNATIVES = RECORDED_DIGESTS.with_name("tiny_tables_alternatives.json")


def tiny_plan():
    """The `tiny` preset's grid on Fashion-MNIST (10 classes, 1 channel, 28 × 28)."""
    return plan_build(load_experiment(TINY),
                      DataShape(num_classes=10, in_channels=1, input_size=28))

# Columns that legitimately differ between two builds of the same experiment.
VOLATILE = {"models": ["fit_seconds", "checkpoint", "latency_ratio"], "build_progress": None,
            "analysis_state": ["seconds", "updated_at"], "placement_quality": ["seconds"]}


def snapshot(path) -> dict[str, pd.DataFrame]:
    con = duckdb.connect(str(path), read_only=True)
    tables = [r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables ORDER BY 1").fetchall()]
    out = {}
    for table in tables:
        if table in VOLATILE and VOLATILE[table] is None:
            continue
        frame = con.execute(f"SELECT * FROM {table}").df()
        frame = frame.drop(columns=VOLATILE.get(table) or [], errors="ignore")
        frame = frame.map(lambda v: tuple(v) if isinstance(v, (list, np.ndarray)) else v)
        out[table] = frame.sort_values(list(frame.columns)[:4]).reset_index(drop=True)
    con.close()
    return out


def test_tiny_db_is_consistent(tiny_db):
    plan = tiny_plan()
    con = duckdb.connect(str(tiny_db), read_only=True)
    models = {m for (m,) in con.execute("SELECT model_id FROM models").fetchall()}
    benchmarks = {b for (b,) in con.execute("SELECT benchmark_id FROM benchmarks").fetchall()}
    assert models == {job.model_id for job in plan.models}
    assert benchmarks == set(plan.benchmark_ids)
    pairs = set(con.execute("SELECT model_id, benchmark_id FROM evaluations").fetchall())
    assert pairs == set(plan.evaluation_pairs)
    assert check_database(con) == {name: 0 for name in CHECKS}
    assert con.execute("SELECT count(*) FROM models WHERE abs(sparsity - ratio) > 0.005").fetchone()[0] == 0
    dense = con.execute("SELECT accuracy FROM evaluations WHERE model_id = 'lenet5-dense-r0.0-s0' "
                        "AND benchmark_id = 'clean'").fetchone()[0]
    assert dense > 0.5  # 3 epochs on 2,000 images: clearly learned, far above chance (0.1)
    con.close()


def test_tiny_build_gives_the_recorded_tables(tiny_db):
    """Every table of a `tiny` build has the digest recorded before the build was refactored.

    Torch's kernels are the same on every x86-64 machine here (AVX2, see conftest.py). The
    placements (UMAP's numba code, NumPy's OpenBLAS) still pick kernels by CPU; for those two
    tables the digests of other CPUs, each recorded with its machine named, are also accepted."""
    recorded = json.loads(RECORDED_DIGESTS.read_text())
    alternatives = json.loads(RECORDED_ALTERNATIVES.read_text())
    assert set(alternatives) == {"embeddings", "placement_quality"}
    got = database_digests(tiny_db, tables=set(recorded))
    assert got.keys() == recorded.keys()
    changed = sorted(t for t in recorded
                     if got[t] != recorded[t] and got[t] not in alternatives.get(t, {}).values())
    assert not changed, f"tables that differ from the recorded build: {changed}"


def test_tiny_plan_follows_the_preset():
    """The grid of experiments/tiny.toml: per method × retrained × ratio one pruned model, one
    dense model and the MPT ratios; clean plus every corruption × severity."""
    experiment, plan = load_experiment(TINY), tiny_plan()
    per_arch = (1 + len(experiment.methods) * len(experiment.retrain) * len(experiment.ratios)
                + len(experiment.mpt_ratios))
    assert len(plan.models) == len(experiment.archs) * per_arch + len(experiment.guide.arch_specs())
    assert len({job.model_id for job in plan.models}) == len(plan.models)
    assert plan.benchmark_ids[0] == "clean"
    assert len(plan.benchmarks) == 1 + len(experiment.corruptions) * len(experiment.severities)
    assert len(plan.evaluation_pairs) == len(plan.models) * len(plan.benchmarks)
    assert plan.models[0].model_id == "lenet5-dense-r0.0-s0"
    mpt = [job for job in plan.models if job.method == "mpt"]
    assert [job.width for job in mpt] == [experiment.mpt_width] * len(experiment.mpt_ratios)


def test_second_run_does_nothing_and_says_so(tiny_db):
    before = tiny_db.stat().st_mtime_ns
    result = run_build(tiny_db, tiny_db.parent / "cache")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "nothing to do" in result.stdout + result.stderr
    assert tiny_db.stat().st_mtime_ns == before


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_gives_identical_tables(tiny_db, tmp_path):
    """Kill a fresh build (own cache) with SIGKILL at several random moments, rerun to the end,
    and compare every table with the uninterrupted build. No process of a killed build (pool
    workers, their resource tracker) outlives it."""
    db, cache = tmp_path / "killed.duckdb", tmp_path / "cache"
    rng = random.Random(int(os.environ.get("KILL_SEED", "7")))
    cmd = [sys.executable, "-m", "core", "build", "--experiment", str(TINY), "--db", str(db),
           "--cache", str(cache), "--quiet"]
    kills = 0
    for _ in range(5):
        tag, env = tagged_env()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                cwd=Path(__file__).resolve().parent.parent, env=env)
        time.sleep(rng.uniform(2.0, 12.0))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        assert survivors(tag, within=10) == {}, "processes of the killed build live on"
    assert kills >= 3  # the random moments must really land inside builds
    result = run_build(db, cache)
    assert result.returncode == 0, result.stderr[-3000:]
    expected, got = snapshot(tiny_db), snapshot(db)
    assert expected.keys() == got.keys()
    for table in expected:
        pd.testing.assert_frame_equal(got[table], expected[table], check_exact=False,
                                      rtol=1e-6, obj=table)


def test_add_model_registers_a_users_checkpoint_and_the_build_evaluates_it(tiny_db, tmp_path):
    import shutil

    import torch

    from cli import run_cli
    from core.models import build_model

    db = tmp_path / "user.duckdb"
    shutil.copyfile(tiny_db, db)
    torch.manual_seed(3)
    ckpt = tmp_path / "mine.pt"
    torch.save(build_model("lenet5", in_channels=1, num_classes=10).state_dict(), ckpt)
    result = run_cli("add-model", ckpt, "--db", db, "--arch", "lenet5", "--method", "magnitude",
                     "--ratio", "0.3", "--model-id", "my-lenet")
    assert result.returncode == 0, result.stderr
    result = run_build(db, tiny_db.parent / "cache")
    assert result.returncode == 0, result.stderr[-2000:]
    con = duckdb.connect(str(db), read_only=True)
    row = con.execute("SELECT method, ratio, source FROM models WHERE model_id = 'my-lenet'").fetchone()
    assert row == ("magnitude", 0.3, "user")
    n_bench = len(tiny_plan().benchmarks)
    assert con.execute("SELECT count(*) FROM evaluations WHERE model_id = 'my-lenet'").fetchone()[0] == n_bench
    assert check_database(con) == {name: 0 for name in CHECKS}
    con.close()


PAPER_SHAPED = """
name = "paper_shaped"
[dataset]
name = "fashion_mnist"
train_limit = 200
n_per_class = 2
[[arch]]
arch = "vgg16"
width = 0.125
epochs = 0.2
[[arch]]
arch = "resnet18"
width = 0.125
epochs = 0.2
[pruning]
methods = ["random", "magnitude", "snip", "taylor2"]
ratios = [0.5]
retrain = [false, true]
retrain_epochs = 0.2
taylor2_probes = 1
[mpt]
enabled = true
width = 1.0
epochs = 0.2
ratios = [0.5]
[benchmarks]
corruptions = ["brightness"]
severities = [1]
"""


@pytest.mark.slow
def test_paper_shaped_grid_with_vgg16_and_resnet18(tmp_path):
    """The `paper` preset's grid (both CIFAR-form architectures, every method, MPT with
    BatchNorm) at toy size: it builds, and every invariant holds."""
    experiment = tmp_path / "paper_shaped.toml"
    experiment.write_text(PAPER_SHAPED)
    db = tmp_path / "paper.duckdb"
    result = run_build(db, tmp_path / "cache", experiment=experiment)
    assert result.returncode == 0, result.stderr[-3000:]
    con = duckdb.connect(str(db), read_only=True)
    archs = con.execute("SELECT arch, count(*) FROM models GROUP BY 1 ORDER BY 1").fetchall()
    assert archs == [("resnet18", 10), ("vgg16", 10)]   # dense + 4 methods × 2 + mpt
    assert check_database(con) == {name: 0 for name in CHECKS}
    con.close()


def test_an_arch_entry_may_choose_its_own_grid(tmp_path):
    """[[arch]] keys methods / ratios / retrain / mpt / mpt_ratios override the experiment's grid
    for that architecture alone, and do not change how a model is made (same fingerprints)."""
    from core.pipeline.experiment import load_experiment
    from core.pipeline.plan import DataShape, plan_build

    path = tmp_path / "grid.toml"
    path.write_text("""
name = "grid"
[[arch]]
arch = "lenet5"
[[arch]]
arch = "resnet_small"
methods = ["magnitude"]
ratios = [0.5, 0.9]
retrain = [true]
mpt_ratios = [0.5]
[pruning]
methods = ["random", "magnitude"]
ratios = [0.3]
retrain = [false, true]
[mpt]
ratios = [0.4]
""")
    plan = plan_build(load_experiment(path), DataShape(num_classes=10, in_channels=1,
                                                       input_size=28))
    ids = {job.model_id for job in plan.models}
    assert {j for j in ids if j.startswith("resnet_small")} == {
        "resnet_small-dense-r0.0-s0", "resnet_small-magnitude-r0.5-rt-s0",
        "resnet_small-magnitude-r0.9-rt-s0", "resnet_smallx2-mpt-r0.5-s0"}
    assert len([j for j in ids if j.startswith("lenet5")]) == 1 + 2 * 2 + 1
    plain = tmp_path / "plain.toml"
    plain.write_text('name = "plain"\n[[arch]]\narch = "resnet_small"\n[pruning]\n'
                     'methods = ["magnitude"]\nratios = [0.5]\nretrain = [true]\n')
    same = {j.model_id: j.fingerprint for j in plan_build(
        load_experiment(plain), DataShape(num_classes=10, in_channels=1, input_size=28)).models}
    mine = {j.model_id: j.fingerprint for j in plan.models}
    assert same["resnet_small-magnitude-r0.5-rt-s0"] == mine["resnet_small-magnitude-r0.5-rt-s0"]


def test_an_arch_entry_may_set_its_own_mpt_recipe(tmp_path):
    """[[arch]] mpt_width / mpt_epochs / mpt_lr shape that architecture's MPT models alone: its
    other models keep their fingerprints and checkpoint names, the other architecture keeps
    the experiment's [mpt] recipe."""
    from core.pipeline.experiment import load_experiment
    from core.pipeline.plan import DataShape, checkpoint_key, plan_build

    shape = DataShape(num_classes=10, in_channels=1, input_size=28)
    base = """
name = "mpt"
[[arch]]
arch = "lenet5"
[[arch]]
arch = "resnet_small"
{own}
[pruning]
methods = ["magnitude"]
ratios = [0.5]
retrain = [false]
[mpt]
width = 2.0
epochs = 1.0
lr = 0.5
ratios = [0.5]
"""
    plain, own = tmp_path / "plain.toml", tmp_path / "own.toml"
    plain.write_text(base.format(own=""))
    own.write_text(base.format(own="mpt_width = 1.0\nmpt_epochs = 0.5\nmpt_lr = 0.2"))
    e_plain, e_own = load_experiment(plain), load_experiment(own)
    jobs_plain = {j.model_id: j for j in plan_build(e_plain, shape).models}
    jobs_own = {j.model_id: j for j in plan_build(e_own, shape).models}
    assert "resnet_smallx2-mpt-r0.5-s0" in jobs_plain and "resnet_small-mpt-r0.5-s0" in jobs_own
    mpt = jobs_own["resnet_small-mpt-r0.5-s0"]
    assert (mpt.width, mpt.mpt_epochs, mpt.mpt_lr) == (1.0, 0.5, 0.2)
    assert jobs_own["lenet5x2-mpt-r0.5-s0"].mpt_epochs == 1.0     # the experiment's recipe
    for model_id in ("resnet_small-dense-r0.0-s0", "resnet_small-magnitude-r0.5-s0",
                     "lenet5x2-mpt-r0.5-s0"):
        a, b = jobs_plain[model_id], jobs_own[model_id]
        assert a.fingerprint == b.fingerprint, model_id
        assert checkpoint_key(e_plain, a) == checkpoint_key(e_own, b), model_id
    with pytest.raises(ValueError, match="`mpt_epochs` must be"):
        bad = tmp_path / "bad.toml"
        bad.write_text(base.format(own="mpt_epochs = -1"))
        load_experiment(bad)
