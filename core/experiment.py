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

__all__ = ["Experiment", "ArchSpec", "GuideSpec", "load_experiment", "PRESETS_DIR", "preset_path"]

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
    loss: str | None = None           # a `core.losses.LOSSES` name; None: cross-entropy, unnamed

    @property
    def label(self) -> str:
        """The architecture as the ``models.arch`` column names it: a LeNet-5 with its own
        feature width is its own family (``lenet5-m2``), and so is a named loss
        (``lenet5-m2-center``)."""
        label = self.arch if self.feature_dim is None else f"{self.arch}-m{self.feature_dim}"
        return label if self.loss is None else f"{label}-{self.loss}"


@dataclass(frozen=True)
class GuideSpec:
    """The Guide's networks (``[guide]``): LeNet-5 with a ``feature_dim``-D linear feature layer
    and, when ``normal_width``, LeNet-5 as it is, each trained densely with every loss of
    ``losses`` by one shared recipe. They are ordinary dense models (evaluated on every
    benchmark), never pruned."""

    enabled: bool = False
    feature_dim: int = 2
    normal_width: bool = True
    losses: tuple[str, ...] = ("ce", "label_smoothing", "center")
    epochs: float = 2.0
    lr: float = 0.05
    optimizer: str = "sgd"
    batch_size: int = 64
    weight_decay: float = 5e-4

    def arch_specs(self) -> tuple[ArchSpec, ...]:
        """One ArchSpec per (network, loss): the 2-D networks first."""
        dims = (self.feature_dim, None) if self.normal_width else (self.feature_dim,)
        return tuple(ArchSpec(arch="lenet5", epochs=self.epochs, lr=self.lr,
                              optimizer=self.optimizer, batch_size=self.batch_size,
                              weight_decay=self.weight_decay, feature_dim=dim, loss=loss)
                     for dim in dims for loss in self.losses)


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
    guide: GuideSpec = GuideSpec()         # the Guide's networks ([guide]); off unless enabled
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
    guide = raw.pop("guide", None)
    if guide is not None:
        kwargs["guide"] = _guide_spec(guide, path)
    if raw:
        raise ValueError(f"{path}: unknown section(s) {sorted(raw)}; expected name, seed, "
                         f"[dataset], [[arch]], [pruning], [mpt], [benchmarks], [analysis].")
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


def _guide_spec(values: dict, path: Path) -> GuideSpec:
    from .losses import LOSSES

    names = {f.name for f in fields(GuideSpec)}
    if set(values) - names:
        raise ValueError(f"{path}: unknown key(s) {sorted(set(values) - names)} in [guide]; "
                         f"expected some of {sorted(names)}.")
    spec = GuideSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})
    bad = [name for name in spec.losses if name not in LOSSES]
    if bad or not spec.losses:
        raise ValueError(f"{path}: [guide] `losses` must be names from {list(LOSSES)}. "
                         f"Got {list(spec.losses)} instead.")
    if spec.feature_dim < 1:
        raise ValueError(f"{path}: [guide] `feature_dim` must be >= 1. "
                         f"Got {spec.feature_dim} instead.")
    return spec
