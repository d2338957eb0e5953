"""A synthetic but realistic results database, for scale tests and page development.

Every model gets random class directions ``W`` and every (model, benchmark, sample) a feature ``X``
pulled towards its true class by an amount that falls with the model's pruning damage, the
benchmark's severity and the sample's difficulty; the rows then come from the real
``compute_geometry``, so all invariants of real data hold (correct ⇔ pred = label, margin > 0 ⇔
correct, angle = angles[label], accuracy = mean(correct)).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import torch
from tqdm.auto import tqdm

from .. import store
from ..corruption_names import CORRUPTIONS, category_of
from ..geometry import compute_geometry

__all__ = ["write_synthetic_db"]

_METHODS = ("random", "magnitude", "snip", "taylor2", "mpt")
_ARCHS = ("lenet5", "vgg16", "resnet18")
_RATIOS = tuple(round(r / 10, 1) for r in range(1, 10))


def _model_grid(n_models: int) -> pd.DataFrame:
    rows = []
    for arch in _ARCHS:
        rows.append(dict(arch=arch, method="dense", ratio=0.0, retrained=False))
        for method in _METHODS:
            for retrained in ((False,) if method == "mpt" else (False, True)):
                for ratio in _RATIOS:
                    rows.append(dict(arch=arch, method=method, ratio=ratio, retrained=retrained))
    grid = pd.DataFrame(rows)
    reps = -(-n_models // len(grid))
    frames = [grid.assign(seed=s) for s in range(reps)]
    grid = pd.concat(frames, ignore_index=True)
    # Interleave methods so that a small DB still holds every method and the dense models.
    grid["order"] = grid.groupby(["seed", "arch", "method", "retrained"]).cumcount()
    grid = grid.sort_values(["seed", "order", "arch", "method", "retrained"], kind="stable")
    grid = grid.drop(columns="order").iloc[:n_models].reset_index(drop=True)
    tag = np.where(grid.retrained, "-rt", "")
    grid["model_id"] = (grid.arch + "-" + grid.method + "-r" + grid.ratio.map("{:.1f}".format)
                        + tag + "-s" + grid.seed.astype(str))
    return grid


def _benchmark_grid(n_benchmarks: int) -> pd.DataFrame:
    rows = [dict(benchmark_id="clean", corruption="clean", severity=0, category="clean")]
    for severity in range(1, 6):
        for name in CORRUPTIONS:
            rows.append(dict(benchmark_id=f"{name}-{severity}", corruption=name,
                             severity=severity, category=category_of(name)))
    frame = pd.DataFrame(rows[:n_benchmarks])
    return frame.sort_values(["severity", "corruption"]).reset_index(drop=True)


def _damage(row) -> float:
    """How much a model's pruning hurts the pull towards the true class (0 = dense)."""
    if row.method == "dense":
        return 0.0
    base = {"random": 2.2, "magnitude": 0.9, "snip": 1.1, "taylor2": 1.0, "mpt": 0.6}[row.method]
    if row.retrained:
        base *= 0.35
    return base * row.ratio ** 3


def write_synthetic_db(path: str | Path, *, n_models: int = 200, n_benchmarks: int = 10,
                       n_samples: int = 10_000, num_classes: int = 10, feature_dim: int = 16,
                       seed: int = 0, image_benchmarks: int = 2, progress: bool = True) -> Path:
    """Write a synthetic DB of ``n_models × n_benchmarks × n_samples`` sample_metrics rows.

    Images (random 28×28 grey blobs) are stored for the first ``image_benchmarks`` benchmarks.
    The file is written beside ``path`` and moved into place at the end.
    """
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".partial")
    tmp.unlink(missing_ok=True)
    rng = np.random.default_rng(seed)
    models = _model_grid(n_models)
    benches = _benchmark_grid(n_benchmarks)
    con = store.connect(tmp)
    store.create_schema(con, num_classes=num_classes)
    names = [f"class {c}" for c in range(num_classes)]
    store.replace_rows(con, "dataset_info", pd.DataFrame([dict(
        dataset="synthetic", num_classes=num_classes, class_names=names, height=28, width=28,
        channels=1, split="test", n_eval=n_samples)]))
    store.replace_rows(con, "benchmarks", benches.assign(dataset="synthetic"))

    labels = np.arange(n_samples) % num_classes
    difficulty = rng.gamma(2.0, 0.5, n_samples)
    images = (rng.random((n_samples, 28, 28)) * 255).astype(np.uint8)
    for b in benches.benchmark_id[:image_benchmarks]:
        store.replace_rows(con, "images", pd.DataFrame({
            "benchmark_id": b, "sample_id": np.arange(n_samples, dtype=np.int32),
            "label": labels.astype(np.int16), "height": 28, "width": 28, "channels": 1,
            "pixels": [img.tobytes() for img in images]}), where={"benchmark_id": b})

    model_rows = []
    for row in tqdm(list(models.itertuples()), desc="synthetic models", disable=not progress):
        w = rng.normal(size=(num_classes, feature_dim)).astype(np.float32)
        bias = rng.normal(scale=0.1, size=num_classes).astype(np.float32)
        damage = _damage(row)
        model_rows.append(dict(
            model_id=row.model_id, arch=row.arch, dataset="synthetic", method=row.method,
            ratio=row.ratio, retrained=row.retrained, sparsity=row.ratio, params_total=61706,
            params_nonzero=int(61706 * (1 - row.ratio)), seed=int(row.seed), width=1.0,
            feature_dim=feature_dim, arch_config=json.dumps({"arch": row.arch}),
            checkpoint=None, source="synthetic", fit_seconds=0.0))
        pull = 3.0 - damage - benches.severity.to_numpy()[:, None] * 0.35 - difficulty[None, :]
        x = (w[labels][None] * pull[..., None]
             + rng.normal(size=(len(benches), n_samples, feature_dim)).astype(np.float32) * 1.5)
        geo = compute_geometry(torch.from_numpy(x.reshape(-1, feature_dim).astype(np.float32)),
                               torch.from_numpy(w), torch.from_numpy(bias),
                               torch.from_numpy(np.tile(labels, len(benches))))
        correct = (geo["pred"].numpy() == np.tile(labels, len(benches)))
        table = store.metrics_table(row.model_id, "", np.tile(np.arange(n_samples), len(benches)),
                                    np.tile(labels, len(benches)), geo)
        bench_col = np.repeat(benches.benchmark_id.to_numpy(), n_samples)
        table = table.set_column(1, "benchmark_id", pa.array(bench_col, pa.string()))
        evals = pd.DataFrame({"model_id": row.model_id, "benchmark_id": benches.benchmark_id,
                              "n": n_samples,
                              "accuracy": correct.reshape(len(benches), -1).mean(1)})
        with store.transaction(con):
            store._insert_frame(con, "sample_metrics", table)
            store._insert_frame(con, "evaluations", evals)
    store.replace_rows(con, "models", pd.DataFrame(model_rows))
    con.close()
    tmp.replace(path)
    return path
