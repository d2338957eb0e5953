"""Evaluate-stage throughput against the raw forward pass of the same models, in one process.

Workload: the demo's evaluate stage in miniature — ``--models`` models of each architecture
(``--archs``, random weights: the cost does not depend on them) × ``--benchmarks`` benchmarks ×
``--samples`` uint8 28×28 grey images. Two measurements, alternated ``--repeats`` times so that
both see the same machine load:

- raw: ``model(x)`` on float inputs already in memory, batches of ``--batch-size``, nothing else;
- evaluate: what the build's evaluate stage does per model — ``evaluate_model_task`` (uint8 →
  float, forward, geometry, result tables) with the same batch size, then
  ``store.write_model_results`` into a DuckDB file (one transaction per model).

Prints sample-evaluations/s of both (best of the repeats) and their ratio, the figure the build
must keep >= 0.7. Run with ``OMP_WAIT_POLICY=PASSIVE`` on a shared machine.

Usage: python bench/evaluate.py [--archs lenet5,resnet_small] [--models 2] [--benchmarks 96]
                                [--samples 500] [--batch-size 1000] [--repeats 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

# This checkout's core, not an installed one.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core import store  # noqa: E402
from core.models import arch_config, model_from_config
from core.pipeline.executors import retain_freed_memory
from core.pipeline.tasks import (EVALUATE_BATCH_SIZE, ModelWeights, evaluate_model_task,
                                 state_from_bytes)
from core.train import to_input


def workload(archs: list[str], n_models: int, n_benchmarks: int, n_samples: int):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (n_samples, 28, 28), dtype=np.uint8)
              for _ in range(n_benchmarks)]
    labels = rng.integers(0, 10, n_samples).astype(np.int64)
    weights = []
    for arch in archs:
        config = arch_config(arch, in_channels=1, num_classes=10, width=1.0, input_size=28)
        for i in range(n_models):
            torch.manual_seed(i)
            weights.append(ModelWeights.of(f"{arch}-{i}", config, model_from_config(config)))
    return weights, images, labels, np.arange(n_samples)


@torch.inference_mode()
def raw_seconds(weights: list[ModelWeights], images: list[np.ndarray], batch_size: int) -> float:
    """Seconds of the bare forward passes: models built and inputs converted beforehand."""
    x = to_input(np.concatenate(images))
    models = []
    for w in weights:
        model = model_from_config(w.config)
        model.load_state_dict(state_from_bytes(w.state))
        models.append(model.eval())
    t0 = time.perf_counter()
    for model in models:
        for start in range(0, len(x), batch_size):
            model(x[start:start + batch_size])
    return time.perf_counter() - t0


def evaluate_seconds(weights: list[ModelWeights], images: list[np.ndarray], labels, sample_ids,
                     batch_size: int, db: Path) -> float:
    """Seconds of the evaluate stage's work for these models, database writes included."""
    benchmark_ids = [f"b{i}" for i in range(len(images))]
    db.unlink(missing_ok=True)
    con = store.connect(str(db))
    store.create_schema(con, num_classes=10)
    t0 = time.perf_counter()
    for w in weights:
        r = evaluate_model_task(w, benchmark_ids, labels, sample_ids, *images,
                                keep_features_for=("b0",), batch_size=batch_size)
        store.write_model_results(con, w.model_id, r.metrics, r.evaluations, r.features,
                                  sample_ids=sample_ids)
    seconds = time.perf_counter() - t0
    con.close()
    return seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--archs", default="lenet5,resnet_small")
    p.add_argument("--models", type=int, default=2)
    p.add_argument("--benchmarks", type=int, default=96)
    p.add_argument("--samples", type=int, default=500)
    p.add_argument("--batch-size", type=int, default=EVALUATE_BATCH_SIZE)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (default 1, as every build task runs)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    retain_freed_memory()  # as every build task runs
    for arch in args.archs.split(","):
        weights, images, labels, sample_ids = workload([arch], args.models, args.benchmarks,
                                                       args.samples)
        n = len(weights) * args.benchmarks * args.samples
        raw, evaluate = [], []
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(args.repeats):
                raw.append(raw_seconds(weights, images, args.batch_size))
                evaluate.append(evaluate_seconds(weights, images, labels, sample_ids,
                                                 args.batch_size, Path(tmp) / "bench.duckdb"))
        print(f"{arch}: {n} sample-evaluations, batch {args.batch_size}: raw forward "
              f"{n / min(raw):,.0f}/s, evaluate stage {n / min(evaluate):,.0f}/s, "
              f"ratio {min(raw) / min(evaluate):.2f}")


if __name__ == "__main__":
    main()
