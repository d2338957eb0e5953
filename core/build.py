"""The build: data → dense and pruned models → benchmarks → (model × benchmark) geometry → analysis.

Resumable and crash-safe. All writes go to a work file ``<db>.work``; each unit of work (a model
row, one (model, benchmark) result, one analysis table) is one transaction, and checkpoints and
corrupted sets are written to temporary files and renamed. After each stage — and every
``publish_every`` seconds during long stages — the work file is copied and atomically renamed over
``<db>``, so the app (read-only) always sees a complete database while the build runs. A rerun
continues from the work file (or the published DB) and skips finished work.

Training a model and evaluating one model on one benchmark are tasks — pure functions of arrays,
configs and checkpoint bytes (:func:`train_model_task`, :func:`evaluate_task`) — run by an
executor (``core.executors``): in this process by default, or on a Ray cluster. Results come back
to this process, the single database writer, as tasks finish. Dense models are built first (the
pruned ones start from them), then the rest in parallel.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import torch
from tqdm.auto import tqdm

from . import store
from .corruption_names import benchmark_id, category_of
from .data import Dataset, evaluation_subset, load_dataset
from .executors import Executor, LocalExecutor, Task
from .experiment import ArchSpec, Experiment
from .geometry import compute_geometry
from .models import arch_config, build_model, head_parameters, load_state_dict_file
from .train import config_hash, extract, fit, seed_everything, to_input

__all__ = ["Builder", "build", "BuildFailed", "model_id_for", "evaluate_pair", "ModelJob",
           "TrainedModel", "ModelWeights", "EvaluationResult", "train_model_task",
           "evaluate_task", "state_to_bytes", "state_from_bytes"]


def model_id_for(arch: str, width: float, method: str, ratio: float, retrained: bool,
                 seed: int) -> str:
    name = arch if width == 1 else f"{arch}x{width:g}"
    return f"{name}-{method}-r{ratio:.1f}{'-rt' if retrained else ''}-s{seed}"


class BuildFailed(RuntimeError):
    """Some tasks failed for good (after their retries); everything else is in the database."""

    def __init__(self, failures: list[str]):
        self.failures = list(failures)
        shown = "\n".join(f"  {f}" for f in failures[:20])
        more = f"\n  ... and {len(failures) - 20} more" if len(failures) > 20 else ""
        super().__init__(
            f"{len(failures)} task(s) failed; finished work is kept, rerun the same command to "
            f"retry them:\n{shown}{more}")


@torch.inference_mode()
def evaluate_pair(model: torch.nn.Module, x: torch.Tensor, labels: np.ndarray,
                  *, batch_size: int = 1000) -> tuple[dict, np.ndarray]:
    """Features → geometry of one model on one benchmark. Returns (geometry, features).

    The forward pass runs where ``model`` and ``x`` are; the geometry is computed on the CPU.
    """
    features, _ = extract(model, x, batch_size=batch_size)
    weight, bias = head_parameters(model)
    features = features.cpu()
    geo = compute_geometry(features, weight.cpu(), None if bias is None else bias.cpu(),
                           torch.as_tensor(labels))
    return geo, features.numpy()


# --- tasks: pure functions of arrays, configs and checkpoint bytes ---------------------------
def state_to_bytes(model: torch.nn.Module) -> bytes:
    """``torch.save(model.state_dict())`` as bytes (CPU tensors)."""
    buffer = io.BytesIO()
    torch.save({k: v.cpu() for k, v in model.state_dict().items()}, buffer)
    return buffer.getvalue()


def state_from_bytes(state: bytes) -> dict[str, torch.Tensor]:
    return torch.load(io.BytesIO(state), map_location="cpu", weights_only=True)


def _model_summary(model: torch.nn.Module) -> dict:
    """The ``models`` columns measured on the stored weights."""
    from .pruning import sparsity

    measured, total, nonzero = sparsity(model)
    return dict(sparsity=measured, params_total=total, params_nonzero=nonzero,
                feature_dim=head_parameters(model)[0].shape[1])


@dataclass(frozen=True)
class ModelJob:
    """One model to build: everything its task needs besides the training data."""

    model_id: str
    spec: ArchSpec
    width: float
    method: str                 # "dense", "mpt" or a pruning score method
    ratio: float
    retrained: bool
    config: str                 # ``arch_config`` JSON
    seed: int
    retrain_epochs: float
    retrain_lr: float
    mpt_epochs: float
    mpt_lr: float
    registered: bool = True     # False: a dense parent rebuilt only for its pruned children


@dataclass(frozen=True)
class TrainedModel:
    state: bytes                # state dict, see `state_to_bytes`
    summary: dict               # sparsity, params_total, params_nonzero, feature_dim
    seconds: float              # wall time of the task


def train_model_task(job: ModelJob, images: np.ndarray, labels: np.ndarray,
                     dense_state: bytes | None = None, *, device: str = "cpu",
                     progress: bool = False) -> TrainedModel:
    """Train (dense), prune (+ retrain) a dense parent, or search an MPT mask.

    ``images``: uint8 training images (N, H, W) or (N, H, W, C); ``labels``: (N,) class ids;
    ``dense_state``: the dense parent's state dict bytes (pruning methods only).
    """
    from .pruning import make_pruned_model

    t0 = time.perf_counter()
    x = to_input(images).to(device)
    y = torch.as_tensor(labels).to(device)
    spec = job.spec
    if job.method == "dense":
        seed_everything(job.seed)
        model = build_model(**json.loads(job.config)).to(device)
        fit(model, x, y, epochs=spec.epochs, lr=spec.lr, optimizer=spec.optimizer,
            batch_size=spec.batch_size, weight_decay=spec.weight_decay, seed=job.seed,
            progress=progress, desc=f"train {spec.arch}")
    elif job.method == "mpt":
        # MPT never uses trained weights: a fresh (wider) network supplies the shape.
        model = make_pruned_model(
            build_model(**json.loads(job.config)).to(device), "mpt", job.ratio, x=x, y=y,
            seed=job.seed, mpt_epochs=job.mpt_epochs, lr=job.mpt_lr, progress=progress)
    else:
        if dense_state is None:
            raise ValueError(f"{job.model_id}: method {job.method!r} needs `dense_state`, the "
                             "dense parent's weights.")
        base = build_model(**json.loads(job.config))
        base.load_state_dict(state_from_bytes(dense_state))
        model = make_pruned_model(
            base.to(device).eval(), job.method, job.ratio, x=x, y=y, seed=job.seed,
            retrain_epochs=job.retrain_epochs if job.retrained else 0, lr=job.retrain_lr,
            progress=progress)
    model = model.cpu().eval()
    return TrainedModel(state_to_bytes(model), _model_summary(model), time.perf_counter() - t0)


@dataclass(frozen=True)
class ModelWeights:
    """A model to evaluate: its registry config and state dict bytes; ``digest`` identifies both."""

    model_id: str
    config: str
    state: bytes
    digest: str

    @classmethod
    def of(cls, model_id: str, config: str, model: torch.nn.Module) -> "ModelWeights":
        state = state_to_bytes(model)
        return cls(model_id, config, state, hashlib.sha256(config.encode() + state).hexdigest())

    @classmethod
    def from_checkpoint(cls, model_id: str, config: str, checkpoint: str | Path) -> "ModelWeights":
        # Validated load (plain state dict, weights_only), then canonical bytes for the tasks.
        model = build_model(**json.loads(config))
        model.load_state_dict(load_state_dict_file(checkpoint))
        return cls.of(model_id, config, model)


@dataclass(frozen=True)
class EvaluationResult:
    metrics: pa.Table           # `sample_metrics` rows, see `store.metrics_table`
    evaluation: dict            # the `evaluations` row without its key
    features: np.ndarray | None  # (N, m) float32 head inputs, when asked for


# One model is evaluated on many benchmarks in a row; rebuilding it for each would cost more than
# the evaluation for large networks. One entry: the model of the previous task in this process.
_LOADED: dict[tuple[str, str], torch.nn.Module] = {}


def _loaded_model(weights: ModelWeights, device: str) -> torch.nn.Module:
    key = (weights.digest, device)
    if key not in _LOADED:
        _LOADED.clear()
        model = build_model(**json.loads(weights.config))
        model.load_state_dict(state_from_bytes(weights.state))
        _LOADED[key] = model.to(device).eval()
    return _LOADED[key]


def evaluate_task(weights: ModelWeights, benchmark_id: str, images: np.ndarray,
                  labels: np.ndarray, sample_ids: np.ndarray, *, keep_features: bool = False,
                  device: str = "cpu") -> EvaluationResult:
    """Evaluate one model on one benchmark: features → geometry → metrics.

    ``images``: uint8 (N, H, W) or (N, H, W, C); ``labels`` and ``sample_ids``: (N,).
    """
    model = _loaded_model(weights, device)
    geo, features = evaluate_pair(model, to_input(images).to(device), labels)
    metrics = store.metrics_table(weights.model_id, benchmark_id, sample_ids, labels, geo)
    correct = np.asarray(metrics["correct"])
    evaluation = dict(n=len(correct), accuracy=float(correct.mean()),
                      mean_angle=float(np.nanmean(geo["angle"].numpy())),
                      mean_l2=float(geo["l2"].mean()),
                      mean_margin=float(np.nanmean(geo["margin"].numpy())),
                      mean_prob=float(geo["prob"].mean()))
    return EvaluationResult(metrics, evaluation, features if keep_features else None)


def _label(job: ModelJob) -> str:
    return f"{'build' if job.registered else 'build parent'} {job.model_id}"


class Builder:
    """Runs one experiment into one database file."""

    def __init__(self, experiment: Experiment, db_path: str | Path, *,
                 cache_dir: str | Path = "cache", progress: bool = True,
                 publish_every: float = 30.0, executor: Executor | None = None):
        self.e = experiment
        self.executor = executor or LocalExecutor()
        self.failures: list[str] = []
        self.bar = None
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
            os.utime(self.db_path)  # readers order versions by mtime: keep it increasing
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

    def _add_to_bar(self, n_tasks: int) -> None:
        """One progress bar for the whole grid (models, then pairs); stages add their tasks."""
        if self.bar is None:
            self.bar = tqdm(total=0, desc="grid", disable=not self.progress, unit="task")
        self.bar.total += n_tasks
        self.bar.refresh()

    def _finished(self, label: str, error: str | None = None) -> bool:
        """Count a finished task; record it when it failed. True when it succeeded."""
        self.bar.update(1)
        self.bar.set_postfix_str(label, refresh=False)
        if error is None:
            return True
        self.failures.append(f"{label}: {error}")
        self.say(f"failed: {self.failures[-1]}")
        return False

    # --- stages --------------------------------------------------------------------------
    def run(self) -> dict[str, float]:
        """Run every stage; raises :class:`BuildFailed` (after publishing) when tasks failed."""
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
                if name == "analysis" and self.failures:
                    # Tables over an incomplete grid would be marked current; the rerun makes them.
                    self.say(f"analysis skipped: {len(self.failures)} task(s) failed")
                    continue
                t0 = time.perf_counter()
                if stage():
                    changed = True
                    self.publish()
                timings[name] = time.perf_counter() - t0
            if self.bar is not None:
                self.bar.close()
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
        if self.failures:
            raise BuildFailed(self.failures)
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

    def _job_checkpoint(self, job: ModelJob) -> Path:
        key = dict(experiment_data=(self.e.dataset, self.e.train_limit), arch=job.config,
                   spec=asdict(job.spec), method=job.method, ratio=job.ratio,
                   retrained=job.retrained, seed=job.seed)
        if job.method != "dense":
            key.update(retrain_epochs=self.e.retrain_epochs, retrain_lr=self.e.retrain_lr,
                       mpt=(self.e.mpt_epochs, self.e.mpt_lr))
        return self._checkpoint_path(key)

    def _write_checkpoint(self, state: bytes, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".partial")
        tmp.write_bytes(state)
        os.replace(tmp, path)

    def _model_job(self, spec: ArchSpec, width: float, method: str, ratio: float,
                   retrained: bool, in_channels: int, *, registered: bool = True) -> ModelJob:
        config = arch_config(spec.arch, in_channels=in_channels, num_classes=self.num_classes,
                             width=width, input_size=self.shape[0])
        return ModelJob(
            model_id=model_id_for(spec.arch, width, method, ratio, retrained, self.e.seed),
            spec=spec, width=width, method=method, ratio=ratio, retrained=retrained,
            config=config, seed=self.e.seed, retrain_epochs=self.e.retrain_epochs,
            retrain_lr=self.e.retrain_lr, mpt_epochs=self.e.mpt_epochs, mpt_lr=self.e.mpt_lr,
            registered=registered)

    def _parent_of(self, job: ModelJob, in_channels: int) -> ModelJob:
        """The dense model a pruned model starts from (built, not registered, when missing)."""
        return self._model_job(job.spec, job.spec.width, "dense", 0.0, False, in_channels,
                               registered=False)

    def _register(self, job: ModelJob, summary: dict, ckpt: Path, seconds: float) -> None:
        store.upsert_model(self.con, dict(
            model_id=job.model_id, arch=job.spec.arch, dataset=self.e.dataset, method=job.method,
            ratio=job.ratio, retrained=job.retrained, seed=job.seed, width=job.width,
            arch_config=job.config, checkpoint=str(ckpt.resolve()), source="built",
            fit_seconds=seconds, **summary))

    def _known_models(self) -> set[str]:
        rows = self.con.execute("SELECT model_id, checkpoint FROM models").fetchall()
        return {m for m, c in rows if c and Path(c).is_file()}

    def _build_models(self, train: Dataset) -> bool:
        self.num_classes = len(train.class_names)
        in_channels = 1 if train.images.ndim == 3 else train.images.shape[3]
        grid = []
        for spec in self.e.archs:
            grid.append((spec, spec.width, "dense", 0.0, False))
            for method in self.e.methods:
                for retrained in self.e.retrain:
                    grid += [(spec, spec.width, method, r, retrained) for r in self.e.ratios]
            if self.e.mpt:
                grid += [(spec, spec.width * self.e.mpt_width, "mpt", r, False)
                         for r in self.e.mpt_ratios]
        jobs = [self._model_job(*g, in_channels) for g in grid]
        known = self._known_models()
        todo = [j for j in jobs if j.model_id not in known]
        self.say(f"models: {len(jobs) - len(todo)} of {len(jobs)} already built")
        if not todo:
            return False
        cached = [j for j in todo if self._job_checkpoint(j).is_file()]
        # Pruned models start from their dense parent: dense models (and MPT, which starts from a
        # fresh network) run first, with any parent missing from the cache; then the pruned ones.
        first = [j for j in todo if j not in cached and j.method in ("dense", "mpt")]
        pruned = [j for j in todo if j not in cached and j.method not in ("dense", "mpt")]
        parent_of = {j: self._parent_of(j, in_channels) for j in pruned}
        planned = {self._job_checkpoint(j) for j in first}
        for parent in parent_of.values():
            path = self._job_checkpoint(parent)
            if path not in planned and not path.is_file():
                first.append(parent)
                planned.add(path)
        self._model_tasks = (0, len(cached) + len(first) + len(pruned))
        self._add_to_bar(self._model_tasks[1])
        for job in cached:
            ckpt = self._job_checkpoint(job)
            t0 = time.perf_counter()
            model = build_model(**json.loads(job.config))
            model.load_state_dict(load_state_dict_file(ckpt, arch=job.spec.arch))
            self._register(job, _model_summary(model.eval()), ckpt, time.perf_counter() - t0)
            self._model_done(job)

        if not first and not pruned:
            self._progress("models", *self._model_tasks, "done")
            return True
        ex = self.executor
        images, labels = ex.put(train.images), ex.put(train.labels)
        built = self._run_model_tasks(first, images, labels, {})
        states: dict[Path, object] = {}     # parent checkpoint → handle of its state bytes
        for parent in parent_of.values():
            path = self._job_checkpoint(parent)
            if path in states:
                continue
            if path in built:
                states[path] = ex.put(built[path])
            elif path.is_file():
                states[path] = ex.put(ModelWeights.from_checkpoint(
                    parent.model_id, parent.config, path).state)
        ready = {j: states[self._job_checkpoint(p)] for j, p in parent_of.items()
                 if self._job_checkpoint(p) in states}
        for job in pruned:
            if job not in ready:
                self._model_done(job, f"not run: its dense parent {parent_of[job].model_id} "
                                      "failed")
        self._run_model_tasks([j for j in pruned if j in ready], images, labels, ready)
        self._progress("models", *self._model_tasks, "done")
        return True

    def _run_model_tasks(self, jobs: list[ModelJob], images, labels,
                         parent_state: dict[ModelJob, object]) -> dict[Path, bytes]:
        """Run model tasks; write and register each result as it arrives. Returns the state
        bytes of the dense models built (by checkpoint path) for their pruned children."""
        ex = self.executor
        progress = self.progress and not ex.remote
        tasks = (Task(job, _label(job), train_model_task,
                      (job, images, labels, parent_state.get(job)),
                      dict(device=ex.device, progress=progress)) for job in jobs)
        dense: dict[Path, bytes] = {}
        for outcome in ex.run(tasks):
            job: ModelJob = outcome.task.key
            if outcome.error is None:
                result: TrainedModel = outcome.value
                ckpt = self._job_checkpoint(job)
                self._write_checkpoint(result.state, ckpt)
                if job.method == "dense":
                    dense[ckpt] = result.state
                if job.registered:
                    self._register(job, result.summary, ckpt, result.seconds)
            self._model_done(job, outcome.error)
        return dense

    def _model_done(self, job: ModelJob, error: str | None = None) -> None:
        self._finished(_label(job), error)
        done, total = self._model_tasks
        self._model_tasks = (done + 1, total)
        self._progress("models", done + 1, total, job.model_id)
        self._maybe_publish()

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
        self._add_to_bar(len(todo))
        ex = self.executor
        # Large inputs go to the executor once; each model's weights once, when its first pair
        # is submitted (tasks are consumed lazily, so only a few models are held at a time).
        images = {b: ex.put(self.benchmark_images[b]) for b in {b for _, b in todo}}
        labels, sample_ids = ex.put(self.test_labels), ex.put(self.sample_ids)
        by_model = {m: (cfg, ck) for m, cfg, ck in models}

        def tasks() -> Iterator[Task]:
            for model_id, pairs in itertools.groupby(todo, key=lambda pair: pair[0]):
                weights = ex.put(ModelWeights.from_checkpoint(model_id, *by_model[model_id]))
                for _, bench in pairs:
                    yield Task((model_id, bench), f"evaluate {model_id} on {bench}",
                               evaluate_task,
                               (weights, bench, images[bench], labels, sample_ids),
                               dict(keep_features=bench in self.e.features_for,
                                    device=ex.device))

        for i, outcome in enumerate(ex.run(tasks())):
            model_id, bench = outcome.task.key
            if self._finished(outcome.task.label, outcome.error):
                result: EvaluationResult = outcome.value
                store.write_result(self.con, model_id, bench, result.metrics, result.evaluation,
                                   features=result.features)
            if i % 25 == 0:
                self._progress("evaluate", i, len(todo), f"{model_id} on {bench}")
                self._maybe_publish()
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


def build(experiment: Experiment, db_path: str | Path, *, executor: Executor | None = None,
          **kwargs) -> dict[str, float]:
    """Run (or resume) an experiment into ``db_path``. Returns seconds per stage.

    ``executor`` runs the tasks (default: this process, see ``core.executors``); the caller
    closes it. Raises :class:`BuildFailed` when tasks failed for good (the rest is published).
    """
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    return Builder(experiment, db_path, executor=executor, **kwargs).run()
