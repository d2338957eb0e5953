"""Tests of the geometric similarity view's core: true distances per benchmark, faithful
placements and their quality, coincident models, the MST in the real space, and the geometry
redundancy of corruptions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.sparse.csgraph import minimum_spanning_tree as scipy_mst
from scipy.spatial.distance import pdist, squareform
from sklearn.manifold import trustworthiness

from core import analysis


def _population(seed: int = 0, *, n_samples: int = 200) -> np.ndarray:
    """Standardised vectors of a synthetic population with known structure: a dense model, two
    exact copies of it (pruning that changed nothing), and four pruning families of 9 ratios each
    drifting away from dense along their own direction, faster with the ratio, plus noise."""
    rng = np.random.default_rng(seed)
    dense = rng.normal(size=3 * n_samples)
    rows = [dense, dense, dense]
    for _ in range(4):
        direction = rng.normal(size=dense.shape)
        for ratio in np.arange(1, 10) / 10:
            rows.append(dense + 3 * ratio ** 2 * direction
                        + 0.3 * ratio * rng.normal(size=dense.shape))
    x = np.array(rows)
    return (x - x.mean(0)) / x.std(0)


def _keys_and_matrix(vectors_by_benchmark: dict[str, np.ndarray]):
    keys, blocks = [], []
    for benchmark_id, vectors in vectors_by_benchmark.items():
        keys += [(f"m{i:02d}", benchmark_id) for i in range(len(vectors))]
        blocks.append(vectors)
    return pd.DataFrame(keys, columns=["model_id", "benchmark_id"]), np.vstack(blocks)


# --------------------------------------------------------------------------- quality

def test_placement_quality_matches_sklearn_and_scipy():
    rng = np.random.default_rng(1)
    vectors, points = rng.normal(size=(14, 6)), rng.normal(size=(14, 2))
    trust, rho, k = analysis.placement_quality(squareform(pdist(vectors)), points)
    assert k == 5
    assert trust == pytest.approx(trustworthiness(vectors, points, n_neighbors=5))
    assert rho == pytest.approx(stats.spearmanr(pdist(vectors), pdist(points)).statistic)
    # Few points: the neighbourhood shrinks to what scikit-learn accepts (k < n / 2).
    trust, _, k = analysis.placement_quality(squareform(pdist(vectors[:7])), points[:7])
    assert k == 3
    assert trust == pytest.approx(trustworthiness(vectors[:7], points[:7], n_neighbors=3))
    with pytest.raises(ValueError, match="`points` must be"):
        analysis.placement_quality(squareform(pdist(vectors)), points[:5])


# --------------------------------------------------------------------------- placement

def test_umap_placement_equals_umaps_own_search_on_the_precomputed_matrix():
    """The placement hands UMAP the exact neighbours read off the matrix: the same layout as
    UMAP's own neighbour search on metric="precomputed" (the reference)."""
    import warnings

    import umap

    from core.analysis.placement import classical_mds

    vectors = np.random.default_rng(3).normal(size=(30, 12))    # no two models coincide
    distances = squareform(pdist(vectors))
    init = classical_mds(distances)
    reference = umap.UMAP(n_components=2, metric="precomputed", n_neighbors=8, min_dist=0.5,
                          n_epochs=100, init=init, random_state=0, n_jobs=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        expected = reference.fit_transform(distances)
    got = analysis.place_geometry(distances, method="umap", umap_neighbors=8, umap_epochs=100)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("method", ["pca", "stress", "umap"])
def test_coincident_models_share_a_point_and_a_group(method):
    vectors = _population(2)[:20]
    vectors[5] = vectors[4] + 1e-6          # within the tolerance of model 4
    distances = squareform(pdist(vectors))
    xy = analysis.place_geometry(distances, method=method)
    assert xy.shape == (20, 2) and np.isfinite(xy).all()
    # Models 0, 1, 2 are exact copies; 4 and 5 coincide within the tolerance.
    np.testing.assert_array_equal(xy[1], xy[0])
    np.testing.assert_array_equal(xy[2], xy[0])
    np.testing.assert_array_equal(xy[5], xy[4])
    assert len(np.unique(xy, axis=0)) == 20 - 3

    keys, matrix = _keys_and_matrix({"clean": vectors})
    groups = analysis.coincident_groups(analysis.geometry_distances(keys, matrix))
    multi = groups[groups["n_models"] > 1].groupby("group")["model_id"].apply(list).to_dict()
    assert multi == {"m00": ["m00", "m01", "m02"], "m04": ["m04", "m05"]}
    assert (groups.loc[groups["n_models"] == 1, "group"]
            == groups.loc[groups["n_models"] == 1, "model_id"]).all()
    # Tolerance 0: only the exact copies are merged.
    exact = analysis.coincident_groups(analysis.geometry_distances(keys, matrix), tolerance=0.0)
    assert exact["n_models"].max() == 3 and (exact["n_models"] > 1).sum() == 3


@pytest.mark.parametrize("seed", [0, 3])
def test_default_placement_meets_the_bar_on_a_known_structure(seed):
    vectors = _population(seed)
    distances = squareform(pdist(vectors))
    xy = analysis.place_geometry(distances)
    trust, rho, _ = analysis.placement_quality(distances, xy)
    assert trust >= 0.92 and rho >= 0.80, (trust, rho)
    # Stress majorisation refines the PCA start: the drawn distances fit the true ones better.
    start = analysis.place_geometry(distances, method="pca")
    def stress(points):
        return ((pdist(points) - squareform(distances)) ** 2).sum()
    assert stress(xy) < stress(start)
    # The exact copies of dense are drawn on dense, the family's far end far from it.
    np.testing.assert_array_equal(xy[1], xy[0])
    assert np.linalg.norm(xy[11] - xy[0]) > 5 * np.linalg.norm(xy[3] - xy[0])


def test_place_geometry_is_deterministic_and_validates():
    distances = squareform(pdist(_population(4)[:15]))
    for method in analysis.PLACEMENT_METHODS:
        np.testing.assert_array_equal(analysis.place_geometry(distances, method=method),
                                      analysis.place_geometry(distances, method=method))
    with pytest.raises(ValueError, match="`method` must be one of"):
        analysis.place_geometry(distances, method="tsne")
    with pytest.raises(ValueError, match="`tolerance` must be >= 0"):
        analysis.place_geometry(distances, tolerance=-1.0)
    with pytest.raises(ValueError, match="square"):
        analysis.place_geometry(distances[:3])


def test_geometry_distances_are_pdist_per_benchmark():
    rng = np.random.default_rng(5)
    by_benchmark = {"clean": rng.normal(size=(4, 9)), "noise-1": rng.normal(size=(4, 9))}
    keys, matrix = _keys_and_matrix(by_benchmark)
    shuffled = rng.permutation(len(keys))
    out = analysis.geometry_distances(keys.iloc[shuffled], matrix[shuffled])
    assert len(out) == 2 * 6 and (out["model_a"] < out["model_b"]).all()
    for benchmark_id, vectors in by_benchmark.items():
        model_ids, square = analysis.distance_matrix(out[out["benchmark_id"] == benchmark_id])
        assert model_ids.tolist() == ["m00", "m01", "m02", "m03"]
        np.testing.assert_allclose(square, squareform(pdist(vectors)))


# --------------------------------------------------------------------------- MST

def test_geometry_mst_equals_scipy_and_respects_among():
    vectors = np.random.default_rng(6).normal(size=(12, 30))
    keys, matrix = _keys_and_matrix({"clean": vectors})
    distances = analysis.geometry_distances(keys, matrix)
    square = squareform(pdist(vectors))

    def scipy_edges(sub, ids):
        tree = scipy_mst(sub).tocoo()
        return sorted((min(ids[i], ids[j]), max(ids[i], ids[j]), sub[i, j])
                      for i, j in zip(tree.row, tree.col))

    def assert_same_edges(edges, expected):
        assert [(a, b) for a, b, _ in expected] == list(zip(edges["model_a"], edges["model_b"]))
        np.testing.assert_allclose(edges["distance"], [d for *_, d in expected])

    ids = [f"m{i:02d}" for i in range(12)]
    edges = analysis.geometry_mst(distances)
    assert_same_edges(edges, scipy_edges(square, ids))
    among = ["m07", "m01", "m03", "m10", "m11", "absent"]
    keep = sorted(int(m[1:]) for m in among if m != "absent")
    edges = analysis.geometry_mst(distances, among=among)
    assert set(edges["model_a"]) | set(edges["model_b"]) == {ids[i] for i in keep}
    assert_same_edges(edges, scipy_edges(square[np.ix_(keep, keep)], [ids[i] for i in keep]))
    # Both orders of each pair are accepted (a symmetric long table).
    both = pd.concat([distances, distances.rename(columns={"model_a": "model_b",
                                                           "model_b": "model_a"})])
    pd.testing.assert_frame_equal(analysis.geometry_mst(both), analysis.geometry_mst(distances))


def test_geometry_mst_joins_coincident_models_with_zero_edges():
    vectors = np.random.default_rng(7).normal(size=(5, 8))
    vectors[3] = vectors[1]
    keys, matrix = _keys_and_matrix({"clean": vectors})
    edges = analysis.geometry_mst(analysis.geometry_distances(keys, matrix))
    assert len(edges) == 4
    zero = edges[edges["distance"] == 0.0]
    assert list(zero[["model_a", "model_b"]].itertuples(index=False, name=None)) == [
        ("m01", "m03")]


# --------------------------------------------------------------------------- redundancy

def _redundancy_inputs(rng):
    n_models, width = 6, 12
    clean = rng.normal(size=(n_models, width))
    rows, blocks = [], []
    benchmarks = [("clean", "clean", 0)]
    rows += [(f"m{i}", "clean") for i in range(n_models)]
    blocks.append(clean)
    for severity in (1, 2):
        noise = clean + severity * rng.normal(size=clean.shape)
        for corruption, block in (("noise", noise), ("shot", noise.copy()),
                                  ("blur", clean + 0.1 * severity * rng.normal(size=clean.shape))):
            benchmark_id = f"{corruption}-{severity}"
            benchmarks.append((benchmark_id, corruption, severity))
            rows += [(f"m{i}", benchmark_id) for i in range(n_models)]
            blocks.append(block)
    keys = pd.DataFrame(rows, columns=["model_id", "benchmark_id"])
    bench = pd.DataFrame(benchmarks, columns=["benchmark_id", "corruption", "severity"])
    return keys, np.vstack(blocks), bench


def test_geometry_redundancy_zero_for_identical_and_normalised():
    keys, matrix, benchmarks = _redundancy_inputs(np.random.default_rng(8))
    out = analysis.geometry_redundancy(keys, matrix, benchmarks)
    assert (out["measure"] == "geometry_distance").all()
    assert (out["corruption_a"] < out["corruption_b"]).all() and len(out) == 6
    by_pair = out.set_index(["corruption_a", "corruption_b"])
    assert by_pair.loc[("noise", "shot"), "similarity"] == 0.0   # identical geometry
    assert by_pair.loc[("noise", "shot"), "rank"] == 1
    assert by_pair.loc[("blur", "clean"), "rank"] == 2           # barely moved
    # Hand computation for (blur, clean): mean over (model, severity) of the distance, divided
    # by the root-mean-square distance between two distinct rows of the matrix.
    row = {k: i for i, k in enumerate(zip(keys.model_id, keys.benchmark_id))}
    moved = [np.linalg.norm(matrix[row[(f"m{m}", f"blur-{s}")]] - matrix[row[(f"m{m}", "clean")]])
             for m in range(6) for s in (1, 2)]
    rms = np.sqrt((pdist(matrix) ** 2).mean())
    assert by_pair.loc[("blur", "clean"), "similarity"] == pytest.approx(np.mean(moved) / rms)


def test_geometry_redundancy_is_symmetric_in_the_corruptions():
    keys, matrix, benchmarks = _redundancy_inputs(np.random.default_rng(9))
    out = analysis.geometry_redundancy(keys, matrix, benchmarks)
    # Renamed so that the order of most pairs flips, each pair keeps its value (clean keeps its
    # name: it is the pseudo-corruption present at every severity).
    flip = {"blur": "z_blur", "noise": "y_noise", "shot": "x_shot", "clean": "clean"}
    renamed = analysis.geometry_redundancy(
        keys, matrix, benchmarks.assign(corruption=benchmarks["corruption"].map(flip)))
    back = {v: k for k, v in flip.items()}
    renamed[["corruption_a", "corruption_b"]] = renamed[["corruption_a", "corruption_b"]].apply(
        lambda c: c.map(back))
    a = {frozenset(p): s for *p, s in out[["corruption_a", "corruption_b", "similarity"]]
         .itertuples(index=False, name=None)}
    b = {frozenset(p): s for *p, s in renamed[["corruption_a", "corruption_b", "similarity"]]
         .itertuples(index=False, name=None)}
    assert a.keys() == b.keys() and all(a[k] == pytest.approx(b[k]) for k in a)
