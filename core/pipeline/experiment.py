"""Experiments as TOML files: dataset, architectures, pruning grid, benchmarks, evaluation subset.

``experiments/{tiny,demo,paper}.toml`` are the presets; any other file runs with
``python -m core build --experiment FILE``. Every file is validated when it is loaded, before any
work: unknown keys are errors (a typo must not silently change an experiment), and every value
is checked against its key's :class:`Rule` (``core.pipeline.experiment_rules``: type, range or
choices, uniqueness), so a bad value fails with one message such as "`ratios` must be a list of numbers in (0, 1). Got 0.5 instead."

To add a key, add it to ``_SECTIONS`` (or ``_ARCH_KEYS``) with its rule. Pruning methods and
architectures are validated against their registries (``core.pruning.METHODS``,
``core.models.MODELS``), so new ones are accepted as soon as they are registered.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

from ..corruption_names import CORRUPTIONS
from .experiment_rules import (_ARCH_RULE, _POSITIVE, _RATIOS, Rule, _boolean, _choice,
                               _integer, _known_datasets, _known_losses, _known_methods,
                               _list_of, _number, _text)

__all__ = ["Experiment", "ArchSpec", "GuideSpec", "Rule", "load_experiment", "PRESETS_DIR",
           "preset_path"]

PRESETS_DIR = Path(__file__).resolve().parents[2] / "experiments"


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
    # This architecture's own grid; None: the experiment's [pruning] / [mpt] settings.
    methods: tuple[str, ...] | None = None
    ratios: tuple[float, ...] | None = None
    retrain: tuple[bool, ...] | None = None
    mpt: bool | None = None
    mpt_ratios: tuple[float, ...] | None = None
    # This architecture's own MPT recipe; None: the experiment's [mpt] settings.
    mpt_width: float | None = None
    mpt_epochs: float | None = None
    mpt_lr: float | None = None

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
    taylor2_probes: int = 4                # Hutchinson probes per scoring batch (core.pruning)
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
    bias_in_margin: bool = True            # False: the paper's bias-free margin (docs/geometry.md)
    # The curse-of-dimensionality study (core.pipeline.study): LeNet-5 at each penultimate
    # width, briefly trained on a stratified training subset; off unless the experiment asks.
    dimension_study: bool = False
    dimension_study_widths: tuple[int, ...] = (8, 16, 32, 84, 256, 512)
    dimension_study_epochs: float = 1.0
    dimension_study_train_limit: int = 10000     # 0 = the build's whole training data
    # The seed population of Hooker et al.'s PIEs (core.pipeline.seed_population): dense seeds
    # of one architecture, each pruned by magnitude at a few ratios; off unless the experiment
    # asks.
    seed_population: bool = False
    seed_population_arch: str = "lenet5"
    seed_population_seeds: tuple[int, ...] = (1, 2, 3, 4, 5)
    seed_population_ratios: tuple[float, ...] = (0.5, 0.9)
    seed_population_retrain: tuple[bool, ...] = (False, True)
    guide: GuideSpec = GuideSpec()         # the Guide's networks ([guide]); off unless enabled


# Top-level keys: key → (Experiment attribute, rule).
_TOP_KEYS = {
    "name": ("name", _text(r"[A-Za-z0-9][A-Za-z0-9_.-]*",
                           "a name of letters, digits, '_', '.' and '-'")),
    "seed": ("seed", _integer(0)),
}

# [section] → {key → (Experiment attribute, rule)}.
_SECTIONS = {
    "dataset": {"name": ("dataset", _choice(_known_datasets)),
                "root": ("root", _text()),
                "train_limit": ("train_limit", _integer(0)),
                "n_per_class": ("n_per_class", _integer(1)),
                "subset_seed": ("subset_seed", _integer(0))},
    "pruning": {"methods": ("methods", _list_of(_choice(_known_methods))),
                "ratios": ("ratios", _RATIOS),
                "retrain": ("retrain", _list_of(_boolean())),
                "retrain_epochs": ("retrain_epochs", _number(0, open_low=False)),
                "retrain_lr": ("retrain_lr", _POSITIVE),
                "taylor2_probes": ("taylor2_probes", _integer(1))},
    "mpt": {"enabled": ("mpt", _boolean()),
            "width": ("mpt_width", _POSITIVE),
            "epochs": ("mpt_epochs", _POSITIVE),
            "lr": ("mpt_lr", _POSITIVE),
            "ratios": ("mpt_ratios", _RATIOS)},
    "benchmarks": {"source": ("benchmark_source", _choice(lambda: ("generated", "directory"))),
                   "path": ("benchmark_path", _text()),
                   "corruptions": ("corruptions", _list_of(_choice(lambda: CORRUPTIONS))),
                   "severities": ("severities", _list_of(_integer(1, 5))),
                   "features_for": ("features_for", _list_of(_text()))},
    "analysis": {"enabled": ("analysis", _boolean())},
    "evaluation": {"bias_in_margin": ("bias_in_margin", _boolean())},
    "dimension_study": {"enabled": ("dimension_study", _boolean()),
                        "widths": ("dimension_study_widths", _list_of(_integer(1))),
                        "epochs": ("dimension_study_epochs", _POSITIVE),
                        "train_limit": ("dimension_study_train_limit", _integer(0))},
    "seed_population": {"enabled": ("seed_population", _boolean()),
                        "arch": ("seed_population_arch", _ARCH_RULE),
                        "seeds": ("seed_population_seeds", _list_of(_integer(0))),
                        "ratios": ("seed_population_ratios", _RATIOS),
                        "retrain": ("seed_population_retrain", _list_of(_boolean()))},
}

# [[arch]] keys: ArchSpec field → rule.
_ARCH_KEYS = {
    "arch": _ARCH_RULE,
    "width": _POSITIVE,
    "epochs": _POSITIVE,
    "lr": _POSITIVE,
    "optimizer": _choice(lambda: ("sgd", "adam")),
    "batch_size": _integer(1),
    "weight_decay": _number(0, open_low=False),
    "feature_dim": _integer(1),
    "methods": _list_of(_choice(_known_methods)),
    "ratios": _RATIOS,
    "retrain": _list_of(_boolean()),
    "mpt": _boolean(),
    "mpt_ratios": _RATIOS,
    "mpt_width": _POSITIVE,
    "mpt_epochs": _POSITIVE,
    "mpt_lr": _POSITIVE,
    "loss": _choice(lambda: _known_losses()),
}

# [guide] keys: GuideSpec field → rule.
_GUIDE_KEYS = {
    "enabled": _boolean(),
    "feature_dim": _integer(1),
    "normal_width": _boolean(),
    "losses": _list_of(_choice(lambda: _known_losses())),
    "epochs": _POSITIVE,
    "lr": _POSITIVE,
    "optimizer": _choice(lambda: ("sgd", "adam")),
    "batch_size": _integer(1),
    "weight_decay": _number(0, open_low=False),
}

# ArchSpec fields that choose which models of an architecture are built, not how one is trained:
# they stay out of checkpoint names and fingerprints.
GRID_FIELDS = ("methods", "ratios", "retrain", "mpt", "mpt_ratios")
# ArchSpec fields of the MPT recipe: they shape only the MPT models, whose jobs carry them.
MPT_FIELDS = ("mpt_width", "mpt_epochs", "mpt_lr")


def _check(where: str, key: str, rule: Rule, value) -> None:
    if not rule.accepts(value):
        raise ValueError(f"{where}: `{key}` must be {rule.describe(False)}. "
                         f"Got {value!r} instead.")


def _table(where: str, name: str, value) -> dict:
    if not isinstance(value, dict):
        raise ValueError(f"{where}: `[{name}]` must be a table (a [{name}] section). "
                         f"Got {value!r} instead.")
    return value


def _read_section(where: str, values: dict, keys: dict) -> dict:
    """``{attribute: value}`` of one checked section; lists become tuples."""
    unknown = set(values) - set(keys)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}; expected some of "
                         f"{sorted(keys)}.")
    out = {}
    for key, value in values.items():
        entry = keys[key]
        # A bare attribute name (no rule yet) is only checked for being a known key.
        attr, rule = (entry, None) if isinstance(entry, str) else entry
        if key == "corruptions" and value == ["all"]:
            value = list(CORRUPTIONS)
        if rule is not None:
            _check(where, key, rule, value)
        out[attr] = tuple(value) if isinstance(value, list) else value
    return out


def _read_archs(where: str, archs) -> tuple[ArchSpec, ...]:
    if not (isinstance(archs, list) and archs and all(isinstance(a, dict) for a in archs)):
        raise ValueError(f"{where}: `[[arch]]` must be an array of tables (one [[arch]] block "
                         f"per architecture). Got {archs!r} instead.")
    names = {f.name for f in fields(ArchSpec)}
    specs = []
    for i, spec in enumerate(archs, 1):
        here = f"{where} [[arch]] #{i}"
        if set(spec) - names:
            raise ValueError(f"{here}: unknown key(s) {sorted(set(spec) - names)}; expected "
                             f"some of {sorted(names)}.")
        for key, value in spec.items():
            if key in _ARCH_KEYS:
                _check(here, key, _ARCH_KEYS[key], value)
        specs.append(ArchSpec(**{k: tuple(v) if isinstance(v, list) else v
                                 for k, v in spec.items()}))
    return tuple(specs)


def preset_path(name: str) -> Path:
    path = PRESETS_DIR / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in PRESETS_DIR.glob("*.toml")))
        raise ValueError(f"`preset` must be one of {known}. Got {name!r} instead.")
    return path


def load_experiment(path: str | Path) -> Experiment:
    """Parse and validate an experiment TOML file: raises ValueError naming the file, the key
    and the expected value, before any work."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Experiment file {path} does not exist.")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"Experiment file {path} is not valid TOML: {exc}") from exc
    if not raw:
        raise ValueError(f"Experiment file {path} is empty: it must describe the experiment (at "
                         "least its [dataset] and [[arch]]); start from a preset in experiments/.")
    _check_finite(str(path), raw)
    kwargs: dict = {"name": path.stem}
    sections = set(_SECTIONS) | {"arch", "guide"}
    top = {k: v for k, v in raw.items() if k not in sections}
    unknown = set(top) - set(_TOP_KEYS)
    if unknown:
        raise ValueError(f"{path}: unknown section(s) or key(s) {sorted(unknown)}; expected "
                         f"{', '.join(_TOP_KEYS)}, [[arch]], [guide], "
                         f"{', '.join(f'[{s}]' for s in _SECTIONS)}.")
    kwargs.update(_read_section(str(path), top, _TOP_KEYS))
    for section, keys in _SECTIONS.items():
        if section in raw:
            where = f"{path} [{section}]"
            kwargs.update(_read_section(where, _table(str(path), section, raw[section]), keys))
    if "arch" in raw:
        kwargs["archs"] = _read_archs(str(path), raw["arch"])
    if "guide" in raw:
        kwargs["guide"] = _guide_spec(f"{path} [guide]", _table(str(path), "guide", raw["guide"]))
    experiment = Experiment(**kwargs)
    _validate(experiment, path)
    return experiment


