"""Evaluate-task throughput: the local executor (baseline) vs Ray with 1 and 2 worker CPUs.

Workload: the `tiny` preset's evaluate stage — 10 LeNet-5 models × 13 benchmarks × 100 images
(28×28 grey) = 10 ``evaluate_model_task`` calls (one per model, on all its benchmarks, as the
build runs them), inputs shared through ``executor.put`` as the build does. Weights are random
(the cost does not depend on them). Every executor runs tasks with the driver's torch thread
count (the Ray executor's reproducibility rule) and Ray reserves that many CPUs per task, so
``--threads 1`` (the default here) gives one concurrent task per Ray CPU; the build itself uses
min(4, cores) threads.

Prints tasks/s of Ray and its ratio to the local executor measured just before and after it (best
of both), Ray's start-up (instance + first tasks: workers import torch), and the single writer's
cost per model's results (``store.write_model_results`` into DuckDB), which caps throughput
whatever the number of workers.

Usage: python bench/grid.py [--models 10] [--benchmarks 13] [--samples 100] [--repeats 3]
                           [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from core import store
from core.models import arch_config, model_from_config
from core.pipeline.executors import Executor, LocalExecutor, Task
from core.pipeline.ray_executor import RayExecutor
from core.pipeline.tasks import ModelWeights, evaluate_model_task


def workload(n_models: int, n_benchmarks: int, n_samples: int):
    rng = np.random.default_rng(0)
    images = {f"b{i}": rng.integers(0, 256, (n_samples, 28, 28), dtype=np.uint8)
              for i in range(n_benchmarks)}
    labels = rng.integers(0, 10, n_samples).astype(np.int64)
    sample_ids = np.arange(n_samples, dtype=np.int64)
    config = arch_config("lenet5", in_channels=1, num_classes=10, width=1.0, input_size=28)
    models = []
    for i in range(n_models):
        torch.manual_seed(i)
        models.append(ModelWeights.of(f"m{i}", config, model_from_config(config)))
    return images, labels, sample_ids, models


def tasks(executor: Executor, images, labels, sample_ids, models, *, limit: int | None = None):
    shared = {b: executor.put(x) for b, x in images.items()}
    labels, sample_ids = executor.put(labels), executor.put(sample_ids)
    for weights in models[:limit]:
        yield Task(weights.model_id, weights.model_id, evaluate_model_task,
                   (executor.put(weights), tuple(shared), labels, sample_ids, *shared.values()),
                   dict(keep_features_for=("b0",)))


def throughput(executor: Executor, work, repeats: int) -> tuple[float, list]:
    """Best tasks/s over ``repeats`` runs of the whole workload, and the last run's results."""
    best = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        results = [o.value for o in executor.run(tasks(executor, *work))]
        best = max(best, len(results) / (time.perf_counter() - t0))
    return best, results


def write_cost(results, sample_ids) -> float:
    """Seconds per model's results of the driver's single DuckDB writer."""
    with tempfile.TemporaryDirectory() as tmp:
        con = store.connect(Path(tmp) / "bench.duckdb")
        store.create_schema(con, num_classes=10)
        t0 = time.perf_counter()
        for r in results:
            store.write_model_results(con, r.model_id, r.metrics, r.evaluations, r.features,
                                      sample_ids=sample_ids)
        seconds = (time.perf_counter() - t0) / len(results)
        con.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=10)
    parser.add_argument("--benchmarks", type=int, default=13)
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per task")
    args = parser.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    torch.set_num_threads(args.threads)
    work = workload(args.models, args.benchmarks, args.samples)
    print(f"{args.models} evaluate tasks ({args.models} LeNet-5 × {args.benchmarks} benchmarks × "
          f"{args.samples} images), torch threads {torch.get_num_threads()}, "
          f"{os.cpu_count()} cores")

    local = LocalExecutor()
    list(local.run(tasks(local, *work, limit=1)))   # warm-up: first forward passes
    for cpus in (1, 2):
        # Baseline measured right before and after each Ray run: on a shared machine the load
        # drifts, and a ratio against a distant baseline would mostly measure that drift.
        before, results = throughput(local, work, args.repeats)
        t0 = time.perf_counter()
        ray = RayExecutor(num_cpus=cpus)
        list(ray.run(tasks(ray, *work, limit=cpus)))  # start the workers (torch import)
        startup = time.perf_counter() - t0
        rate, _ = throughput(ray, work, args.repeats)
        ray.close()
        base = max(before, throughput(local, work, args.repeats)[0])
        name = f"ray, {cpus} CPU{'s' if cpus > 1 else ''}"
        print(f"{name:<12}: {rate:7.1f} tasks/s   local {base:7.1f} tasks/s   ratio "
              f"{rate / base:5.2f}   (Ray start-up {startup:.1f} s)")
    write = write_cost(results, work[2])
    print(f"{'writer':<12}: {write * 1e3:7.1f} ms/model -> at most {1 / write:.0f} models/s "
          "whatever the number of workers")


if __name__ == "__main__":
    main()
