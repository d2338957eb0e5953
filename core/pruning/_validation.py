"""Argument checks shared by the pruning modules (scikit-learn-style messages)."""

from __future__ import annotations

import numbers


def check_ratio(ratio) -> None:
    if isinstance(ratio, bool) or not isinstance(ratio, numbers.Real) or not 0 <= ratio < 1:
        raise ValueError(f"`ratio` must be in [0, 1). Got {ratio!r} instead.")


def check_choice(name: str, value, known) -> None:
    if value not in known:
        names = ", ".join(repr(k) for k in known)
        raise ValueError(f"`{name}` must be one of {names}. Got {value!r} instead.")


def check_positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer. Got {value!r} instead.")


def check_data(x, y, what: str) -> None:
    if x is None or y is None:
        raise ValueError(f"`x` and `y` (training images and labels) are required for {what}.")
    if x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ValueError(f"`x` and `y` must hold the same, non-zero number of samples. "
                         f"Got {x.shape[0]} and {y.shape[0]} instead.")
