"""How faithfully each placement of the similarity view keeps the true geometry distances.

For every benchmark of a database, the models' standardised geometry vectors (as the analysis
computes them) are placed in 2-D by each method; trustworthiness (scikit-learn, 5 neighbours)
and the Spearman correlation between placed and true pairwise distances are printed per
benchmark, then the median / minimum per method and the seconds each method took in all.
Methods: pca, stress (the default), umap (per benchmark, deduplicated, started from pca; with
other neighbourhood sizes / min_dist as umap_*) and umap_joint (the former placement: one UMAP of
every (model, benchmark) row together).
The bar: median trustworthiness >= 0.92, every benchmark >= 0.88, every Spearman >= 0.80.

    python -m bench.similarity [DB]        # DB defaults to cache/demo.duckdb, opened read-only
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


if __name__ == "__main__":
    main()
