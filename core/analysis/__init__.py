"""Per-sample aggregates over a model population and model-level comparisons (SPEC §2, §7).

Pure functions of pandas frames and numpy arrays; ``core.analysis_tables`` reads the database,
calls them and writes the analysis tables. Shapes and units are stated per function. Population
conventions used throughout:

- A *family* is (arch, method, retrained): the pruned models of one method at ratios 0.1 … 0.9.
  The dense model of the arch (``method = 'dense'``) joins every family of its arch as ratio 0.
- *The* dense model of an arch, where one is needed (PIE reference, geometric score), is the dense
  model with the lowest (seed, model_id).
- Several models with the same (arch, method, retrained, ratio) — e.g. seeds — each count once.
  Architectures are keyed by ``arch`` alone: widths of one arch are pooled.
"""

from __future__ import annotations

import warnings
from typing import Iterable, Sequence

import duckdb
import numpy as np
import pandas as pd
from scipy import stats
from scipy.sparse.csgraph import minimum_spanning_tree as _csgraph_mst
from sklearn.metrics import roc_auc_score

__all__ = [
    "GEOMETRY_METRICS",
    "PIE_EXCLUDED_METHODS",
    "ROBUSTNESS_SQL",
    "SINGLE_SCORES",
    "robustness",
    "pruning_vulnerability",
    "model_pv",
    "correlations",
    "geometry_vectors",
    "embed_umap",
    "classical_mds",
    "minimum_spanning_tree",
    "linear_cka",
    "linear_cka_matrix",
    "benchmark_similarity",
    "dimension_angles",
    "trained_dimension_angles",
    "reference_dense_models",
    "pie_counts",
    "geometric_score",
    "vulnerable_samples",
    "vulnerability_auc",
]

GEOMETRY_METRICS = ("angle", "margin", "l2")
# MPT models are not compressions of the dense model (their weights are random, never trained),
# so they are no part of the pruned population that PIEs are measured against.
PIE_EXCLUDED_METHODS = ("dense", "mpt")
# Single-metric vulnerability scores (larger = more vulnerable): name → (column, sign).
SINGLE_SCORES = {"neg_margin": ("margin", -1.0), "angle": ("angle", 1.0),
                 "neg_l2": ("l2", -1.0), "neg_prob": ("prob", -1.0)}

# One definition of robustness, run over registered frames (``robustness``) or over the database
# tables (``core.analysis_tables``): {correct} has (model_id, benchmark_id, sample_id, correct),
# {corrupted} has (benchmark_id) of the corrupted benchmarks.
ROBUSTNESS_SQL = """
SELECT c.model_id, c.sample_id, sum(c.correct::INTEGER)::INTEGER AS robustness,
       count(*)::INTEGER AS n_benchmarks
FROM {correct} AS c
WHERE c.benchmark_id IN (SELECT benchmark_id FROM {corrupted})
GROUP BY c.model_id, c.sample_id
ORDER BY c.model_id, c.sample_id
"""