def _check_finite(where: str, value, key: str = "") -> None:
    """Refuse ``inf`` and ``nan`` (TOML allows them) in any key; ``where`` names the section as
    the other messages do (``FILE [pruning]``, ``FILE [[arch]] #1``)."""
    if isinstance(value, float) and (value != value or abs(value) == float("inf")):
        raise ValueError(f"{where}: `{key}` must be a finite number. Got {value!r} instead.")
    if isinstance(value, dict):
        for name, item in value.items():
            if isinstance(item, dict) and not key:
                _check_finite(f"{where} [{name}]", item)
            elif isinstance(item, list) and item and all(isinstance(t, dict) for t in item):
                for i, table in enumerate(item, 1):
                    _check_finite(f"{where} [[{name}]] #{i}", table)
            else:
                _check_finite(where, item, f"{key}.{name}" if key else name)
    for item in value if isinstance(value, list) else ():
        _check_finite(where, item, key)


def _check_sizes(e: Experiment, path: Path) -> None:
    """Refuse sizes beyond what the dataset holds (``core.data.SPLIT_SIZES``), before any work."""
    from ..data import SPLIT_SIZES

    if e.dataset not in SPLIT_SIZES:
        return
    train, per_class = SPLIT_SIZES[e.dataset]
    for section, key, value in (("dataset", "train_limit", e.train_limit),
                                ("dimension_study", "train_limit", e.dimension_study_train_limit)):
        if value > train:
            raise ValueError(f"{path} [{section}]: `{key}` must be at most {train:,} (the "
                             f"{e.dataset} train split), or 0 for all of it. Got {value} instead.")
    if e.n_per_class > per_class:
        raise ValueError(f"{path} [dataset]: `n_per_class` must be at most {per_class:,} (the "
                         f"largest {e.dataset} test class). Got {e.n_per_class} instead.")


