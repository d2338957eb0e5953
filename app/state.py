"""App-owned session-state keys shared across pages (see docs/definitions.md, Selections).

Plotly widgets own their own keys (read-only); selections that travel between pages live here.
"""

from __future__ import annotations

from typing import Iterable

import streamlit as st

LIST_KEYS = ("selected_models", "selected_benchmarks", "selected_samples")
SCALAR_KEYS = ("reference_benchmark", "compared_benchmark", "selected_class", "selected_sample")
KEYS = LIST_KEYS + SCALAR_KEYS


def init_state() -> None:
    """Give every key its empty value once per session."""
    for key in LIST_KEYS:
        st.session_state.setdefault(key, [])
    for key in SCALAR_KEYS:
        st.session_state.setdefault(key, None)


def get_list(key: str) -> list:
    return list(st.session_state.get(key) or [])


def get(key: str):
    return st.session_state.get(key)


def set_value(key: str, value) -> None:
    if key not in KEYS:
        raise KeyError(f"`key` must be one of {', '.join(KEYS)}. Got {key!r} instead.")
    st.session_state[key] = list(value) if key in LIST_KEYS else value


def keep_known(values: Iterable, known: Iterable) -> tuple[list, list]:
    """Split selected ids into (known, unknown) — stale ids from another DB are dropped, not fatal."""
    known_set = set(known)
    values = list(values)
    return [v for v in values if v in known_set], [v for v in values if v not in known_set]
