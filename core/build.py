"""The build: data → dense and pruned models → benchmarks → (model × benchmark) geometry → analysis.

Resumable and crash-safe. All writes go to a work file ``<db>.work``; each unit of work (a model
row, one (model, benchmark) result, one analysis table) is one transaction, and checkpoints and
corrupted sets are written to temporary files and renamed. After each stage — and every
``publish_every`` seconds during long stages — the work file is copied and atomically renamed over
``<db>``, so the app (read-only) always sees a complete database while the build runs. A rerun
continues from the work file (or the published DB) and skips finished work.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from . import store
from .corruption_names import benchmark_id, category_of
from .data import Dataset, evaluation_subset, load_dataset
from .experiment import ArchSpec, Experiment
from .geometry import compute_geometry
from .models import arch_config, build_model, head_parameters, load_state_dict_file
from .train import config_hash, evaluate, extract, fit, seed_everything, to_input

__all__ = ["Builder", "build", "model_id_for", "evaluate_pair"]


def model_id_for(arch: str, width: float, method: str, ratio: float, retrained: bool,
                 seed: int) -> str:
    name = arch if width == 1 else f"{arch}x{width:g}"
    return f"{name}-{method}-r{ratio:.1f}{'-rt' if retrained else ''}-s{seed}"


@torch.inference_mode()
def evaluate_pair(model: torch.nn.Module, x: torch.Tensor, labels: np.ndarray,
                  *, batch_size: int = 1000) -> tuple[dict, np.ndarray]:
    """Features → geometry of one model on one benchmark. Returns (geometry, features)."""
    features, _ = extract(model, x, batch_size=batch_size)
    weight, bias = head_parameters(model)
    geo = compute_geometry(features, weight, bias, torch.as_tensor(labels))
    return geo, features.numpy()


class Builder:
    """Runs one experiment into one database file."""

    def __init__(self, experiment: Experiment, db_path: str | Path, *,
                 cache_dir: str | Path = "cache", progress: bool = True,
                 publish_every: float = 30.0):
        self.e = experiment
        self.db_path = Path(db_path)
        self.work_path = self.db_path.with_name(self.db_path.name + ".work")
        self.cache = Path(cache_dir)
        self.progress = progress
        self.publish_every = publish_every
        self._last_publish = 0.0
        self.con = None
        self.log: list[str] = []

    # --- database life cycle -------------------------------------------------------------
    def _open(self, num_classes: int) -> None:
        if not self.work_path.exists() and self.db_path.exists():
            store.connect(self.db_path, read_only=True).close()   # schema-version check
            shutil.copyfile(self.db_path, self.work_path)
        self.con = store.connect(self.work_path)
        store.create_schema(self.con, num_classes=num_classes)

    def publish(self, *, final: bool = False) -> None:
        """Make the work file's committed state visible at ``db_path`` atomically."""
        self.con.execute("CHECKPOINT")
        self.con.close()
        if final:
            os.replace(self.work_path, self.db_path)
            self.con = None
            return
        tmp = self.db_path.with_name(self.db_path.name + ".publish")
        shutil.copyfile(self.work_path, tmp)
        os.replace(tmp, self.db_path)
        self.con = store.connect(self.work_path)
        self._last_publish = time.monotonic()

    def _maybe_publish(self) -> None:
        if time.monotonic() - self._last_publish > self.publish_every:
            self.publish()

    def _progress(self, stage: str, done: int, total: int, message: str = "") -> None:
        self.con.execute(
            "INSERT OR REPLACE INTO build_progress VALUES (?, ?, ?, ?, now())",
            [stage, done, total, message])

    def say(self, text: str) -> None:
        self.log.append(text)
        tqdm.write(text)

    # --- stages --------------------------------------------------------------------------
    def run(self) -> dict[str, float]:
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        train, test = self._load_data()
        timings["data"] = time.perf_counter() - t0
        self._open(len(test.class_names))
        try:
            self._write_dataset(test)
            changed = False
            for name, stage in (("models", lambda: self._build_models(train)),
                                ("benchmarks", lambda: self._build_benchmarks(test)),
                                ("evaluate", self._evaluate),
                                ("analysis", self._analysis)):
                t0 = time.perf_counter()
                if stage():
                    changed = True
                    self.publish()
                timings[name] = time.perf_counter() - t0
            if changed or not self.db_path.exists():
                self.publish(final=True)
            else:
                self.say(f"nothing to do: {self.db_path} is up to date")
                self.con.close()
                self.con = None
                self.work_path.unlink(missing_ok=True)
        finally:
            if self.con is not None:
                self.con.close()
        return timings

    def _load_data(self) -> tuple[Dataset, Dataset]:
        train = load_dataset(self.e.dataset, split="train", root=self.e.root)
        test = load_dataset(self.e.dataset, split="test", root=self.e.root)
        if self.e.train_limit:
            keep = evaluation_subset(train.labels, seed=self.e.seed,
                                     n_per_class=max(1, self.e.train_limit // len(train.class_names)))
            train = Dataset(train.images[keep], train.labels[keep], train.class_names)
        self.sample_ids = evaluation_subset(test.labels, n_per_class=self.e.n_per_class,
                                            seed=self.e.subset_seed)
        self.test_images = test.images[self.sample_ids]
        self.test_labels = test.labels[self.sample_ids]
        return train, test

    def _write_dataset(self, test: Dataset) -> None:
        h, w = test.images.shape[1:3]
        channels = 1 if test.images.ndim == 3 else test.images.shape[3]
        self.shape = (h, w, channels)
        info = pd.DataFrame([dict(dataset=self.e.dataset, num_classes=len(test.class_names),
                                  class_names=list(test.class_names), height=h, width=w,
                                  channels=channels, split="test", n_eval=len(self.sample_ids))])
        existing = self.con.execute("SELECT * FROM dataset_info").df()
        if existing.empty:
            store.replace_rows(self.con, "dataset_info", info)
        elif (existing.dataset[0] != self.e.dataset or int(existing.n_eval[0]) != len(self.sample_ids)):
            raise ValueError(
                f"Database {self.db_path} holds dataset {existing.dataset[0]!r} with "
                f"{int(existing.n_eval[0])} evaluation samples; this experiment uses "
                f"{self.e.dataset!r} with {len(self.sample_ids)}. Use another --db.")

    # models -------------------------------------------------------------------------------
    def _checkpoint_path(self, config: dict) -> Path:
        return self.cache / "checkpoints" / f"{config_hash(config)}.pt"

    def _save_checkpoint(self, model: torch.nn.Module, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".partial")
        torch.save(model.state_dict(), tmp)
        os.replace(tmp, path)

    def _model_spec(self, spec: ArchSpec, width: float, in_channels: int) -> str:
        return arch_config(spec.arch, in_channels=in_channels, num_classes=self.num_classes,
                           width=width, input_size=self.shape[0])

    def _register(self, model_id: str, spec: ArchSpec, width: float, method: str, ratio: float,
                  retrained: bool, model: torch.nn.Module, config: str, ckpt: Path,
                  seconds: float, source: str = "built") -> None:
        from .pruning import sparsity

        measured, total, nonzero = sparsity(model)
        store.upsert_model(self.con, dict(
            model_id=model_id, arch=spec.arch, dataset=self.e.dataset, method=method,
            ratio=ratio, retrained=retrained, sparsity=measured, params_total=total,
            params_nonzero=nonzero, seed=self.e.seed, width=width,
            feature_dim=head_parameters(model)[0].shape[1], arch_config=config,
            checkpoint=str(ckpt.resolve()), source=source, fit_seconds=seconds))

    def _known_models(self) -> set[str]:
        rows = self.con.execute("SELECT model_id, checkpoint FROM models").fetchall()
        return {m for m, c in rows if c and Path(c).is_file()}

    def _build_models(self, train: Dataset) -> bool:
        from .pruning import make_pruned_model

        self.num_classes = len(train.class_names)
        x = to_input(train.images)
        y = torch.as_tensor(train.labels)
        in_channels = x.shape[1]
        known = self._known_models()
        jobs = []
        for spec in self.e.archs:
            jobs.append((spec, spec.width, "dense", 0.0, False))
            for method in self.e.methods:
                for retrained in self.e.retrain:
                    jobs += [(spec, spec.width, method, r, retrained) for r in self.e.ratios]
            if self.e.mpt:
                jobs += [(spec, spec.width * self.e.mpt_width, "mpt", r, False)
                         for r in self.e.mpt_ratios]
        todo = [j for j in jobs if model_id_for(j[0].arch, j[1], j[2], j[3], j[4], self.e.seed)
                not in known]
        self.say(f"models: {len(jobs) - len(todo)} of {len(jobs)} already built")
        dense: dict[str, torch.nn.Module] = {}
        bar = tqdm(todo, desc="models", disable=not self.progress, unit="model")
        for i, (spec, width, method, ratio, retrained) in enumerate(bar):
            model_id = model_id_for(spec.arch, width, method, ratio, retrained, self.e.seed)
            bar.set_postfix_str(model_id)
            self._progress("models", i, len(todo), model_id)
            config = self._model_spec(spec, width, in_channels)
            key = dict(experiment_data=(self.e.dataset, self.e.train_limit), arch=config,
                       spec=asdict(spec), method=method, ratio=ratio, retrained=retrained,
                       seed=self.e.seed)
            if method != "dense":
                key.update(retrain_epochs=self.e.retrain_epochs, retrain_lr=self.e.retrain_lr,
                           mpt=(self.e.mpt_epochs, self.e.mpt_lr))
            ckpt = self._checkpoint_path(key)
            t0 = time.perf_counter()
            if ckpt.is_file():
                model = build_model(**json.loads(config))
                model.load_state_dict(load_state_dict_file(ckpt, arch=spec.arch))
            elif method == "dense":
                model = self._train_dense(spec, config, x, y)
            elif method == "mpt":
                # MPT never uses trained weights: a fresh (wider) network supplies the shape.
                model = make_pruned_model(
                    build_model(**json.loads(config)), "mpt", ratio, x=x, y=y, seed=self.e.seed,
                    mpt_epochs=self.e.mpt_epochs, lr=self.e.mpt_lr, progress=self.progress)
            else:
                base = dense.get(spec.arch) or self._dense_model(spec, in_channels, x, y)
                dense[spec.arch] = base
                model = make_pruned_model(
                    base, method, ratio, x=x, y=y, seed=self.e.seed,
                    retrain_epochs=self.e.retrain_epochs if retrained else 0,
                    lr=self.e.retrain_lr, progress=self.progress)
            model.eval()
            if not ckpt.is_file():
                self._save_checkpoint(model, ckpt)
            if method == "dense":
                dense[spec.arch] = model
            self._register(model_id, spec, width, method, ratio, retrained, model, config, ckpt,
                           time.perf_counter() - t0)
            self._maybe_publish()
        if todo:
            self._progress("models", len(todo), len(todo), "done")
        return bool(todo)

    def _dense_model(self, spec, in_channels, x, y) -> torch.nn.Module:
        config = self._model_spec(spec, spec.width, in_channels)
        key = dict(experiment_data=(self.e.dataset, self.e.train_limit), arch=config,
                   spec=asdict(spec), method="dense", ratio=0.0, retrained=False,
                   seed=self.e.seed)
        ckpt = self._checkpoint_path(key)
        if ckpt.is_file():
            model = build_model(**json.loads(config))
            model.load_state_dict(load_state_dict_file(ckpt, arch=spec.arch))
            return model.eval()
        model = self._train_dense(spec, config, x, y)
        self._save_checkpoint(model, ckpt)
        return model

    def _train_dense(self, spec: ArchSpec, config: str, x, y) -> torch.nn.Module:
        seed_everything(self.e.seed)
        model = build_model(**json.loads(config))
        fit(model, x, y, epochs=spec.epochs, lr=spec.lr, optimizer=spec.optimizer,
            batch_size=spec.batch_size, weight_decay=spec.weight_decay, seed=self.e.seed,
            progress=self.progress, desc=f"train {spec.arch}")
        return model.eval()

    # benchmarks ---------------------------------------------------------------------------
    def _benchmark_ids(self) -> list[tuple[str, str, int]]:
        rows = [("clean", "clean", 0)]
        rows += [(benchmark_id(c, s), c, s) for c in self.e.corruptions for s in self.e.severities]
        return rows

    def _build_benchmarks(self, test: Dataset) -> bool:
        from . import corruptions

        n = len(self.sample_ids)
        if self.e.benchmark_source == "generated":
            directory = corruptions.generate_benchmark_set(
                self.test_images, sample_ids=self.sample_ids, seed=self.e.seed,
                labels=self.test_labels, corruptions=self.e.corruptions,
                cache_dir=self.cache / "corrupted" / self._subset_key(),
                progress=self.progress)
            arrays = corruptions.load_c_directory(directory, clean_labels=self.test_labels,
                                                  corruptions=self.e.corruptions)
        else:
            full = corruptions.load_c_directory(Path(self.e.benchmark_path),
                                                clean_labels=test.labels,
                                                corruptions=self.e.corruptions)
            # Pre-made sets cover the whole test split: keep the evaluation subset of each block.
            index = (np.arange(5)[:, None] * len(test.labels) + self.sample_ids[None, :]).ravel()
            arrays = {name: arr[index] for name, arr in full.items()}
        self.benchmark_images = {"clean": self.test_images}
        for corruption, array in arrays.items():
            for s in self.e.severities:
                self.benchmark_images[benchmark_id(corruption, s)] = \
                    corruptions.severity_block(array, s, n)
        have = set(r[0] for r in self.con.execute(
            "SELECT DISTINCT benchmark_id FROM images").fetchall())
        rows = [r for r in self._benchmark_ids() if r[0] not in have]
        h, w, ch = self.shape
        for b, c, s in rows:
            # Benchmark row and its images in one transaction: both or neither after a crash.
            images = self.benchmark_images[b]
            with store.transaction(self.con):
                store.insert_rows(self.con, "benchmarks", pd.DataFrame([dict(
                    benchmark_id=b, dataset=self.e.dataset, corruption=c, severity=s,
                    category=category_of(c))]))
                store.insert_rows(self.con, "images", pd.DataFrame({
                    "benchmark_id": b, "sample_id": self.sample_ids.astype(np.int32),
                    "label": self.test_labels.astype(np.int16), "height": h, "width": w,
                    "channels": ch, "pixels": [img.tobytes() for img in images]}))
        return bool(rows)

    def _subset_key(self) -> str:
        return config_hash(dict(dataset=self.e.dataset, root=self.e.root,
                                n=self.e.n_per_class, seed=self.e.subset_seed,
                                corruption_seed=self.e.seed))

    # evaluation ---------------------------------------------------------------------------
    def _evaluate(self) -> bool:
        models = self.con.execute(
            "SELECT model_id, arch_config, checkpoint FROM models ORDER BY model_id").fetchall()
        done = store.done_pairs(self.con)
        bench_ids = [b for b, _, _ in self._benchmark_ids()]
        todo = [(m, b) for m, _, _ in models for b in bench_ids if (m, b) not in done]
        self.say(f"evaluate: {len(done)} (model, benchmark) pairs done, {len(todo)} to do")
        if not todo:
            return False
        inputs = {b: to_input(self.benchmark_images[b]) for b in bench_ids}
        by_model = {m: (cfg, ck) for m, cfg, ck in models}
        bar = tqdm(total=len(todo), desc="evaluate", disable=not self.progress, unit="pair")
        loaded: tuple[str, torch.nn.Module] | None = None
        for i, (model_id, bench) in enumerate(todo):
            if loaded is None or loaded[0] != model_id:
                cfg, ck = by_model[model_id]
                model = build_model(**json.loads(cfg))
                model.load_state_dict(load_state_dict_file(ck))
                loaded = (model_id, model.eval())
            geo, feats = evaluate_pair(loaded[1], inputs[bench], self.test_labels)
            table = store.metrics_table(model_id, bench, self.sample_ids, self.test_labels, geo)
            correct = np.asarray(table["correct"])
            evaluation = dict(n=len(correct), accuracy=float(correct.mean()),
                              mean_angle=float(np.nanmean(geo["angle"].numpy())),
                              mean_l2=float(geo["l2"].mean()),
                              mean_margin=float(np.nanmean(geo["margin"].numpy())),
                              mean_prob=float(geo["prob"].mean()))
            store.write_result(self.con, model_id, bench, table, evaluation,
                               features=feats if bench in self.e.features_for else None)
            bar.update(1)
            if i % 25 == 0:
                self._progress("evaluate", i, len(todo), f"{model_id} on {bench}")
                self._maybe_publish()
        bar.close()
        self._progress("evaluate", len(todo), len(todo), "done")
        return True

    def _analysis(self) -> bool:
        if not self.e.analysis:
            return False
        from .analysis_tables import update_analysis

        timings = update_analysis(self.con, progress=self.progress)
        if timings:
            self.say("analysis: " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()))
        return bool(timings)


def build(experiment: Experiment, db_path: str | Path, **kwargs) -> dict[str, float]:
    """Run (or resume) an experiment into ``db_path``. Returns seconds per stage."""
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    return Builder(experiment, db_path, **kwargs).run()
