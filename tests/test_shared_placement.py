"""The shared placement of every (model, benchmark): one plane, coincident rows merged across
benchmarks, quality measured against independent computations (scikit-learn, scipy)."""

import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform
from scipy.stats import spearmanr
from sklearn.manifold import trustworthiness

from core import analysis
from core.analysis.shared import nearest_neighbours


def _planar(n=240, d=60, seed=0):
    """Rows on a 2-D plane embedded in d dimensions, plus a little noise: a faithful placement
    exists, so trustworthiness and Spearman must come out near 1."""
    rng = np.random.default_rng(seed)
    plane = rng.normal(size=(n, 2)) * [10.0, 4.0]
    basis = np.linalg.qr(rng.normal(size=(d, 2)))[0]
    return plane @ basis.T + 0.05 * rng.normal(size=(n, d))


def test_place_shared_recovers_a_planar_layout():
    x = _planar()
    benchmark = np.repeat(np.arange(4), 60)
    xy = analysis.place_shared(x, benchmark)
    assert xy.shape == (240, 2)
    true = squareform(pdist(x))
    assert trustworthiness(true, xy, n_neighbors=5, metric="precomputed") > 0.97
    assert spearmanr(pdist(x), pdist(xy)).statistic > 0.99
    # In the units of the true distances (a stress placement), not rescaled.
    assert np.median(pdist(xy)) == pytest.approx(np.median(pdist(x)), rel=0.05)
    np.testing.assert_array_equal(xy, analysis.place_shared(x, benchmark))  # deterministic


def test_coincident_rows_share_one_point_across_benchmarks():
    x = _planar(n=80)
    x[40] = x[3] + 0.01          # benchmark 1's row 40 coincides with benchmark 0's row 3
    x[41] = x[40] + 0.01         # chained
    benchmark = np.repeat([0, 1], 40)
    xy = analysis.place_shared(x, benchmark)
    np.testing.assert_array_equal(xy[3], xy[40])
    np.testing.assert_array_equal(xy[3], xy[41])
    assert len(np.unique(xy, axis=0)) == 78


def test_nearest_neighbours_are_the_exact_ones():
    x = _planar(n=150, d=30, seed=2)
    idx, dist, close = nearest_neighbours(x, 6, within=2.0)
    true = squareform(pdist(x))
    np.fill_diagonal(true, np.inf)
    np.testing.assert_array_equal(idx, np.argsort(true, axis=1, kind="stable")[:, :6])
    np.testing.assert_allclose(dist, np.sort(true, axis=1)[:, :6])
    i, j = np.nonzero(np.triu(true <= 2.0, k=1))
    assert sorted(map(tuple, close.tolist())) == sorted(zip(i.tolist(), j.tolist()))


def test_shared_trustworthiness_matches_scikit_learn():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(300, 20))
    xy = x[:, :2] + 0.5 * rng.normal(size=(300, 2))
    expected = trustworthiness(squareform(pdist(x)), xy, n_neighbors=5, metric="precomputed")
    assert analysis.shared_trustworthiness(x, xy, n_neighbors=5) == pytest.approx(expected,
                                                                                 abs=1e-9)


def test_sampled_spearman_estimates_the_all_pairs_value():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(400, 10))
    xy = x[:, :2]
    exact = spearmanr(pdist(x), pdist(xy)).statistic
    assert analysis.sampled_spearman(x, xy, n_pairs=50_000) == pytest.approx(exact, abs=0.01)


def test_place_shared_refuses_bad_input():
    x = _planar(n=20)
    with pytest.raises(ValueError, match="`benchmark` must have one label per row"):
        analysis.place_shared(x, np.zeros(5))
    with pytest.raises(ValueError, match="`matrix` must be finite"):
        analysis.place_shared(np.full((4, 3), np.nan), np.zeros(4))
    with pytest.raises(ValueError, match="`tolerance` must be >= 0"):
        analysis.place_shared(x, np.zeros(20), tolerance=-1)
    assert analysis.place_shared(x[:1], np.zeros(1)).shape == (1, 2)
