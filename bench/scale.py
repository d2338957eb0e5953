"""The analysis kernels at the `full` preset's size (N = 10,000 test images) against the demo's
(N = 500), on synthetic arrays of the demo grid's shape (112 models), in one process.

For each kernel: seconds (untraced) and peak traced memory (tracemalloc, a second call: numpy and
pandas allocations) at both sizes, and their ratios (N grows 20×: linear in N shows ≈ 20×):

- ``geometry_vectors``: per-sample vectors of 3 N columns of every (model, benchmark)
  (``--benchmarks`` of the 96, default 4: memory and time grow linearly with the number of
  benchmarks, so × 24 gives the whole database's), once from one long frame of every row (the
  frame's own size is printed too) and once from parts read model by model, as the analysis
  reads the store;
- ``placements``: one benchmark's pairwise distances (112 × 3 N vectors) and both stored
  placements with their quality (``core.pipeline.analysis_tables.place_benchmark``), per
  benchmark;
- ``correlations``: clean angle / l2 / margin against robustness and PV, per model;
- ``pie_counts``: the PIE finder over the 112 models' clean predictions;
- ``linear_cka_matrix``: CKA between the 112 models' 84-wide clean features.

    python -m bench.scale [--benchmarks 4] [--samples 10000]
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np
import pandas as pd
from scipy.spatial.distance import pdist, squareform

from core import analysis
from core.pipeline.analysis_tables import place_benchmark

N_MODELS = 112
BASELINE_SAMPLES = 500


def _models() -> pd.DataFrame:
    """112 models of one architecture: dense, 4 methods × 9 ratios × ± retraining, MPT × 4,
    and padding of dense seeds, as the demo's population (one family suffices for the kernels)."""
    rows = [("lenet5-dense", "dense", 0.0, False, 0)]
    for method in ("random", "magnitude", "snip", "taylor2"):
        for retrained in (False, True):
            rows += [(f"lenet5-{method}-r{r}-{retrained}", method, r, retrained, 0)
                     for r in np.round(np.arange(0.1, 1.0, 0.1), 1)]
    rows += [(f"lenet5-mpt-r{r}", "mpt", r, False, 0) for r in (0.3, 0.5, 0.7, 0.9)]
    rows += [(f"lenet5-dense-s{s}", "dense", 0.0, False, s)
             for s in range(1, N_MODELS - len(rows) + 1)]
    frame = pd.DataFrame(rows, columns=["model_id", "method", "ratio", "retrained", "seed"])
    return frame.assign(arch="lenet5")


def _long_frame(models: pd.DataFrame, n_benchmarks: int, n: int, rng) -> pd.DataFrame:
    """(model_id, benchmark_id, sample_id, angle, margin, l2): one row per triple, float32
    metrics and string ids as the store's FLOAT and VARCHAR columns arrive in pandas."""
    ids = models["model_id"].to_numpy()
    benches = np.array([f"bench{b:02d}" for b in range(n_benchmarks)], dtype=object)
    k = len(ids) * n_benchmarks * n
    model_col = np.repeat(ids, n_benchmarks * n)
    bench_col = np.tile(np.repeat(benches, n), len(ids))
    return pd.DataFrame({
        "model_id": model_col, "benchmark_id": bench_col,
        "sample_id": np.tile(np.arange(n, dtype=np.int32), len(ids) * n_benchmarks),
        "angle": rng.uniform(0, 90, k).astype(np.float32),
        "margin": rng.normal(size=k).astype(np.float32),
        "l2": rng.gamma(2.0, size=k).astype(np.float32)})


def _clean(models: pd.DataFrame, n: int, rng) -> pd.DataFrame:
    k = len(models) * n
    return pd.DataFrame({"model_id": np.repeat(models["model_id"].to_numpy(), n),
                         "sample_id": np.tile(np.arange(n), len(models)),
                         "pred": rng.integers(0, 10, k), "angle": rng.uniform(0, 90, k),
                         "l2": rng.gamma(2.0, size=k), "margin": rng.normal(size=k)})


def _measure(fn) -> tuple[float, float]:
    """(seconds, peak MiB traced) of ``fn()``: timed in one call without tracing (tracemalloc
    slows code that allocates many small objects), its memory traced in a second call."""
    t0 = time.perf_counter()
    fn()
    seconds = time.perf_counter() - t0
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return seconds, peak


def _kernels(n: int, n_benchmarks: int, rng) -> tuple[dict[str, tuple[float, float]],
                                                      dict[str, float]]:
    """{kernel: (seconds, peak MiB)} and {input frame: MiB} at N = ``n``."""
    models = _models()
    out, inputs = {}, {}
    frame = _long_frame(models, n_benchmarks, n, rng)
    inputs["one long frame (string ids)"] = frame.memory_usage(deep=True).sum() / 2**20
    out["geometry_vectors (one long frame)"] = _measure(lambda: analysis.geometry_vectors(frame))
    keys = frame[["model_id", "benchmark_id"]].drop_duplicates()
    del frame
    # As the analysis reads the store (core.store.analysis.sample_geometry_parts): model by
    # model, each part made (read) inside the measured call and dropped after use.
    out["geometry_vectors (model by model)"] = _measure(lambda: analysis.geometry_vectors(
        (_long_frame(models.iloc[[i]], n_benchmarks, n, rng) for i in range(len(models))),
        keys=keys, sample_ids=np.arange(n)))
    vectors = rng.normal(size=(N_MODELS, 3 * n))
    out["placements (1 benchmark)"] = _measure(
        lambda: place_benchmark(squareform(pdist(vectors))))
    del vectors
    clean = _clean(models, n, rng)
    targets = clean[["model_id", "sample_id"]].assign(robustness=rng.integers(0, 96, len(clean)),
                                                       pv=rng.integers(0, 10, len(clean)))
    out["correlations"] = _measure(lambda: analysis.correlations(clean, targets))
    out["pie_counts"] = _measure(lambda: analysis.pie_counts(clean, models))
    features = [rng.normal(size=(n, 84)).astype(np.float32) for _ in range(N_MODELS)]
    out["linear_cka_matrix"] = _measure(lambda: analysis.linear_cka_matrix(features))
    return out, inputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmarks", type=int, default=4)
    parser.add_argument("--samples", type=int, default=10_000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    # Compile numba's UMAP kernels (and warm every other path) before anything is timed.
    place_benchmark(squareform(pdist(rng.normal(size=(N_MODELS, 30)))))
    (base, base_inputs), (full, full_inputs) = (
        _kernels(n, args.benchmarks, rng) for n in (BASELINE_SAMPLES, args.samples))
    print(f"{N_MODELS} models, {args.benchmarks} benchmarks; N = {BASELINE_SAMPLES} (baseline) "
          f"and N = {args.samples}")
    print(f"{'kernel':38s} {'s @base':>8s} {'s @N':>8s} {'ratio':>6s} {'MiB @base':>10s} "
          f"{'MiB @N':>8s} {'ratio':>6s}")
    for name, (seconds, peak) in full.items():
        s0, p0 = base[name]
        print(f"{name:38s} {s0:8.2f} {seconds:8.2f} {seconds / s0:6.1f} {p0:10.1f} "
              f"{peak:8.1f} {peak / p0:6.1f}")
    for name, mib in full_inputs.items():
        print(f"input: {name:30s} {base_inputs[name]:8.1f} MiB at N = {BASELINE_SAMPLES}, "
              f"{mib:8.1f} MiB at N = {args.samples} ({args.benchmarks} benchmarks)")

if __name__ == "__main__":
    main()
