"""Tests of core.analysis (pure functions, hand-worked cases and reference libraries) and of
core.pipeline.analysis_tables with the queries of core.store.analysis (a small synthetic store)."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import pdist, squareform
from scipy.stats import ortho_group

from core import analysis, store
from core.pipeline.analysis_tables import update_analysis


# --------------------------------------------------------------------------- robustness, PV

def test_robustness_counts_correct_corrupted_benchmarks_only():
    # sample 0 of model m: correct on clean (ignored), c1, c3; sample 1: only on c2.
    rows = [("m", "clean", 0, True), ("m", "c1", 0, True), ("m", "c2", 0, False),
            ("m", "c3", 0, True), ("m", "clean", 1, True), ("m", "c1", 1, False),
            ("m", "c2", 1, True), ("m", "c3", 1, False),
            ("n", "c1", 0, False), ("n", "c2", 0, False)]
    correct = pd.DataFrame(rows, columns=["model_id", "benchmark_id", "sample_id", "correct"])
    out = analysis.robustness(correct, ["c1", "c2", "c3"])
    got = {(r.model_id, r.sample_id): (r.robustness, r.n_benchmarks) for r in out.itertuples()}
    assert got == {("m", 0): (2, 3), ("m", 1): (1, 3), ("n", 0): (0, 2)}


def _models(rows):
    cols = ["model_id", "arch", "method", "ratio", "retrained", "seed"]
    return pd.DataFrame(rows, columns=cols)


def test_pruning_vulnerability_counts_dense_in_every_family():
    models = _models([("d", "a", "dense", 0.0, False, 0), ("m1", "a", "magnitude", 0.1, False, 0),
                      ("m5", "a", "magnitude", 0.5, False, 0),
                      ("r5", "a", "magnitude", 0.5, True, 0), ("s5", "a", "snip", 0.5, False, 0)])
    correct = {"d": [1, 1, 0], "m1": [1, 0, 0], "m5": [1, 1, 1], "r5": [0, 0, 1], "s5": [0, 1, 0]}
    clean = pd.DataFrame([(m, s, bool(c)) for m, cs in correct.items() for s, c in enumerate(cs)],
                         columns=["model_id", "sample_id", "correct"])
    out = analysis.pruning_vulnerability(clean, models).set_index(
        ["method", "retrained", "sample_id"])
    # magnitude / no retraining: models d, m1, m5
    assert out.loc[("magnitude", False)]["pv"].tolist() == [3, 2, 1]
    assert out.loc[("magnitude", False)]["n_models"].tolist() == [3, 3, 3]
    assert out.loc[("magnitude", True)]["pv"].tolist() == [1, 1, 1]    # d, r5
    assert out.loc[("snip", False)]["pv"].tolist() == [1, 2, 0]        # d, s5

    per_model = analysis.model_pv(analysis.pruning_vulnerability(clean, models), models)
    by = per_model.set_index(["model_id", "sample_id"])["pv"]
    assert [by[("d", s)] for s in range(3)] == [3, 2, 1]   # dense → magnitude, no retraining
    assert [by[("s5", s)] for s in range(3)] == [1, 2, 0]


# --------------------------------------------------------------------------- correlations

def test_correlations_match_scipy_and_drop_nan_pairwise():
    rng = np.random.default_rng(0)
    n = 40
    metrics = pd.DataFrame({"model_id": "m", "sample_id": np.arange(n),
                            "angle": rng.normal(size=n), "l2": rng.normal(size=n),
                            "margin": rng.normal(size=n)})
    metrics.loc[3, "angle"] = np.nan
    targets = pd.DataFrame({"model_id": "m", "sample_id": np.arange(n),
                            "robustness": rng.integers(0, 95, n), "pv": rng.integers(0, 10, n)})
    out = analysis.correlations(metrics, targets).set_index(["target", "metric"])
    assert len(out) == 6
    for target in ("robustness", "pv"):
        for metric in ("angle", "l2", "margin"):
            keep = metrics[metric].notna()
            x, y = metrics.loc[keep, metric], targets.loc[keep, target]
            row = out.loc[(target, metric)]
            assert row["n"] == keep.sum()
            assert row["pearson"] == pytest.approx(stats.pearsonr(x, y).statistic)
            assert row["spearman"] == pytest.approx(stats.spearmanr(x, y).statistic)


def test_correlations_constant_input_is_nan_with_warning():
    metrics = pd.DataFrame({"model_id": "m", "sample_id": range(5), "angle": [1.0, 2, 3, 4, 5],
                            "l2": 1.0, "margin": [5.0, 1, 2, 3, 3]})
    targets = pd.DataFrame({"model_id": "m", "sample_id": range(5), "pv": [1, 2, 3, 5, 4]})
    with pytest.warns(RuntimeWarning, match="undefined"):
        out = analysis.correlations(metrics, targets).set_index("metric")
    assert np.isnan(out.loc["l2", "pearson"]) and np.isnan(out.loc["l2", "spearman"])
    assert np.isfinite(out.loc["angle", "pearson"])


# --------------------------------------------------------------------------- CKA

def _naive_cka(x, y):
    x, y = x - x.mean(0), y - y.mean(0)
    return (np.linalg.norm(x.T @ y, "fro") ** 2
            / (np.linalg.norm(x.T @ x, "fro") * np.linalg.norm(y.T @ y, "fro")))


def test_linear_cka_properties():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 5))
    y = x @ rng.normal(size=(5, 7)) + 0.5 * rng.normal(size=(60, 7))
    assert analysis.linear_cka(x, x) == pytest.approx(1.0)
    base = analysis.linear_cka(x, y)
    assert base == pytest.approx(_naive_cka(x, y))
    q = ortho_group.rvs(7, random_state=2)
    assert analysis.linear_cka(x, 3.5 * y @ q) == pytest.approx(base)
    assert analysis.linear_cka(x + 10.0, y) == pytest.approx(base)   # centring


def test_linear_cka_wide_features_use_gram_form_consistently():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(8, 50)), rng.normal(size=(8, 40))   # m >> n: Gram form
    assert analysis.linear_cka(x, y) == pytest.approx(_naive_cka(x, y))
    feats = [x, y, x[:, :30] * 2.0, x[:, :3]]   # wide (reduced to n columns) and narrow
    matrix = analysis.linear_cka_matrix(feats)
    expected = [[_naive_cka(a, b) for b in feats] for a in feats]
    np.testing.assert_allclose(matrix, expected, rtol=1e-10)


def test_linear_cka_constant_representation_is_nan():
    with pytest.warns(RuntimeWarning, match="constant"):
        assert np.isnan(analysis.linear_cka(np.ones((10, 3)), np.eye(10)[:, :3]))


# --------------------------------------------------------------------------- embeddings

def test_minimum_spanning_tree_line_plus_one_off():
    points = np.array([[0.0, 0], [1, 0], [2, 0], [3, 0], [1, 5]])
    edges = analysis.minimum_spanning_tree(points)
    assert edges == [(0, 1, 1.0), (1, 2, 1.0), (1, 4, 5.0), (2, 3, 1.0)]
    assert analysis.minimum_spanning_tree(squareform(pdist(points)),
                                          metric="precomputed") == edges


def test_minimum_spanning_tree_keeps_coincident_points_connected():
    points = np.array([[0.0, 0], [0, 0], [2, 0]])
    edges = analysis.minimum_spanning_tree(points)
    assert [(i, j) for i, j, _ in edges] == [(0, 1), (0, 2)]
    assert edges[0][2] == 0.0 and edges[1][2] == 2.0


def test_embed_umap_deterministic_and_tiny_fallback():
    rng = np.random.default_rng(4)
    matrix = np.vstack([rng.normal(0, 1, (15, 60)), rng.normal(6, 1, (15, 60))])
    first = analysis.embed_umap(matrix, seed=7, n_neighbors=5)
    second = analysis.embed_umap(matrix, seed=7, n_neighbors=5)
    assert first.shape == (30, 2)
    np.testing.assert_array_equal(first, second)
    # The two well-separated clusters stay apart: every point is nearer its own cluster's centre.
    centres = np.stack([first[:15].mean(0), first[15:].mean(0)])
    nearest = np.linalg.norm(first[:, None] - centres[None], axis=-1).argmin(1)
    assert nearest.tolist() == [0] * 15 + [1] * 15
    with pytest.warns(RuntimeWarning, match="principal components"):
        tiny = analysis.embed_umap(matrix[:3], seed=0)
    assert tiny.shape == (3, 2) and np.isfinite(tiny).all()


def test_classical_mds_recovers_planar_distances():
    points = np.random.default_rng(5).normal(size=(7, 2))
    d = squareform(pdist(points))
    xy = analysis.classical_mds(d)
    np.testing.assert_allclose(squareform(pdist(xy)), d, atol=1e-9)


def test_geometry_vectors_standardises_each_column():
    rng = np.random.default_rng(6)
    keys = [("m1", "b1"), ("m1", "b2"), ("m2", "b1"), ("m2", "b2")]
    rows = [(m, b, s, rng.normal(), rng.normal(), rng.exponential()) for m, b in keys
            for s in range(5)]
    frame = pd.DataFrame(rows, columns=["model_id", "benchmark_id", "sample_id", "angle",
                                        "margin", "l2"]).sample(frac=1, random_state=0)
    frame.loc[(frame.model_id == "m2") & (frame.benchmark_id == "b1") & (frame.sample_id == 4),
              "angle"] = np.nan
    out_keys, matrix = analysis.geometry_vectors(frame)
    assert list(map(tuple, out_keys.to_numpy())) == keys
    assert matrix.shape == (4, 15)
    # column "margin of sample 2" = index 1 * 5 + 2 is the z-score of those four values
    values = frame.set_index(["model_id", "benchmark_id", "sample_id"])["margin"]
    col = np.array([values[(m, b, 2)] for m, b in keys])
    np.testing.assert_allclose(matrix[:, 7], (col - col.mean()) / col.std())
    assert matrix[2, 4] == 0.0   # the NaN angle became the column mean
    np.testing.assert_allclose(matrix.mean(0), 0.0, atol=1e-12)
    # Read in parts (one per benchmark, as the analysis reads a large database): the same.
    parts = (group for _, group in frame.groupby("benchmark_id"))
    keys_frame = pd.DataFrame(keys, columns=["model_id", "benchmark_id"])
    part_keys, part_matrix = analysis.geometry_vectors(parts, keys=keys_frame,
                                                       sample_ids=np.arange(5))
    pd.testing.assert_frame_equal(part_keys, out_keys)
    np.testing.assert_array_equal(part_matrix, matrix)
    with pytest.raises(ValueError, match="`keys` and `sample_ids` must be given"):
        analysis.geometry_vectors(iter([frame]))
    with pytest.raises(ValueError, match="Every row of a part must belong to one of `keys`"):
        analysis.geometry_vectors([frame], keys=keys_frame.iloc[:3], sample_ids=np.arange(5))


# --------------------------------------------------------------------------- benchmarks, dims

def test_benchmark_similarity_finds_brightness_redundant_with_clean():
    rng = np.random.default_rng(8)
    clean = rng.uniform(0.6, 0.95, 12)
    rows = [(f"m{i}", "clean", 0, clean[i]) for i in range(12)]
    for s in range(1, 4):
        noise = rng.uniform(0.1, 0.5, 12)
        rows += [(f"m{i}", "brightness", s, clean[i] - 0.01 * s) for i in range(12)]
        rows += [(f"m{i}", "gaussian_noise", s, noise[i]) for i in range(12)]
        rows += [(f"m{i}", "shot_noise", s, noise[i] * 0.9) for i in range(12)]
    out = analysis.benchmark_similarity(pd.DataFrame(
        rows, columns=["model_id", "corruption", "severity", "accuracy"]))
    acc = out[out.measure == "accuracy_pearson"].set_index(["corruption_a", "corruption_b"])
    drop = out[out.measure == "drop_pearson"]
    assert len(acc) == 6 and len(drop) == 3
    assert (out.corruption_a < out.corruption_b).all()
    assert "clean" not in set(drop.corruption_a) | set(drop.corruption_b)
    # brightness is clean shifted by a per-severity constant: correlated, though not exactly 1
    assert acc.loc[("gaussian_noise", "shot_noise"), "similarity"] == pytest.approx(1.0)
    assert acc.loc[("gaussian_noise", "shot_noise"), "rank"] == 1
    assert acc.loc[("brightness", "clean"), "similarity"] > 0.95
    assert acc.loc[("brightness", "clean"), "rank"] == 2


def test_drop_spearman_is_the_mean_of_per_severity_rank_correlations():
    # Two severities; per severity the drops of a and b are rank-correlated differently, and
    # pooling the severities (a large shared fall at severity 2) would make them look alike.
    from scipy.stats import spearmanr

    rng = np.random.default_rng(3)
    n = 9
    clean = rng.uniform(0.7, 0.9, n)
    rows = [(f"m{i}", "clean", 0, clean[i]) for i in range(n)]
    drops = {}
    for s, shared in ((1, 0.05), (2, 0.4)):
        for name in ("a", "b", "c"):
            drops[(name, s)] = shared + rng.uniform(0, 0.05, n)
            rows += [(f"m{i}", name, s, clean[i] - drops[(name, s)][i]) for i in range(n)]
    out = analysis.benchmark_similarity(pd.DataFrame(
        rows, columns=["model_id", "corruption", "severity", "accuracy"]))
    ranked = out[out.measure == "drop_spearman"].set_index(["corruption_a", "corruption_b"])
    assert len(ranked) == 3
    for a, b in (("a", "b"), ("a", "c"), ("b", "c")):
        expected = np.mean([spearmanr(drops[(a, s)], drops[(b, s)]).statistic for s in (1, 2)])
        assert ranked.loc[(a, b), "similarity"] == pytest.approx(expected)
    pooled = out[out.measure == "drop_pearson"]["similarity"]
    assert (pooled > 0.9).all()                    # pooled over severities: saturated
    assert (ranked["similarity"].abs() < 0.9).all()
    assert sorted(ranked["rank"]) == [1, 2, 3]


def test_random_angles_concentrate_at_ninety_degrees():
    out = analysis.dimension_angles([4, 64, 1024], n=3000, seed=0)
    assert (out.kind == "random").all() and out.model_id.isna().all()
    assert np.allclose(out["mean"], 90.0, atol=1.5)
    assert out["std"].is_monotonic_decreasing
    # large d: std ≈ (180/π)/√d
    assert out["std"].iloc[-1] == pytest.approx(np.degrees(1) / np.sqrt(1024), rel=0.1)


def test_trained_dimension_angles_per_model():
    angles = pd.DataFrame({"model_id": ["a"] * 3 + ["b"] * 2, "angle": [10.0, 20, 30, 40, np.nan]})
    models = pd.DataFrame({"model_id": ["a", "b"], "feature_dim": [84, 168]})
    out = analysis.trained_dimension_angles(angles, models).set_index("model_id")
    assert out.loc["a", "mean"] == 20.0 and out.loc["a", "std"] == 10.0
    assert out.loc["b", "dim"] == 168 and out.loc["b", "mean"] == 40.0


# --------------------------------------------------------------------------- vulnerability

def test_pie_counts_modal_prediction_against_dense():
    models = _models([("d", "a", "dense", 0.0, False, 0), ("p1", "a", "magnitude", 0.5, False, 0),
                      ("p2", "a", "snip", 0.5, False, 0), ("p3", "a", "random", 0.5, True, 0),
                      ("q1", "a", "magnitude", 0.9, False, 0), ("mp", "a", "mpt", 0.5, False, 0)])
    preds = {"d": [0, 1, 2], "p1": [1, 1, 2], "p2": [1, 2, 2], "p3": [0, 0, 2],
             "q1": [3, 1, 2], "mp": [5, 5, 5]}
    clean = pd.DataFrame([(m, s, p) for m, ps in preds.items() for s, p in enumerate(ps)],
                         columns=["model_id", "sample_id", "pred"])
    out = analysis.pie_counts(clean, models).set_index("sample_id")
    # ratio 0.5 votes — s0: {1: 2, 0: 1} → PIE; s1: {1,2,0} tie incl. dense 1 → no; s2: no.
    # ratio 0.9 — s0: 3 ≠ 0 → PIE; s1, s2 agree. mpt never votes.
    assert out["pie_count"].tolist() == [2, 0, 0]
    assert out["n_ratios"].tolist() == [2, 2, 2]


def test_geometric_score_ranks_small_margin_large_angle_highest():
    score = analysis.geometric_score(np.array([3.0, 0.1, 1.0, -0.5]),
                                     np.array([20.0, 70.0, np.nan, 80.0]))
    # ranks of -margin: [1, 3, 2, 4]; of angle (NaN last): [1, 2, 4, 3]
    np.testing.assert_allclose(score, np.array([2, 5, 6, 7]) / 8)


def test_vulnerability_auc_perfect_score_and_empty_class():
    n = 10
    dense = pd.DataFrame({"arch": "a", "sample_id": range(n),
                          "margin": np.linspace(5, 0.1, n), "angle": np.linspace(10, 80, n),
                          "l2": np.linspace(3, 1, n), "prob": np.linspace(0.99, 0.3, n)})
    pie = pd.DataFrame({"arch": "a", "sample_id": range(n), "pie_count": [0] * 7 + [1, 2, 3]})
    pv = pd.DataFrame({"arch": "a", "sample_id": range(n), "pv": 10, "n_models": 10})
    samples = analysis.vulnerable_samples(dense, pie, pv)
    assert samples["pie"].tolist() == [False] * 7 + [True] * 3
    assert not samples["low_pv"].any()
    auc = analysis.vulnerability_auc(samples, dense).set_index(["target", "score"])
    for score in ("geometric", "neg_margin", "angle", "neg_l2", "neg_prob"):
        assert auc.loc[("pie", score), "auc"] == 1.0
        assert auc.loc[("pie", score), "n_positive"] == 3
        assert np.isnan(auc.loc[("low_pv", score), "auc"])   # no low-PV sample


def test_vulnerable_samples_missing_information_is_null():
    dense = pd.DataFrame({"arch": "a", "sample_id": [0, 1, 2], "margin": [1.0, 2, 3],
                          "angle": [30.0, 20, 10]})
    pie = pd.DataFrame({"arch": "a", "sample_id": [0, 1], "pie_count": [0, 2]})
    pv = pd.DataFrame({"arch": "a", "sample_id": [0, 2], "pv": [5, 6], "n_models": [10, 10]})
    out = analysis.vulnerable_samples(dense, pie, pv).set_index("sample_id")
    assert out["pie"].tolist() == [False, True, pd.NA]
    assert out["low_pv"].tolist() == [True, pd.NA, False]     # pv <= 5 of 10
    assert out["geometric_score"].tolist() == pytest.approx([1.0, 4 / 6, 2 / 6])


# --------------------------------------------------------------------------- database

_TABLES = ["robustness", "pruning_vulnerability", "correlations", "geometry_distances",
           "embeddings", "placement_quality", "cka", "benchmark_similarity", "dimension_angles",
           "vulnerable_samples", "vulnerability_auc", "effective_robustness", "geometry_spread"]
_N = 20


def _metrics(rng, model_id, benchmark_id, labels, skill):
    correct = rng.random(_N) < skill
    pred = np.where(correct, labels, (labels + 1) % 3)
    return pd.DataFrame({
        "model_id": model_id, "benchmark_id": benchmark_id, "sample_id": np.arange(_N),
        "label": labels, "pred": pred, "correct": correct,
        "angle": rng.uniform(20, 90, _N), "l2": rng.uniform(1, 5, _N),
        "margin": np.where(correct, 1, -1) * rng.uniform(0.1, 2, _N), "prob": rng.random(_N),
        "confidence": rng.random(_N), "angles": list(rng.uniform(0, 180, (_N, 3)))})


def _write_result(con, rng, model, benchmark, labels, skill, feature_dim):
    metrics = _metrics(rng, model, benchmark, labels, skill)
    features = rng.normal(size=(_N, feature_dim)) if benchmark == "clean" else None
    store.write_model_results(
        con, model, metrics, pd.DataFrame([dict(model_id=model, benchmark_id=benchmark, n=_N,
                                                accuracy=float(metrics.correct.mean()),
                                                mean_angle=float(metrics.angle.mean()))]),
        None if features is None else {benchmark: features}, sample_ids=metrics.sample_id)


@pytest.fixture
def synthetic_db(tmp_path):
    con = store.connect(tmp_path / "a.duckdb")
    store.create_schema(con, num_classes=3)
    models = [("dense", "dense", 0.0, 8), ("mag5", "magnitude", 0.5, 8),
              ("mag9", "magnitude", 0.9, 8), ("snip5", "snip", 0.5, 8), ("mpt5", "mpt", 0.5, 16)]
    for model_id, method, ratio, dim in models:
        store.insert_rows(con, "models", pd.DataFrame([{
            "model_id": model_id, "arch": "lenet5", "dataset": "d", "method": method,
            "ratio": ratio, "retrained": False, "seed": 0, "feature_dim": dim}]))
    benchmarks = [("clean", "clean", 0), ("gn1", "gaussian_noise", 1),
                  ("gn2", "gaussian_noise", 2), ("br1", "brightness", 1)]
    store.replace_rows(con, "benchmarks", pd.DataFrame(
        benchmarks, columns=["benchmark_id", "corruption", "severity"]).assign(dataset="d"))
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, _N)
    for k, (model_id, _, ratio, dim) in enumerate(models):
        for benchmark, _, severity in benchmarks:
            _write_result(con, rng, model_id, benchmark, labels, 0.9 - 0.2 * severity - 0.3 * ratio,
                          dim)
    yield con, rng, labels
    con.close()


def _snapshot(con):
    # Timings differ between two runs of the same computation.
    frames = {t: con.execute(f"SELECT * FROM {t}").df().drop(columns="seconds", errors="ignore")
              for t in _TABLES}
    return {t: f.sort_values(list(f.columns)).reset_index(drop=True) for t, f in frames.items()}


def test_update_analysis_fills_tables_and_skips_unchanged(synthetic_db, caplog):
    con, rng, labels = synthetic_db
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = update_analysis(con)
    # The PIE tables are computed too, empty without a seed population (tests/test_pie.py).
    assert set(first) == set(_TABLES) | {"pie_flags", "pie_auc"}
    counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in _TABLES}
    assert counts["robustness"] == 5 * _N
    assert counts["cka"] == 25                        # both orders and the diagonal
    assert counts["vulnerable_samples"] == _N
    assert all(counts.values()), counts
    # The table path (SQL over the store) agrees with the pure function over the same rows.
    rows = con.execute("SELECT model_id, benchmark_id, sample_id, correct FROM sample_metrics").df()
    expected = analysis.robustness(rows, ["gn1", "gn2", "br1"])
    pd.testing.assert_frame_equal(con.execute(
        "SELECT * FROM robustness ORDER BY model_id, sample_id").df(), expected)
    cka = con.execute("SELECT * FROM cka WHERE model_a = model_b").df()
    np.testing.assert_allclose(cka["cka"], 1.0)
    spaces = con.execute("SELECT space, scope, count(*) FROM embeddings GROUP BY 1, 2").fetchall()
    assert {(s, c): n for s, c, n in spaces} == {
        ("geometry", "benchmark"): 20, ("geometry_umap", "benchmark"): 20,
        ("geometry", "shared"): 20, ("cka", "benchmark"): 5}
    assert counts["geometry_distances"] == 4 * 10      # 4 benchmarks × 5·4/2 pairs
    # per benchmark and geometric space, the shared placement per benchmark and over all
    assert counts["placement_quality"] == 4 * 2 + 4 + 1
    overall = con.execute("SELECT n_models, trustworthiness, spearman FROM placement_quality "
                          "WHERE scope = 'shared' AND benchmark_id IS NULL").fetchall()
    assert len(overall) == 1 and overall[0][0] == 20 and 0 <= overall[0][1] <= 1
    measures = con.execute("SELECT measure, count(*) FROM benchmark_similarity GROUP BY 1")
    # corruptions gaussian_noise, brightness and the pseudo-corruption clean: 3 pairs each
    assert dict(measures.fetchall()) == {"accuracy_pearson": 3, "drop_pearson": 1,
                                         "drop_spearman": 1, "geometry_distance": 3}

    before = _snapshot(con)
    with caplog.at_level(logging.INFO, logger="core.pipeline.analysis_tables"):
        assert update_analysis(con) == {}
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 11                         # one line per step, all up to date
    # Forgetting the state recomputes everything to the same values (deterministic, idempotent).
    con.execute("DELETE FROM analysis_state")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert set(update_analysis(con, progress=False)) == set(_TABLES) | {"pie_flags",
                                                                            "pie_auc"}
    after = _snapshot(con)
    for table in _TABLES:
        pd.testing.assert_frame_equal(after[table], before[table], check_exact=False)

    # A rewritten corrupted result changes every input but the features and the dimension
    # study: only CKA and the dimension angles are skipped.
    _write_result(con, rng, "mag5", "gn1", labels, 0.1, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        third = update_analysis(con, progress=False)
    assert set(third) == set(_TABLES) - {"cka", "dimension_angles"} | {"pie_flags", "pie_auc"}


def test_update_analysis_on_an_empty_store(tmp_path):
    con = store.connect(tmp_path / "empty.duckdb")
    store.create_schema(con, num_classes=10)
    assert set(update_analysis(con, progress=False)) == set(_TABLES) | {"pie_flags", "pie_auc"}
    counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in _TABLES}
    assert counts.pop("dimension_angles") > 0      # the random-vector curve needs no data
    assert not any(counts.values()), counts
    con.close()