def _validate(e: Experiment, path: Path) -> None:
    """Checks across keys (each key's own rule has passed)."""
    _check_sizes(e, path)
    if e.benchmark_source == "directory" and not e.benchmark_path:
        raise ValueError(f"{path} [benchmarks]: source = 'directory' needs a `path` (the "
                         "pre-made corruption directory).")
    if e.dimension_study and not e.dimension_study_widths:
        raise ValueError(f"{path} [dimension_study]: `widths` must be a non-empty list of "
                         "distinct integers >= 1. Got [] instead.")
    seeds = list(e.seed_population_seeds)
    if e.seed_population and (len(seeds) < 2 or len(set(seeds)) != len(seeds)):
        raise ValueError(f"{path} [seed_population]: `seeds` must list at least 2 distinct "
                         f"seeds (a modal label needs a population). Got {seeds} instead.")
    if e.seed_population and e.seed_population_arch not in {a.arch for a in e.archs}:
        raise ValueError(f"{path} [seed_population]: `arch` must be one of the experiment's "
                         f"[[arch]] entries ({', '.join(a.arch for a in e.archs)}). Got "
                         f"{e.seed_population_arch!r} instead.")


def _guide_spec(where: str, values: dict) -> GuideSpec:
    """The checked ``[guide]`` section."""
    unknown = set(values) - set(_GUIDE_KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}; expected some of "
                         f"{sorted(_GUIDE_KEYS)}.")
    for key, value in values.items():
        _check(where, key, _GUIDE_KEYS[key], value)
    if values.get("losses") == []:
        raise ValueError(f"{where}: `losses` must name at least one loss. Got [] instead.")
    return GuideSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})
