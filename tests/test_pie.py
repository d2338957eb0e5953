"""Hooker et al.'s PIEs over a seed population: modal labels, the tie rule, the finder's AUC and
the build stage that trains the population (docs/analysis.md, PIEs)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from core import analysis, store
from core.data import Dataset
from core.pipeline.analysis_tables import update_analysis
from core.pipeline.experiment import ArchSpec, Experiment, load_experiment
from core.pipeline.plan import DataShape, plan_build
from core.pipeline.seed_population import seed_population_jobs, update_seed_population
from core.store import builds


def test_modal_label_sets_by_hand():
    # Sample 0: votes 2×1, 1×0 → {1}; sample 1: 1×2, 1×3 → tie {2, 3}; sample 2: no votes.
    modal = analysis.modal_label_sets(np.array([0, 0, 0, 1, 1]), np.array([1, 1, 0, 2, 3]),
                                      n_samples=3, n_classes=4)
    assert modal.tolist() == [[False, True, False, False], [False, False, True, True],
                              [False, False, False, False]]


def _rows(method, ratio, retrained, preds):
    """Prediction rows of one population: preds[seed][sample]."""
    return pd.DataFrame([("lenet5", seed, method, ratio, retrained, sample, int(p))
                         for seed, row in enumerate(preds) for sample, p in enumerate(row)],
                        columns=["arch", "seed", "method", "ratio", "retrained", "sample_id",
                                 "pred"])


def test_pie_is_a_modal_label_change_and_a_shared_tie_is_not():
    # Three seeds, four samples. Dense modal labels: {0}, {1}, {2}, {0, 1, 2} (a three-way tie).
    dense = _rows("dense", 0.0, False, [[0, 1, 2, 0], [0, 1, 2, 1], [3, 1, 2, 2]])
    # Pruned: sample 0 → {0} (same), sample 1 → {2} (changed: a PIE), sample 2 → tie {2, 3}
    # with a second label (shares 2: not a PIE), sample 3 → {3} (disjoint from the tie: a PIE).
    pruned = _rows("magnitude", 0.9, True, [[0, 2, 2, 3], [0, 2, 3, 3], [1, 2, 1, 3]])
    flags = analysis.hooker_pies(pd.concat([dense, pruned]))
    assert flags.columns.tolist() == analysis.PIE_COLUMNS
    assert flags["pie"].tolist() == [False, True, False, True]
    assert set(flags["n_seeds"]) == {3}
    assert (flags["method"].iloc[0], flags["ratio"].iloc[0], flags["retrained"].iloc[0]) == (
        "magnitude", 0.9, True)


def test_each_pruned_population_is_flagged_on_its_own():
    dense = _rows("dense", 0.0, False, [[0, 1], [0, 1]])
    same = _rows("magnitude", 0.5, False, [[0, 1], [0, 1]])
    flipped = _rows("magnitude", 0.9, False, [[1, 0], [1, 0]])
    flags = analysis.hooker_pies(pd.concat([dense, same, flipped]))
    counts = flags.groupby("ratio")["pie"].sum()
    assert counts.to_dict() == {0.5: 0, 0.9: 2}


def test_pie_auc_against_a_hand_computed_mann_whitney():
    flags = pd.DataFrame({"arch": "a", "method": "magnitude", "ratio": 0.5, "retrained": False,
                          "sample_id": [0, 1, 2, 3, 4], "pie": [True, False, True, False, False],
                          "n_seeds": 5})
    dense = pd.DataFrame({"arch": "a", "sample_id": [0, 1, 2, 3, 4],
                          "angle": [50.0, 10.0, 20.0, 30.0, 5.0],
                          "margin": [0.1, 2.0, 0.5, 1.0, 3.0], "l2": [1.0, 5.0, 2.0, 1.5, 9.0]})
    auc = analysis.pie_auc(flags, dense).set_index("score")["auc"]
    # angle: PIEs 50, 20 against 10, 30, 5 → pairs won 3 + 2 of 6 = 5/6.
    assert auc["angle"] == pytest.approx(5 / 6)
    # −margin: PIEs −0.1, −0.5 against −2, −1, −3: all 6 pairs won.
    assert auc["neg_margin"] == pytest.approx(1.0)
    # −l2: PIEs −1, −2 against −5, −1.5, −9: 3 + 2 = 5 of 6.
    assert auc["neg_l2"] == pytest.approx(5 / 6)
    # geometric = (rank(−margin) + rank(angle)) / 2n: PIE scores (5+5)/10, (4+3)/10 against
    # (2+2)/10, (3+4)/10, (1+1)/10 → 1 + 1 + 1 + 0.5 (tie 0.7 = 0.7) + 1 + 1 = 5.5 of 6.
    assert auc["geometric"] == pytest.approx(5.5 / 6)
    assert set(analysis.pie_auc(flags.assign(pie=False), dense)["auc"].isna()) == {True}


CLASSES = ["a", "b", "c"]


def _toy(n_per_class: int, seed: int) -> Dataset:
    """28×28 images of three classes, each a bright band at its own height plus noise."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(CLASSES)), n_per_class)
    images = rng.integers(0, 60, size=(len(labels), 28, 28))
    for k in range(len(CLASSES)):
        images[labels == k, 9 * k:9 * k + 9, :] += 180
    return Dataset(images.astype(np.uint8), labels.astype(np.int64), CLASSES)


_SHAPE = DataShape(num_classes=3, in_channels=1, input_size=28)


