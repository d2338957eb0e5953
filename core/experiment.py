"""Experiments as TOML files: dataset, architectures, pruning grid, benchmarks, evaluation subset.

``experiments/{tiny,demo,paper}.toml`` are the presets; any other file runs with
``python -m core build --experiment FILE``. Unknown keys are errors (a typo must not silently
change an experiment).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from .corruption_names import CORRUPTIONS

__all__ = ["Experiment", "ArchSpec", "load_experiment", "PRESETS_DIR", "preset_path"]

PRESETS_DIR = Path(__file__).resolve().parent.parent / "experiments"


@dataclass(frozen=True)
class ArchSpec:
    """One architecture to train densely and prune."""

    arch: str = "lenet5"
    width: float = 1.0
    epochs: float = 1.0
    lr: float = 0.01
    optimizer: str = "sgd"
    batch_size: int = 128
    weight_decay: float = 5e-4
    feature_dim: int | None = None    # penultimate width m (LeNet-5 only); None: the model's own

    @property
    def label(self) -> str:
        """The architecture as the ``models.arch`` column names it: a LeNet-5 with its own
        feature width is its own family (``lenet5-m2``)."""
        return self.arch if self.feature_dim is None else f"{self.arch}-m{self.feature_dim}"


@dataclass(frozen=True)
class Experiment:
    name: str
    dataset: str = "fashion_mnist"
    root: str | None = None
    train_limit: int = 0                   # 0 = whole train split
    n_per_class: int = 100                 # evaluation subset: this many test images per class
    subset_seed: int = 0
    seed: int = 0
    archs: tuple[ArchSpec, ...] = (ArchSpec(),)
    methods: tuple[str, ...] = ("random", "magnitude", "snip", "taylor2")
    ratios: tuple[float, ...] = tuple(round(r / 10, 1) for r in range(1, 10))
    retrain: tuple[bool, ...] = (False, True)
    retrain_epochs: float = 0.5
    retrain_lr: float = 0.01
    mpt: bool = True
    mpt_width: float = 2.0
    mpt_epochs: float = 1.0
    mpt_lr: float = 0.1
    mpt_ratios: tuple[float, ...] = tuple(round(r / 10, 1) for r in range(1, 10))
    benchmark_source: str = "generated"    # or "directory"
    benchmark_path: str | None = None      # a pre-made -C directory when source = "directory"
    corruptions: tuple[str, ...] = CORRUPTIONS
    severities: tuple[int, ...] = (1, 2, 3, 4, 5)
    analysis: bool = True
    features_for: tuple[str, ...] = ("clean",)   # benchmarks whose raw features are stored (CKA)
    # The curse-of-dimensionality study (core.study): LeNet-5 at each penultimate width, briefly
    # trained on a stratified training subset; off unless the experiment asks for it.
    dimension_study: bool = False
    dimension_study_widths: tuple[int, ...] = (8, 16, 32, 84, 256, 512)
    dimension_study_epochs: float = 1.0
    dimension_study_train_limit: int = 10000     # 0 = the build's whole training data
    extra: dict = field(default_factory=dict)


_SECTIONS = {
    "dataset": {"name": "dataset", "root": "root", "train_limit": "train_limit",
                "n_per_class": "n_per_class", "subset_seed": "subset_seed"},
    "pruning": {"methods": "methods", "ratios": "ratios", "retrain": "retrain",
                "retrain_epochs": "retrain_epochs", "retrain_lr": "retrain_lr"},
    "mpt": {"enabled": "mpt", "width": "mpt_width", "epochs": "mpt_epochs", "lr": "mpt_lr",
            "ratios": "mpt_ratios"},
    "benchmarks": {"source": "benchmark_source", "path": "benchmark_path",
                   "corruptions": "corruptions", "severities": "severities",
                   "features_for": "features_for"},
    "analysis": {"enabled": "analysis"},
    "dimension_study": {"enabled": "dimension_study", "widths": "dimension_study_widths",
                        "epochs": "dimension_study_epochs",
                        "train_limit": "dimension_study_train_limit"},
}


def preset_path(name: str) -> Path:
    path = PRESETS_DIR / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in PRESETS_DIR.glob("*.toml")))
        raise ValueError(f"`preset` must be one of {known}. Got {name!r} instead.")
    return path


def load_experiment(path: str | Path) -> Experiment:
    """Parse and validate an experiment TOML file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Experiment file {path} does not exist.")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"Experiment file {path} is not valid TOML: {exc}") from exc
    kwargs: dict = {"name": raw.pop("name", path.stem)}
    if "seed" in raw:
        kwargs["seed"] = int(raw.pop("seed"))
    for section, mapping in _SECTIONS.items():
        values = raw.pop(section, {})
        unknown = set(values) - set(mapping)
        if unknown:
            raise ValueError(f"{path}: unknown key(s) {sorted(unknown)} in [{section}]; "
                             f"expected some of {sorted(mapping)}.")
        for key, attr in mapping.items():
            if key in values:
                value = values[key]
                kwargs[attr] = tuple(value) if isinstance(value, list) else value
    archs = raw.pop("arch", None)
    if archs is not None:
        names = {f.name for f in fields(ArchSpec)}
        for spec in archs:
            if set(spec) - names:
                raise ValueError(f"{path}: unknown key(s) {sorted(set(spec) - names)} in "
                                 f"[[arch]]; expected some of {sorted(names)}.")
        kwargs["archs"] = tuple(ArchSpec(**spec) for spec in archs)
    if raw:
        raise ValueError(f"{path}: unknown section(s) {sorted(raw)}; expected name, seed, "
                         f"[dataset], [[arch]], [pruning], [mpt], [benchmarks], [analysis], "
                         f"[dimension_study].")
    if kwargs.get("corruptions") == ("all",):
        kwargs["corruptions"] = CORRUPTIONS
    experiment = Experiment(**kwargs)
    _validate(experiment, path)
    return experiment


