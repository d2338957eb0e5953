"""The demo's seed population and its PIEs, outside a build: measures what the demo's
``pie_flags`` / ``pie_auc`` will hold (PIE counts, the finder's AUCs) and the seed task's time.

Seeds 1..4 run :func:`core.pipeline.seed_population.seed_task` with the demo's jobs (one torch thread,
freed memory kept, as in the build's workers); seed 0 is the main population's own, loaded from
the checkpoints of an existing demo database (``--db``, models of the same recipe), as the build
reuses it. The finder's scores are that dense model's clean geometry on the 1,000-image subset.

    python bench/pie_population.py --db /work/main/cache/demo.duckdb
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch

from core.analysis import hooker_pies, pie_auc
from core.data import evaluation_subset, load_dataset
from core.features import evaluate_geometry
from core.models import model_from_config
from core.pipeline.executors import retain_freed_memory
from core.pipeline.experiment import load_experiment, preset_path
from core.pipeline.plan import DataShape
from core.pipeline.seed_population import (SEED_PREDICTION_COLUMNS, seed_population_jobs,
                                           seed_task)
from core.store import open_duckdb
from core.train import to_input


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    retain_freed_memory()
    e = load_experiment(preset_path("demo"))
    train, test = load_dataset("fashion_mnist", split="train"), load_dataset("fashion_mnist")
    ids = evaluation_subset(test.labels, n_per_class=e.n_per_class, seed=e.subset_seed)
    images, labels = test.images[ids], test.labels[ids]
    shape = DataShape(num_classes=10, in_channels=1, input_size=28)
    jobs = seed_population_jobs(e, shape)
    con = open_duckdb(args.db, read_only=True)
    x = to_input(images)
    frames, dense_geometry = [], None
    for seed, dense, pruned in jobs:
        start = time.perf_counter()
        if seed == e.seed:
            rows = []
            for job in (dense, *pruned):
                config, path = con.execute("SELECT arch_config, checkpoint FROM models WHERE "
                                           "model_id = ?", [job.model_id]).fetchone()
                model = model_from_config(config, path).eval()
                geometry, _ = evaluate_geometry(model, x, labels)
                pred = geometry["pred"].numpy()
                rows.append(pd.DataFrame({"arch": "lenet5", "seed": seed, "method": job.method,
                                          "ratio": job.ratio, "retrained": job.retrained,
                                          "sample_id": ids, "pred": pred,
                                          "correct": pred == labels}))
                if job.method == "dense":
                    dense_geometry = pd.DataFrame({
                        "arch": "lenet5", "sample_id": ids,
                        **{k: geometry[k].numpy() for k in ("angle", "margin", "l2")}})
            frame = pd.concat(rows)[SEED_PREDICTION_COLUMNS]
        else:
            frame = seed_task(dense, pruned, train.images, train.labels, images, labels, ids)
        frames.append(frame)
        accuracy = frame.groupby(["method", "ratio", "retrained"])["correct"].mean()
        print(f"seed {seed}: {time.perf_counter() - start:.0f} s; accuracy "
              + ", ".join(f"{m} {r:g}{' rt' if t else ''} {100 * a:.1f}"
                          for (m, r, t), a in accuracy.items()), flush=True)
    predictions = pd.concat(frames, ignore_index=True)
    flags = hooker_pies(predictions)
    print(flags.groupby(["ratio", "retrained"])["pie"].agg(["sum", "size"]).to_string())
    auc = pie_auc(flags, dense_geometry)
    print(auc.pivot_table(index=["ratio", "retrained"], columns="score", values="auc")
          .round(3).to_string())


if __name__ == "__main__":
    main()
