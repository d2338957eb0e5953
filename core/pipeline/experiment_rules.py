"""The rules that check an experiment file's values (:mod:`core.pipeline.experiment`): each
:class:`Rule` words what a key's value must be and accepts or refuses a TOML value. Pruning
methods, architectures, losses and datasets are read from their registries when a file is
validated, so new ones are accepted as soon as they are registered."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = ["Rule"]


@dataclass(frozen=True)
class Rule:
    """What a key's value must be. ``describe(plural)`` words it for the message ("a number
    > 0" / "numbers > 0"); ``accepts(value)`` checks a TOML value."""

    describe: Callable[[bool], str]
    accepts: Callable[[object], bool]


def _is_integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    # NaN is not a number here: it passes no range.
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def _integer(low: int, high: int | None = None) -> Rule:
    span = f">= {low}" if high is None else f"in {low}..{high}"
    return Rule(lambda plural: f"{'integers' if plural else 'an integer'} {span}",
                lambda v: _is_integer(v) and v >= low and (high is None or v <= high))


def _number(low: float, high: float | None = None, *, open_low: bool = True) -> Rule:
    if high is None:
        span = f"> {low:g}" if open_low else f">= {low:g}"
    else:
        span = f"in {'(' if open_low else '['}{low:g}, {high:g})"
    return Rule(lambda plural: f"{'numbers' if plural else 'a number'} {span}",
                lambda v: _is_number(v) and (v > low if open_low else v >= low)
                and (high is None or v < high))


def _boolean() -> Rule:
    return Rule(lambda plural: "true or false" if not plural else "booleans",
                lambda v: isinstance(v, bool))


def _text(pattern: str = r".+", what: str = "a non-empty string") -> Rule:
    return Rule(lambda plural: what if not plural else "strings",
                lambda v: isinstance(v, str) and re.fullmatch(pattern, v) is not None)


def _choice(options: Callable[[], Iterable[str]], extra: str = "") -> Rule:
    """One of ``options()`` (read when a file is validated: registries may grow)."""
    def describe(plural: bool) -> str:
        known = ", ".join(repr(o) for o in options())
        return f"{'names from' if plural else 'one of'} {known}{extra}"
    return Rule(describe, lambda v: isinstance(v, str) and v in tuple(options()))


def _list_of(item: Rule) -> Rule:
    """A list of distinct values, each accepted by ``item``."""
    def accepts(v) -> bool:
        return (isinstance(v, list) and all(item.accepts(x) for x in v)
                and len({repr(x) for x in v}) == len(v))
    return Rule(lambda plural: f"a list of distinct {item.describe(True)}", accepts)


def _known_methods() -> tuple[str, ...]:
    # Methods that prune a trained dense parent; MPT has its own [mpt] section.
    from ..pruning import METHODS

    return tuple(m for m in METHODS if m != "mpt")


def _known_archs() -> tuple[str, ...]:
    from ..models import MODELS

    return tuple(sorted(MODELS))


def _known_losses() -> tuple[str, ...]:
    from ..losses import LOSSES

    return tuple(LOSSES)


def _known_datasets() -> tuple[str, ...]:
    from ..data import DATASETS

    return DATASETS


_ARCH_RULE = Rule(
    lambda plural: f"one of {', '.join(map(repr, _known_archs()))} or 'tv:<torchvision name>'",
    lambda v: isinstance(v, str) and (v in _known_archs() or (v.startswith("tv:") and len(v) > 3)))
_RATIOS = _list_of(_number(0, 1))
_POSITIVE = _number(0)