def _validate(e: Experiment, path: Path) -> None:
    for r in e.ratios + e.mpt_ratios:
        if not 0 < r < 1:
            raise ValueError(f"{path}: `ratio` must be in (0, 1). Got {r} instead.")
    bad = [c for c in e.corruptions if c not in CORRUPTIONS]
    if bad:
        raise ValueError(f"{path}: unknown corruption(s) {bad}; expected names from SPEC §4.")
    if any(s not in (1, 2, 3, 4, 5) for s in e.severities):
        raise ValueError(f"{path}: `severities` must be within 1..5. Got {e.severities} instead.")
    if e.benchmark_source not in ("generated", "directory"):
        raise ValueError(f"{path}: [benchmarks] source must be 'generated' or 'directory'. "
                         f"Got {e.benchmark_source!r} instead.")
    if e.benchmark_source == "directory" and not e.benchmark_path:
        raise ValueError(f"{path}: [benchmarks] source = 'directory' needs a `path`.")
    if e.n_per_class < 1:
        raise ValueError(f"{path}: `n_per_class` must be >= 1. Got {e.n_per_class} instead.")
    _validate_dimension_study(e, path)


def _validate_dimension_study(e: Experiment, path: Path) -> None:
    widths = e.dimension_study_widths
    if not isinstance(widths, tuple) or not widths or any(
            isinstance(m, bool) or not isinstance(m, int) or m < 1 for m in widths):
        shown = list(widths) if isinstance(widths, tuple) else widths
        raise ValueError(f"{path}: [dimension_study] `widths` must be a non-empty list of "
                         f"positive integers. Got {shown!r} instead.")
    if len(set(widths)) != len(widths):
        raise ValueError(f"{path}: [dimension_study] `widths` must not repeat a width. "
                         f"Got {list(widths)} instead.")
    epochs = e.dimension_study_epochs
    if isinstance(epochs, bool) or not isinstance(epochs, (int, float)) or not epochs > 0:
        raise ValueError(f"{path}: [dimension_study] `epochs` must be > 0. Got {epochs!r} "
                         "instead.")
    limit = e.dimension_study_train_limit
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise ValueError(f"{path}: [dimension_study] `train_limit` must be an integer >= 0. "
                         f"Got {limit!r} instead.")
