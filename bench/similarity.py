"""How faithfully each placement of the similarity view keeps the true geometry distances.

For every benchmark of a database, the models' standardised geometry vectors (as the analysis
computes them) are placed in 2-D by each method; trustworthiness (scikit-learn, 5 neighbours)
and the Spearman correlation between placed and true pairwise distances are printed per
benchmark, then the median / minimum per method and the seconds each method took in all.
Methods: pca, stress (the default), umap (per benchmark, deduplicated, started from pca; with
other neighbourhood sizes / min_dist as umap_*) and umap_joint (the former placement: one UMAP of
every (model, benchmark) row together).
The bar: median trustworthiness >= 0.92, every benchmark >= 0.88, every Spearman >= 0.80.

Then the shared placement (one plane for every (model, benchmark) row, ``place_shared``) against
a plain 2-D PCA of all rows, in the same process: trustworthiness (5 neighbours) over all rows,
the exact Spearman ρ over all n(n − 1)/2 pairs, the minimum and median trustworthiness within
one benchmark's rows, and seconds. Its bar: 0.96 / 0.96 over all rows, >= 0.90 within each.

    python -m bench.similarity [DB] [--shared-only]   # DB: cache/demo.duckdb, read-only
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from scipy.spatial.distance import pdist, squareform

from threadpoolctl import threadpool_limits

from core import analysis, store
from core.store import analysis as queries

# name → place_geometry options; "stress" is the default, "umap" the stored geometry_umap.
_METHODS = {
    "pca": {"method": "pca"},
    "stress": {"method": "stress"},
    "umap": {"method": "umap"},
    "umap_k5": {"method": "umap", "umap_neighbors": 5},
    "umap_k15": {"method": "umap", "umap_neighbors": 15},
    "umap_md0.1": {"method": "umap", "umap_min_dist": 0.1},
}


def _per_benchmark(keys: pd.DataFrame) -> dict[str, np.ndarray]:
    return {b: rows for b, rows in keys.groupby("benchmark_id", sort=True).indices.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db", nargs="?", default="cache/demo.duckdb")
    parser.add_argument("--shared-only", action="store_true",
                        help="measure the shared placement and its PCA baseline only")
    args = parser.parse_args()
    con = store.open_read_only(args.db)
    try:
        t0 = time.perf_counter()
        keys, matrix = analysis.geometry_vectors(queries.sample_geometry(con))
    finally:
        con.close()
    print(f"{args.db}: {len(keys)} (model, benchmark) rows × {matrix.shape[1]} columns, "
          f"vectors in {time.perf_counter() - t0:.1f} s")
    groups = _per_benchmark(keys)
    if args.shared_only:
        _shared(keys, matrix, groups)
        return
    distances = {b: squareform(pdist(matrix[rows])) for b, rows in groups.items()}

    placements: dict[str, dict[str, np.ndarray]] = {}
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    analysis.place_geometry(squareform(pdist(np.eye(6))) + 1, method="umap")
    print(f"UMAP start-up (import, numba compilation): {time.perf_counter() - start:.1f} s, "
          "not counted below")
    # As the analysis stage runs them: one BLAS thread (tiny matrices).
    with threadpool_limits(1, user_api="blas"):
        for name, options in _METHODS.items():
            start = time.perf_counter()
            placements[name] = {b: analysis.place_geometry(d, **options)
                                for b, d in distances.items()}
            seconds[name] = time.perf_counter() - start
    start = time.perf_counter()
    joint = analysis.embed_umap(matrix, seed=0, n_epochs=200)
    placements["umap_joint"] = {b: joint[rows] for b, rows in groups.items()}
    seconds["umap_joint"] = time.perf_counter() - start

    rows = []
    for method, placed in placements.items():
        for benchmark_id, d in distances.items():
            trust, rho, _ = analysis.placement_quality(d, placed[benchmark_id])
            rows.append((method, benchmark_id, trust, rho))
    table = pd.DataFrame(rows, columns=["method", "benchmark_id", "trust", "spearman"])
    # Coincident models share one point in every placement but umap_joint.
    distinct = {b: len(np.unique(placements["pca"][b], axis=0)) for b in distances}
    print(f"models per benchmark: {sorted({len(d) for d in distances.values()})}; distinct points "
          f"(coincident models merged, tolerance {analysis.COINCIDENT_TOLERANCE}): "
          f"min {min(distinct.values())}, max {max(distinct.values())}")
    wide = table.pivot(index="benchmark_id", columns="method", values=["trust", "spearman"])
    with pd.option_context("display.max_rows", None, "display.max_columns", None,
                           "display.width", 200,
                           "display.float_format", "{:.3f}".format):
        print(wide)
        summary = table.groupby("method").agg(
            trust_median=("trust", "median"), trust_min=("trust", "min"),
            spearman_median=("spearman", "median"), spearman_min=("spearman", "min"))
        summary["seconds"] = pd.Series(seconds)
        summary["meets_bar"] = ((summary.trust_median >= 0.92) & (summary.trust_min >= 0.88)
                                & (summary.spearman_min >= 0.80))
        print(summary)
    _shared(keys, matrix, groups)


def _all_pairs_spearman(matrix: np.ndarray, xy: np.ndarray) -> float:
    """Exact Spearman ρ of placed vs true distances over every pair of rows (by blocks)."""
    from scipy.stats import rankdata

    n = len(matrix)
    norms = np.einsum("ij,ij->i", matrix, matrix)
    true, placed = [], []
    for start in range(0, n, 512):
        stop = min(n, start + 512)
        d2 = norms[start:stop, None] + norms[None, :] - 2.0 * matrix[start:stop] @ matrix.T
        rows, cols = np.triu_indices(stop - start, k=1, m=n - start)
        true.append(np.sqrt(np.maximum(d2[:, start:][rows, cols], 0.0)).astype(np.float32))
        placed.append(np.linalg.norm(xy[start + rows] - xy[start + cols], axis=1)
                      .astype(np.float32))
    true, placed = np.concatenate(true), np.concatenate(placed)
    return float(np.corrcoef(rankdata(true), rankdata(placed))[0, 1])


def _shared(keys: pd.DataFrame, matrix: np.ndarray, groups: dict[str, np.ndarray]) -> None:
    from core.analysis.placement import _pca

    benchmark = keys["benchmark_id"].to_numpy()
    rows = []
    for name, place in (("pca (all rows)", lambda: _pca(matrix - matrix.mean(0), 2, 0)),
                        ("shared", lambda: analysis.place_shared(matrix, benchmark))):
        start = time.perf_counter()
        xy = place()
        seconds = time.perf_counter() - start
        within = [analysis.placement_quality(squareform(pdist(matrix[r])), xy[r])[0]
                  for r in groups.values()]
        rows.append((name, analysis.shared_trustworthiness(matrix, xy),
                     _all_pairs_spearman(matrix, xy), np.min(within), np.median(within), seconds))
    table = pd.DataFrame(rows, columns=["placement", "trust_all", "spearman_all",
                                        "trust_within_min", "trust_within_median", "seconds"])
    table["meets_bar"] = ((table.trust_all >= 0.96) & (table.spearman_all >= 0.96)
                          & (table.trust_within_min >= 0.90))
    print(f"\nOne placement of all {len(keys):,} rows (seconds: placing only):")
    with pd.option_context("display.width", 200, "display.float_format", "{:.3f}".format):
        print(table.to_string(index=False))


if __name__ == "__main__":
    main()