def _experiment(**changes) -> Experiment:
    return Experiment(name="toy", archs=(ArchSpec(epochs=0.5, lr=0.003, optimizer="adam",
                                                  weight_decay=0.0),),
                      retrain_epochs=0.2, seed_population=True, seed_population_seeds=(1, 2),
                      **changes)


def test_seed_jobs_are_the_main_population_jobs_with_the_seed_replaced():
    experiment = _experiment()
    jobs = seed_population_jobs(experiment, _SHAPE)
    assert [seed for seed, _, _ in jobs] == [1, 2]
    seed, dense, pruned = jobs[1]
    main = {job.model_id: job for job in plan_build(dataclasses.replace(experiment, seed=2),
                                                    _SHAPE).models}
    for job in (dense, *pruned):
        assert job.fingerprint == main[job.model_id].fingerprint
    assert [(j.method, j.ratio, j.retrained) for j in pruned] == [
        ("magnitude", 0.5, False), ("magnitude", 0.9, False), ("magnitude", 0.5, True),
        ("magnitude", 0.9, True)]


def test_seed_population_stage_writes_once_and_feeds_the_pie_tables():
    train, test = _toy(40, seed=0), _toy(10, seed=1)
    sample_ids = np.arange(len(test.labels)) * 3
    experiment = _experiment()
    con = store.open_duckdb()
    store.create_schema(con, num_classes=3)
    args = (con, experiment, _SHAPE, train.images, train.labels, test.images, test.labels,
            sample_ids)
    assert update_seed_population(*args)
    rows = con.execute("SELECT * FROM seed_predictions").df()
    assert len(rows) == 2 * 5 * len(sample_ids)
    assert set(rows["sample_id"]) == set(sample_ids.tolist())
    labels = dict(zip(sample_ids.tolist(), test.labels.tolist()))
    assert (rows["correct"] == (rows["pred"] == rows["sample_id"].map(labels))).all()
    assert not update_seed_population(*args)
    assert not update_seed_population(con, dataclasses.replace(experiment, seed_population=False),
                                      *args[2:])
    # The analysis turns the predictions into PIE flags (AUCs need a main dense model: none).
    update_analysis(con, progress=False)
    flags = con.execute("SELECT * FROM pie_flags").df()
    assert len(flags) == 4 * len(sample_ids) and set(flags["n_seeds"]) == {2}
    expected = analysis.hooker_pies(rows)
    assert flags.sort_values(["ratio", "retrained", "sample_id"])["pie"].tolist() == (
        expected.sort_values(["ratio", "retrained", "sample_id"])["pie"].tolist())


def test_seed_population_section_is_read_and_validated(tmp_path):
    path = tmp_path / "e.toml"
    body = 'name = "e"\n[[arch]]\narch = "lenet5"\n[seed_population]\nenabled = true\n'
    path.write_text(body + "seeds = [1, 2, 3]\nratios = [0.5]\nretrain = [true]\n")
    e = load_experiment(path)
    assert (e.seed_population, e.seed_population_seeds, e.seed_population_ratios,
            e.seed_population_retrain) == (True, (1, 2, 3), (0.5,), (True,))
    for extra, message in [("seeds = [1]", "at least 2 distinct"),
                           ("seeds = [1, 1]", "a list of distinct integers"),
                           ('arch = "resnet_small"', "must be one of the experiment's"),
                           ("ratios = [1.5]", "`ratios` must be")]:
        path.write_text(body + extra + "\n")
        with pytest.raises(ValueError, match=message):
            load_experiment(path)


def test_a_seed_the_main_population_built_is_read_not_trained():
    train, test = _toy(40, seed=0), _toy(10, seed=1)
    sample_ids = np.arange(len(test.labels))
    experiment = _experiment()
    con = store.open_duckdb()
    store.create_schema(con, num_classes=3)
    store.replace_rows(con, "benchmarks", pd.DataFrame(
        {"benchmark_id": ["clean"], "dataset": ["d"], "corruption": ["clean"], "severity": [0]}))
    _, dense, pruned = seed_population_jobs(experiment, _SHAPE)[0]     # seed 1
    n = len(sample_ids)
    for job in (dense, *pruned):
        builds.replace_model(con, {"model_id": job.model_id, "arch": "lenet5", "dataset": "d",
                                 "method": job.method, "ratio": job.ratio,
                                 "retrained": job.retrained, "seed": 1, "feature_dim": 84,
                                 "fingerprint": job.fingerprint})
        # Every stored prediction is class 2: no trained model of the toy data predicts that.
        metrics = pd.DataFrame({
            "model_id": job.model_id, "benchmark_id": "clean", "sample_id": sample_ids,
            "label": test.labels, "pred": 2, "correct": test.labels == 2, "angle": 1.0,
            "l2": 1.0, "margin": 1.0, "prob": 1.0, "confidence": 1.0,
            "angles": [[1.0, 1.0, 1.0]] * n})
        store.write_model_results(con, job.model_id, metrics, pd.DataFrame([{
            "model_id": job.model_id, "benchmark_id": "clean", "n": n, "accuracy": 0.0}]))
    assert update_seed_population(con, experiment, _SHAPE, train.images, train.labels,
                                  test.images, test.labels, sample_ids)
    rows = con.execute("SELECT * FROM seed_predictions").df()
    assert len(rows) == 2 * 5 * n
    assert (rows.loc[rows["seed"] == 1, "pred"] == 2).all()
    assert (rows.loc[rows["seed"] == 2, "pred"] != 2).any()
