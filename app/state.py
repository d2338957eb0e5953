"""App-owned session-state keys shared across pages (see docs/definitions.md, Selections), and
their one owner of consistency with the database.

Plotly widgets own their own keys (read-only); selections that travel between pages live here.
The frame (`app.main`) reconciles them with the database once per rerun, after a link is
restored and before the sidebar and the page (`reconcile`): ids the database does not hold are
dropped with one note. Pages and pickers then read `selection()`, whose ids are all known.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Mapping

import numpy as np
import streamlit as st

from app import escape

LIST_KEYS = ("selected_models", "selected_benchmarks", "selected_samples")
SCALAR_KEYS = ("reference_benchmark", "compared_benchmark", "selected_class", "selected_sample")
KEYS = LIST_KEYS + SCALAR_KEYS
_SHOWN_IDS = 3  # ids quoted in the note on dropped ids
_SHOWN_CHARS = 40  # characters of one quoted id at most


def init_state() -> None:
    """Give every key its empty value once per session."""
    for key in LIST_KEYS:
        st.session_state.setdefault(key, [])
    for key in SCALAR_KEYS:
        st.session_state.setdefault(key, None)


def set_value(key: str, value) -> None:
    if key not in KEYS:
        raise KeyError(f"`key` must be one of {', '.join(KEYS)}. Got {key!r} instead.")
    st.session_state[key] = list(value) if key in LIST_KEYS else value


@dataclass(frozen=True)
class Catalog:
    """What the database holds, to check selected ids against: model and benchmark ids, the
    number of classes, and the sample ids present (sorted; only needed when samples are
    selected)."""

    model_ids: frozenset[str]
    benchmark_ids: frozenset[str]
    num_classes: int
    sample_ids: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))


@dataclass(frozen=True)
class Selection:
    """The app-owned selections of one rerun (fields named as their session-state keys)."""

    selected_models: tuple[str, ...] = ()
    selected_benchmarks: tuple[str, ...] = ()
    selected_samples: tuple[int, ...] = ()
    reference_benchmark: str | None = None
    compared_benchmark: str | None = None
    selected_class: int | None = None
    selected_sample: int | None = None

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> "Selection":
        """The selection held by ``values`` (session-state key → value; absent keys empty)."""
        return cls(**{key: tuple(values.get(key) or ()) if key in LIST_KEYS else values.get(key)
                      for key in KEYS})

    def values(self) -> dict[str, Any]:
        """Session-state key → value (lists for the list keys)."""
        return {f.name: list(getattr(self, f.name)) if f.name in LIST_KEYS
                else getattr(self, f.name) for f in fields(self)}


_NOUNS = {"selected_models": "model id(s)", "selected_benchmarks": "benchmark id(s)",
          "selected_samples": "sample id(s)", "reference_benchmark": "reference benchmark",
          "compared_benchmark": "compared benchmark", "selected_class": "class",
          "selected_sample": "sample"}


def known_selection(selection: Selection, catalog: Catalog) -> tuple[Selection, dict[str, list]]:
    """The part of ``selection`` that ``catalog`` holds, and the dropped values per key (only
    keys that lost something). Pure; the one place selected ids are checked."""
    samples = np.asarray(catalog.sample_ids, dtype=np.int64)
    holds = {"selected_models": catalog.model_ids, "selected_benchmarks": catalog.benchmark_ids,
             "reference_benchmark": catalog.benchmark_ids,
             "compared_benchmark": catalog.benchmark_ids}
    kept: dict[str, Any] = {}
    dropped: dict[str, list] = {}
    for key in KEYS:
        value = getattr(selection, key)
        if key == "selected_samples":
            present = _present_samples(value, samples)
        elif key == "selected_sample":
            present = [value is None or bool(_present_samples((value,), samples)[0])]
        elif key == "selected_class":
            present = [value is None or (_is_index(value) and 0 <= value < catalog.num_classes)]
        elif key in LIST_KEYS:
            present = [v in holds[key] for v in value]
        else:
            present = [value is None or value in holds[key]]
        values = value if key in LIST_KEYS else (value,)
        lost = [v for v, p in zip(values, present) if not p]
        if key in LIST_KEYS:
            kept[key] = tuple(v for v, p in zip(values, present) if p)
        else:
            kept[key] = None if lost else value
        if lost:
            dropped[key] = lost
    return Selection(**kept), dropped


def _present_samples(values: tuple, samples: np.ndarray) -> np.ndarray:
    """Whether each of ``values`` is an integer id in ``samples`` (sorted int64)."""
    as_array = np.asarray(values)
    if as_array.dtype.kind in "iu":  # the usual case: ids only, checked at once
        return np.isin(as_array, samples)
    numeric = np.array([_is_index(v) for v in values], dtype=bool)
    present = numeric.copy()
    if numeric.any():
        ids = np.asarray(values, dtype=object)[numeric].astype(np.int64)
        present[numeric] = np.isin(ids, samples)
    return present


def _is_index(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def dropped_note(selection: Selection, dropped: Mapping[str, list], catalog: Catalog) -> str:
    """One sentence on what `known_selection` dropped from ``selection`` ("" when nothing)."""
    parts = []
    for key, lost in dropped.items():
        shown = ", ".join(escape.code(v, max_chars=_SHOWN_CHARS) for v in lost[:_SHOWN_IDS])
        more = " …" if len(lost) > _SHOWN_IDS else ""
        if key in LIST_KEYS:
            parts.append(f"{len(lost)} of {len(getattr(selection, key))} selected "
                         f"{_NOUNS[key]} ({shown}{more})")
        elif key == "selected_class":
            parts.append(f"the class {shown} (this database has {catalog.num_classes} classes, "
                         f"0 to {catalog.num_classes - 1})")
        else:
            parts.append(f"the {_NOUNS[key]} {shown}")
    if not parts:
        return ""
    return "Dropped what this database does not hold: " + "; ".join(parts) + "."


def reconcile(catalog: Catalog) -> str:
    """Drop from the session's selections what ``catalog`` does not hold; the note saying what
    was dropped ("" when nothing). Called once per rerun, by the frame."""
    current = selection()
    known, dropped = known_selection(current, catalog)
    if dropped:
        for key, value in known.values().items():
            set_value(key, value)
    return dropped_note(current, dropped, catalog)


def selection() -> Selection:
    """The session's selections now (after `reconcile`, every id is one the database holds)."""
    return Selection.of(st.session_state)