def _require_columns(frame: pd.DataFrame, name: str, columns: Iterable[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"`{name}` must have columns {list(columns)}. "
                         f"Missing {missing} (got {list(frame.columns)}) instead.")


# --------------------------------------------------------------------------- per-sample counts

def robustness(correct: pd.DataFrame, corrupted_benchmarks: Iterable[str]) -> pd.DataFrame:
    """Robustness of each (model, sample): on how many corrupted benchmarks it is correct.

    Args:
        correct: long frame (model_id, benchmark_id, sample_id, correct: bool).
        corrupted_benchmarks: ids of the (corruption, severity) benchmarks; clean must not be
            among them (rows of other benchmarks are ignored).

    Returns:
        (model_id, sample_id, robustness, n_benchmarks): robustness in 0..n_benchmarks, where
        n_benchmarks is the number of corrupted benchmarks evaluated for that model (95 when all
        19 corruptions × 5 severities are there).
    """
    _require_columns(correct, "correct", ("model_id", "benchmark_id", "sample_id", "correct"))
    corrupted = pd.DataFrame({"benchmark_id": pd.Series(list(corrupted_benchmarks), dtype=object)})
    con = duckdb.connect()
    try:
        con.register("correct_rows", correct[["model_id", "benchmark_id", "sample_id", "correct"]])
        con.register("corrupted_rows", corrupted)
        return con.execute(ROBUSTNESS_SQL.format(correct="correct_rows",
                                                 corrupted="corrupted_rows")).df()
    finally:
        con.close()


def _family_members(models: pd.DataFrame) -> pd.DataFrame:
    """(arch, method, retrained, model_id): each pruned model in its family, and each dense model
    in every family of its arch."""
    pruned = models[models["method"] != "dense"]
    families = pruned[["arch", "method", "retrained"]].drop_duplicates()
    dense = models.loc[models["method"] == "dense", ["arch", "model_id"]]
    dense_members = families.merge(dense, on="arch")
    return pd.concat([pruned[["arch", "method", "retrained", "model_id"]], dense_members],
                     ignore_index=True)


def pruning_vulnerability(clean_correct: pd.DataFrame, models: pd.DataFrame) -> pd.DataFrame:
    """Pruning vulnerability (PV) of each sample, per family (arch, method, retrained).

    Args:
        clean_correct: (model_id, sample_id, correct: bool) on each model's clean benchmark.
        models: (model_id, arch, method, ratio, retrained); ``method = 'dense'`` marks ratio 0.

    Returns:
        (arch, method, retrained, sample_id, pv, n_models): pv = number of the family's models
        (the dense model plus ratios 0.1 … 0.9, so 0..10 normally) on which the sample is correct;
        n_models = how many of them were evaluated on it. SPEC's PV is the family
        (magnitude, retrained=False).
    """
    _require_columns(clean_correct, "clean_correct", ("model_id", "sample_id", "correct"))
    _require_columns(models, "models", ("model_id", "arch", "method", "retrained"))
    members = _family_members(models)
    rows = members.merge(clean_correct[["model_id", "sample_id", "correct"]], on="model_id")
    rows["correct"] = rows["correct"].astype(np.int64)
    out = (rows.groupby(["arch", "method", "retrained", "sample_id"], as_index=False)
           .agg(pv=("correct", "sum"), n_models=("correct", "size")))
    return out.astype({"pv": np.int64, "n_models": np.int64, "retrained": bool})


def model_pv(pv: pd.DataFrame, models: pd.DataFrame, *,
             reference: tuple[str, bool] = ("magnitude", False)) -> pd.DataFrame:
    """Attach a PV to every model: a pruned model gets its family's PV, a dense model the PV of
    the ``reference`` (method, retrained) family of its arch (SPEC: magnitude, no retraining).

    Returns (model_id, sample_id, pv); models whose family has no PV are absent.
    """
    _require_columns(pv, "pv", ("arch", "method", "retrained", "sample_id", "pv"))
    keys = models[["model_id", "arch", "method", "retrained"]].copy()
    is_dense = keys["method"] == "dense"
    keys.loc[is_dense, "method"] = reference[0]
    keys.loc[is_dense, "retrained"] = reference[1]
    keys["retrained"] = keys["retrained"].astype(bool)
    merged = keys.merge(pv, on=["arch", "method", "retrained"])
    return merged[["model_id", "sample_id", "pv"]].reset_index(drop=True)


# --------------------------------------------------------------------------- correlations

def _correlate(x: np.ndarray, y: np.ndarray) -> tuple[float, float, int]:
    """(pearson, spearman, n) over the pairs where both are finite; NaN when undefined."""
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    n = int(keep.sum())
    if n < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return np.nan, np.nan, n
    return float(stats.pearsonr(x, y).statistic), float(stats.spearmanr(x, y).statistic), n


def correlations(clean_metrics: pd.DataFrame, targets: pd.DataFrame, *,
                 metrics: Sequence[str] = ("angle", "l2", "margin")) -> pd.DataFrame:
    """Pearson and Spearman correlation, per model, of per-sample targets with clean geometry.

    Args:
        clean_metrics: (model_id, sample_id, *metrics) of each model on its clean benchmark.
        targets: (model_id, sample_id, <one column per target>), e.g. ``robustness`` and ``pv``.
        metrics: geometry columns to correlate with.

    Returns:
        (model_id, target, metric, pearson, spearman, n): n = samples where both values are
        finite (NaN angles are dropped pairwise). Undefined correlations (fewer than 2 samples or a
        constant input) are NaN, with one RuntimeWarning per call.
    """
    _require_columns(clean_metrics, "clean_metrics", ("model_id", "sample_id", *metrics))
    _require_columns(targets, "targets", ("model_id", "sample_id"))
    target_names = [c for c in targets.columns if c not in ("model_id", "sample_id")]
    joined = clean_metrics.merge(targets, on=["model_id", "sample_id"])
    rows, undefined = [], []
    for model_id, group in joined.groupby("model_id", sort=True):
        for target in target_names:
            y = group[target].to_numpy(dtype=np.float64)
            for metric in metrics:
                pearson, spearman, n = _correlate(group[metric].to_numpy(dtype=np.float64), y)
                rows.append((model_id, target, metric, pearson, spearman, n))
                if np.isnan(pearson):
                    undefined.append(f"{model_id}/{target}/{metric}")
    if undefined:
        warnings.warn(f"{len(undefined)} correlations are undefined (constant input or < 2 "
                      f"samples) and set to NaN, e.g. {undefined[:3]}.", RuntimeWarning,
                      stacklevel=2)
    return pd.DataFrame(rows, columns=["model_id", "target", "metric", "pearson", "spearman", "n"])


# --------------------------------------------------------------------------- embeddings

def geometry_vectors(sample_metrics: pd.DataFrame, *,
                     metrics: Sequence[str] = GEOMETRY_METRICS) -> tuple[pd.DataFrame, np.ndarray]:
    """Describe each (model, benchmark) by its standardised per-sample geometry.

    Args:
        sample_metrics: long frame (model_id, benchmark_id, sample_id, *metrics).

    Returns:
        keys: (model_id, benchmark_id), one row per matrix row, sorted.
        matrix: (n_keys, len(metrics) · n_samples) float64, metric-major columns
        ``[angle(s_0..s_N), margin(s_0..s_N), l2(s_0..s_N)]`` over the sorted sample ids.
        Standardisation: each column (one metric of one sample) is z-scored across all
        (model, benchmark) rows, so every sample position weighs alike and the metrics' units do
        not matter. Missing values (NULL angle for a zero feature, a sample absent from a
        benchmark) become the column mean, i.e. 0; a constant column is all 0.
    """
    _require_columns(sample_metrics, "sample_metrics",
                     ("model_id", "benchmark_id", "sample_id", *metrics))
    model_codes, model_ids = pd.factorize(sample_metrics["model_id"], sort=True)
    bench_codes, bench_ids = pd.factorize(sample_metrics["benchmark_id"], sort=True)
    # Combining two integer codes is far faster than factorising (model, benchmark) string pairs.
    key_codes, key_values = pd.factorize(model_codes.astype(np.int64) * len(bench_ids)
                                         + bench_codes, sort=True)
    sample_pos, sample_ids = pd.factorize(sample_metrics["sample_id"], sort=True)
    n_keys, n_samples = len(key_values), len(sample_ids)
    keys = pd.DataFrame({"model_id": np.asarray(model_ids)[key_values // len(bench_ids)],
                         "benchmark_id": np.asarray(bench_ids)[key_values % len(bench_ids)]})
    matrix = np.full((n_keys, len(metrics) * n_samples), np.nan)
    for k, metric in enumerate(metrics):
        matrix[key_codes, k * n_samples + sample_pos] = sample_metrics[metric].to_numpy(
            dtype=np.float64, na_value=np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns are handled below
        mean = np.nanmean(matrix, axis=0)
        std = np.nanstd(matrix, axis=0)
    matrix -= mean
    np.divide(matrix, std, out=matrix, where=std > 0)
    matrix[:, ~(std > 0)] = 0.0
    matrix[np.isnan(matrix)] = 0.0
    return keys, matrix


def _pca(matrix: np.ndarray, n_components: int, seed: int) -> np.ndarray:
    from sklearn.decomposition import PCA

    n_components = min(n_components, *matrix.shape)
    solver = "randomized" if min(matrix.shape) > 4 * n_components else "full"
    reduced = PCA(n_components=n_components, svd_solver=solver,
                  random_state=seed).fit_transform(matrix)
    if reduced.shape[1] < 2:  # rank-deficient input: pad so callers always get (n, 2)
        reduced = np.pad(reduced, ((0, 0), (0, 2 - reduced.shape[1])))
    return reduced


def embed_umap(matrix: np.ndarray, *, seed: int = 0, n_neighbors: int = 15,
               min_dist: float = 0.1, pca_dims: int | None = 50,
               n_epochs: int | None = None) -> np.ndarray:
    """2-D UMAP placement of the rows of ``matrix`` (n, d); deterministic for a fixed seed.

    Rows are first reduced to ``pca_dims`` principal components (``None`` skips it) — UMAP's
    neighbour graph on 50 dims instead of thousands keeps the demo build fast and hardly changes
    the neighbourhoods. The k nearest neighbours are exact (scikit-learn), handed to UMAP as
    ``precomputed_knn``: that skips pynndescent's numba compilation. ``n_neighbors`` is capped at
    n − 1; ``n_epochs=None`` is UMAP's default (500 below 10,000 points). With n <= 3 rows UMAP is
    undefined: the first two principal components are returned instead, with a warning.

    Returns (n, 2) float64.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(f"`matrix` must be 2-D (n, d). Got shape {matrix.shape} instead.")
    if not np.isfinite(matrix).all():
        raise ValueError("`matrix` must be finite. Got NaN or infinite values instead.")
    if n_neighbors < 2:
        raise ValueError(f"`n_neighbors` must be >= 2. Got {n_neighbors} instead.")
    n = matrix.shape[0]
    if n == 0:
        return np.zeros((0, 2))
    if n <= 3:
        warnings.warn(f"UMAP needs more than 3 points (got {n}); using the first two principal "
                      "components instead.", RuntimeWarning, stacklevel=2)
        return _pca(matrix, 2, seed)[:, :2] if n > 1 else np.zeros((n, 2))
    if pca_dims is not None and matrix.shape[1] > pca_dims and n > pca_dims:
        matrix = _pca(matrix, pca_dims, seed)
    from sklearn.neighbors import NearestNeighbors
    import umap  # imported here: its numba start-up costs seconds

    k = min(n_neighbors, n - 1)
    # Querying the fitted points themselves returns each point as its own first neighbour, the
    # convention of UMAP's own k-NN graph.
    knn_dists, knn_indices = NearestNeighbors(n_neighbors=k).fit(matrix).kneighbors(matrix)
    reducer = umap.UMAP(n_components=2, n_neighbors=k, min_dist=min_dist, n_epochs=n_epochs,
                        random_state=seed, n_jobs=1,
                        precomputed_knn=(knn_indices, knn_dists, None))
    with warnings.catch_warnings():
        # Without an NNDescent index UMAP cannot transform new points; we never do.
        warnings.filterwarnings("ignore", message=r"precomputed_knn\[2\]")
        return np.asarray(reducer.fit_transform(matrix), dtype=np.float64)


def classical_mds(distances: np.ndarray, *, n_components: int = 2) -> np.ndarray:
    """Classical (Torgerson) MDS of a symmetric (n, n) distance matrix → (n, n_components).

    Deterministic: each axis is signed so that its largest-magnitude coordinate is positive.
    Axes beyond the number of positive eigenvalues are 0.
    """
    d = np.asarray(distances, dtype=np.float64)
    if d.ndim != 2 or d.shape[0] != d.shape[1]:
        raise ValueError(f"`distances` must be a square (n, n) matrix. Got shape {d.shape} "
                         "instead.")
    if not np.isfinite(d).all():
        raise ValueError("`distances` must be finite. Got NaN or infinite values instead.")
    n = d.shape[0]
    centring = np.eye(n) - 1.0 / n
    b = -0.5 * centring @ (d ** 2) @ centring
    eigvals, eigvecs = np.linalg.eigh((b + b.T) / 2)
    order = np.argsort(eigvals)[::-1][:n_components]
    coords = eigvecs[:, order] * np.sqrt(np.clip(eigvals[order], 0.0, None))
    coords = np.pad(coords, ((0, 0), (0, n_components - coords.shape[1])))
    if n:
        pivot = np.abs(coords).argmax(axis=0)
        coords *= np.where(coords[pivot, np.arange(n_components)] < 0, -1.0, 1.0)
    return coords


def minimum_spanning_tree(points: np.ndarray, *, metric: str = "euclidean"
                          ) -> list[tuple[int, int, float]]:
    """Minimum spanning tree of a point set.

    Args:
        points: (n, d) coordinates (e.g. an embedding), or with ``metric='precomputed'`` an
            (n, n) symmetric distance matrix.

    Returns:
        n − 1 edges (i, j, length) with i < j, sorted by (i, j). Coincident points are joined by a
        zero-length edge (scipy's csgraph reads 0 as "no edge", so a constant is added to every
        distance before the search: that changes no spanning tree's rank).
    """
    if metric not in ("euclidean", "precomputed"):
        raise ValueError(f"`metric` must be 'euclidean' or 'precomputed'. Got {metric!r} instead.")
    x = np.asarray(points, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"`points` must be 2-D. Got shape {x.shape} instead.")
    if metric == "precomputed":
        if x.shape[0] != x.shape[1]:
            raise ValueError(f"A precomputed distance matrix must be square. Got {x.shape} "
                             "instead.")
        distances = x
    else:
        distances = np.linalg.norm(x[:, None, :] - x[None, :, :], axis=-1)
    if not np.isfinite(distances).all():
        raise ValueError("Distances must be finite. Got NaN or infinite values instead.")
    n = distances.shape[0]
    if n < 2:
        return []
    shift = distances.max() if distances.max() > 0 else 1.0
    shifted = np.triu(distances + shift, k=1)
    tree = _csgraph_mst(shifted).tocoo()
    edges = sorted((min(i, j), max(i, j)) for i, j in zip(tree.row.tolist(), tree.col.tolist()))
    return [(i, j, float(distances[i, j])) for i, j in edges]


# --------------------------------------------------------------------------- CKA

def _centred(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"`{name}` must be 2-D (n, m). Got shape {x.shape} instead.")
    if not np.isfinite(x).all():
        raise ValueError(f"`{name}` must be finite. Got NaN or infinite values instead.")
    return x - x.mean(axis=0)


def _gram_root(x: np.ndarray) -> np.ndarray:
    """An (n, min(n, m)) matrix R with R Rᵀ = X Xᵀ. Linear CKA depends on X only through its Gram
    matrix, so a representation wider than the number of samples can be replaced by R."""
    n, m = x.shape
    if m <= n:
        return x
    eigvals, eigvecs = np.linalg.eigh(x @ x.T)
    return eigvecs * np.sqrt(np.clip(eigvals, 0.0, None))


def linear_cka_matrix(features: Sequence[np.ndarray]) -> np.ndarray:
    """Linear CKA (Kornblith et al. 2019) between every pair of k representations.

    Args:
        features: k arrays (n, m_i) of the same n samples in the same row order.

    Returns:
        Symmetric (k, k) matrix of ‖XᵢᵀXⱼ‖²_F / (‖XᵢᵀXᵢ‖_F ‖XⱼᵀXⱼ‖_F) on column-centred
        representations, 1 on the diagonal; rows and columns of a constant representation are NaN
        (with a warning).

    All cross products come from k large products ``Zᵀ Xⱼ`` with Z = [X₁ … X_k] (n, Σ m_i),
    whose squared entries are summed per block — one BLAS call per model instead of one per pair.
    Each representation is first reduced to at most n columns (``_gram_root``), so wide features
    (m ≫ n) cost n² per pair instead of m².
    """
    reps = [_gram_root(_centred(f, f"features[{i}]")) for i, f in enumerate(features)]
    if len({r.shape[0] for r in reps}) > 1:
        raise ValueError("All representations must have the same number of rows (samples). "
                         f"Got {[r.shape[0] for r in reps]} instead.")
    k = len(reps)
    if k == 0:
        return np.zeros((0, 0))
    starts = np.concatenate([[0], np.cumsum([r.shape[1] for r in reps])])
    stacked = np.hstack(reps)
    cross = np.zeros((k, k))   # cross[i, j] = ‖XᵢᵀXⱼ‖²_F
    for j, rep in enumerate(reps):
        block = stacked[:, starts[j]:].T @ rep                    # rows of models j … k−1
        row_sums = np.einsum("ij,ij->i", block, block)
        cross[j:, j] = np.add.reduceat(row_sums, starts[j:-1] - starts[j]) if block.size else 0.0
        cross[j, j:] = cross[j:, j]
    norms = np.sqrt(np.diag(cross))
    constant = norms == 0
    if constant.any():
        warnings.warn(f"{int(constant.sum())} constant representations: their CKA is undefined "
                      "(NaN).", RuntimeWarning, stacklevel=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = cross / np.outer(norms, norms)
    out[constant, :] = np.nan
    out[:, constant] = np.nan
    return out


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA of two representations x (n, p) and y (n, q) of the same n samples:
    ‖XᵀY‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F) on column-centred X, Y, in [0, 1]. Invariant to orthogonal
    transforms and isotropic scaling of either side. NaN, with a warning, for a constant one."""
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim == 2 and y.ndim == 2 and x.shape[0] != y.shape[0]:
        raise ValueError(f"`x` and `y` must have the same number of rows (samples). Got "
                         f"{x.shape[0]} and {y.shape[0]} instead.")
    return float(linear_cka_matrix([x, y])[0, 1])


# --------------------------------------------------------------------------- benchmarks

def benchmark_similarity(accuracy: pd.DataFrame) -> pd.DataFrame:
    """How alike the model population responds to two corruptions; ranks redundant pairs.

    Args:
        accuracy: (model_id, corruption, severity, accuracy), clean rows with corruption
            ``'clean'`` (any severity).

    Returns:
        (corruption_a, corruption_b, similarity, measure, rank), one row per unordered pair with
        corruption_a < corruption_b, for two measures, each over the (model, severity) cells
        both corruptions have:

        - ``accuracy_pearson``: Pearson correlation of accuracy; 'clean' takes part as a
          pseudo-corruption whose accuracy is the model's clean accuracy at every severity, so a
          mild corruption (brightness) shows up as redundant with clean.
        - ``drop_pearson``: Pearson correlation of the accuracy drop from the model's clean
          accuracy — do the same models suffer? ('clean' is absent: its drop is identically 0.)

        rank 1 = the most similar (most redundant) pair within a measure; NaN similarity
        (constant input, < 3 cells) has no rank.
    """
    _require_columns(accuracy, "accuracy", ("model_id", "corruption", "severity", "accuracy"))
    is_clean = accuracy["corruption"] == "clean"
    clean = accuracy[is_clean].groupby("model_id")["accuracy"].mean()
    corrupted = accuracy[~is_clean]
    wide = corrupted.pivot_table(index=["model_id", "severity"], columns="corruption",
                                 values="accuracy", aggfunc="mean")
    clean_per_cell = clean.reindex(wide.index.get_level_values("model_id")).to_numpy()
    frames = []
    for measure, table in (("accuracy_pearson", wide.assign(clean=clean_per_cell)),
                           ("drop_pearson", -wide.sub(clean_per_cell, axis=0))):
        with np.errstate(divide="ignore", invalid="ignore"):
            corr = table.corr(method="pearson", min_periods=3)
        names = corr.columns.to_numpy()
        i, j = np.triu_indices(len(names), k=1)
        pairs = pd.DataFrame({"corruption_a": names[i], "corruption_b": names[j],
                              "similarity": corr.to_numpy()[i, j], "measure": measure})
        # Column order is sorted by pivot_table except 'clean' appended last: sort each pair.
        swap = pairs["corruption_a"] > pairs["corruption_b"]
        pairs.loc[swap, ["corruption_a", "corruption_b"]] = (
            pairs.loc[swap, ["corruption_b", "corruption_a"]].to_numpy())
        pairs["rank"] = pairs["similarity"].rank(ascending=False, method="min").astype("Int64")
        frames.append(pairs.sort_values(["rank", "corruption_a", "corruption_b"]))
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------- dimension

def dimension_angles(dims: Sequence[int], *, n: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Angle between pairs of independent standard Gaussian vectors, per dimension.

    The curse of dimensionality: the angle concentrates at 90° with a standard deviation of about
    (180/π)/√d degrees.

    Returns (kind='random', dim, mean, std, model_id=None): mean and std in degrees over ``n``
    pairs per dimension.
    """
    dims = [int(d) for d in dims]
    if any(d < 1 for d in dims):
        raise ValueError(f"`dims` must be >= 1. Got {dims} instead.")
    if n < 2:
        raise ValueError(f"`n` must be >= 2. Got {n} instead.")
    rng = np.random.default_rng(seed)
    rows = []
    for d in dims:
        a, b = rng.standard_normal((2, n, d))
        cos = np.einsum("ij,ij->i", a, b) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
        angles = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
        rows.append(("random", d, float(angles.mean()), float(angles.std(ddof=1)), None))
    return pd.DataFrame(rows, columns=["kind", "dim", "mean", "std", "model_id"])


def trained_dimension_angles(clean_angles: pd.DataFrame, models: pd.DataFrame) -> pd.DataFrame:
    """Angle of trained features to their true class direction vs the last-layer width.

    Args:
        clean_angles: (model_id, angle) per clean sample, degrees (NULL angles are ignored).
        models: (model_id, feature_dim).

    Returns (kind='trained', dim=feature_dim, mean, std, model_id), degrees, one row per model.
    """
    _require_columns(clean_angles, "clean_angles", ("model_id", "angle"))
    _require_columns(models, "models", ("model_id", "feature_dim"))
    stats_ = (clean_angles.groupby("model_id")["angle"].agg(["mean", "std"]).reset_index())
    out = stats_.merge(models[["model_id", "feature_dim"]], on="model_id")
    out = out[out["feature_dim"].notna()]
    return pd.DataFrame({"kind": "trained", "dim": out["feature_dim"].astype(np.int64),
                         "mean": out["mean"], "std": out["std"], "model_id": out["model_id"]})


# --------------------------------------------------------------------------- vulnerable samples

def reference_dense_models(models: pd.DataFrame) -> pd.DataFrame:
    """(arch, model_id) of *the* dense model per arch: lowest (seed, model_id)."""
    dense = models[models["method"] == "dense"]
    return (dense.sort_values(["arch", "seed", "model_id"]).drop_duplicates("arch")
            [["arch", "model_id"]].reset_index(drop=True))


def pie_counts(clean_pred: pd.DataFrame, models: pd.DataFrame) -> pd.DataFrame:
    """Pruning Identified Exemplars (Hooker et al. 2019), counted over pruning ratios.

    At a ratio r, the pruned population of an arch is every model of that arch at ratio r whose
    method is not dense or mpt — random, magnitude, snip, taylor2 …, with and without retraining.
    A sample is a PIE at r when the dense model's prediction is not a modal prediction of that
    population (a tie that includes the dense prediction is not a PIE).

    Args:
        clean_pred: (model_id, sample_id, pred) on each model's clean benchmark.
        models: (model_id, arch, method, ratio, seed).

    Returns:
        (arch, sample_id, pie_count, n_ratios): number of ratios at which the sample is a PIE,
        out of n_ratios ratios with a population. Arches without a dense model are absent.
    """
    _require_columns(clean_pred, "clean_pred", ("model_id", "sample_id", "pred"))
    _require_columns(models, "models", ("model_id", "arch", "method", "ratio", "seed"))
    dense = reference_dense_models(models).merge(clean_pred, on="model_id")[
        ["arch", "sample_id", "pred"]]
    population = models[~models["method"].isin(PIE_EXCLUDED_METHODS)]
    votes = (population[["model_id", "arch", "ratio"]].merge(clean_pred, on="model_id")
             .groupby(["arch", "ratio", "sample_id", "pred"]).size().rename("votes").reset_index())
    modal = (votes.groupby(["arch", "ratio", "sample_id"])["votes"].max().rename("modal")
             .reset_index())
    dense_votes = votes.merge(dense, on=["arch", "sample_id", "pred"])[
        ["arch", "ratio", "sample_id", "votes"]]
    per_ratio = modal.merge(dense[["arch", "sample_id"]], on=["arch", "sample_id"]).merge(
        dense_votes, on=["arch", "ratio", "sample_id"], how="left")
    per_ratio["pie"] = per_ratio["votes"].fillna(0).to_numpy() < per_ratio["modal"].to_numpy()
    out = (per_ratio.groupby(["arch", "sample_id"], as_index=False)
           .agg(pie_count=("pie", "sum"), n_ratios=("pie", "size")))
    return out.astype({"pie_count": np.int64, "n_ratios": np.int64})


def geometric_score(margin: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Vulnerability score from one model's clean geometry: small margin and large angle.

    score = (rank(−margin) + rank(angle)) / (2n), ranks 1..n ascending (average rank on ties),
    so the score lies in (0, 1] and larger = more vulnerable. A NaN value ranks as the most
    vulnerable (a zero feature has no angle and sits on every boundary).
    """
    margin = np.asarray(margin, dtype=np.float64)
    angle = np.asarray(angle, dtype=np.float64)
    if margin.shape != angle.shape or margin.ndim != 1:
        raise ValueError(f"`margin` and `angle` must be 1-D of equal length. Got {margin.shape} "
                         f"and {angle.shape} instead.")
    n = margin.size
    ranks = [pd.Series(v).rank(method="average", na_option="bottom").to_numpy()
             for v in (-margin, angle)]
    return (ranks[0] + ranks[1]) / (2 * n) if n else np.zeros(0)


def vulnerable_samples(dense_metrics: pd.DataFrame, pie: pd.DataFrame, pv: pd.DataFrame, *,
                       low_pv_fraction: float = 0.5) -> pd.DataFrame:
    """Flag vulnerable samples per arch and score them from the dense model's geometry.

    Args:
        dense_metrics: (arch, sample_id, margin, angle) of the arch's dense model, clean data.
        pie: (arch, sample_id, pie_count) from ``pie_counts``.
        pv: (arch, sample_id, pv, n_models) of the reference family (magnitude, no retraining).
        low_pv_fraction: ``low_pv`` = pv <= low_pv_fraction · n_models (pv <= 5 of 10 models).

    Returns:
        (arch, sample_id, pie, pie_count, low_pv, pv, geometric_score): pie = PIE at one ratio
        or more; missing PIE or PV information is NULL.
    """
    if not 0.0 <= low_pv_fraction <= 1.0:
        raise ValueError(f"`low_pv_fraction` must be in [0, 1]. Got {low_pv_fraction} instead.")
    _require_columns(dense_metrics, "dense_metrics", ("arch", "sample_id", "margin", "angle"))
    scored = dense_metrics[["arch", "sample_id", "margin", "angle"]].copy()
    scored["geometric_score"] = np.nan
    for index in scored.groupby("arch").groups.values():
        part = scored.loc[index]
        scored.loc[index, "geometric_score"] = geometric_score(part["margin"].to_numpy(),
                                                               part["angle"].to_numpy())
    out = (scored[["arch", "sample_id", "geometric_score"]]
           .merge(pie[["arch", "sample_id", "pie_count"]], on=["arch", "sample_id"], how="left")
           .merge(pv[["arch", "sample_id", "pv", "n_models"]], on=["arch", "sample_id"],
                  how="left"))
    out["pie_count"] = out["pie_count"].astype("Int64")
    out["pie"] = (out["pie_count"] >= 1).astype("boolean")
    out["pv"] = out["pv"].astype("Int64")
    out["low_pv"] = (out["pv"] <= low_pv_fraction * out["n_models"]).astype("boolean")
    return out[["arch", "sample_id", "pie", "pie_count", "low_pv", "pv", "geometric_score"]]


def vulnerability_auc(samples: pd.DataFrame, dense_metrics: pd.DataFrame) -> pd.DataFrame:
    """ROC AUC of vulnerability scores for the PIE and low-PV flags, per arch.

    Args:
        samples: output of ``vulnerable_samples``.
        dense_metrics: (arch, sample_id, margin, angle, l2, prob) of the dense model, clean data.

    Returns:
        (arch, target ∈ {pie, low_pv}, score ∈ {geometric, neg_margin, angle, neg_l2, neg_prob},
        auc, n_positive, n): n = samples with a flag and a finite score. AUC is NaN when the
        positives or the negatives are empty. 0.5 = no better than chance.
    """
    columns = [column for column, _ in SINGLE_SCORES.values()]
    joined = samples.merge(dense_metrics[["arch", "sample_id", *columns]], on=["arch", "sample_id"])
    rows = []
    for arch, group in joined.groupby("arch", sort=True):
        scores = {"geometric": group["geometric_score"].to_numpy(dtype=np.float64)}
        scores.update({name: sign * group[col].to_numpy(dtype=np.float64, na_value=np.nan)
                       for name, (col, sign) in SINGLE_SCORES.items()})
        for target in ("pie", "low_pv"):
            flag = group[target]
            for name, score in scores.items():
                keep = flag.notna().to_numpy() & np.isfinite(score)
                y = flag.to_numpy(dtype=bool, na_value=False)[keep]
                n_pos = int(y.sum())
                auc = (float(roc_auc_score(y, score[keep])) if 0 < n_pos < y.size else np.nan)
                rows.append((arch, target, name, auc, n_pos, int(y.size)))
    return pd.DataFrame(rows, columns=["arch", "target", "score", "auc", "n_positive", "n"])
