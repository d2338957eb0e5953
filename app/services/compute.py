"""The one routine behind every kind of map the Attribution page shows (occlusion, gradients):
take what a cache holds, compute the missing under one of the server's slots with a progress
bar, and turn a model that cannot be computed into a message instead of an error."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TypeVar

import streamlit as st

from app import escape
from app.services.limits import compute_slots
from app.services.models import CheckpointError
from app.settings import settings

__all__ = ["cached_else_computed"]

T = TypeVar("T")
R = TypeVar("R")


def cached_else_computed(cached: Mapping[str, R], missing: Mapping[str, T],
                         compute: Callable[[str, T], R], *, what: str, problems: list[str],
                         failure: str = "{error}") -> dict[str, R]:
    """``cached`` (model id → result) with the results of ``compute(model_id, todo)`` for each
    model of ``missing`` (model id → what it lacks) added, computed under one of the server's
    slots with a progress bar ("Computing <what> of <model>"). A model whose computation raises
    `CheckpointError`, or every missing one when no slot frees up in time, adds a message to
    ``problems`` (``failure`` formats a model's error) and keeps its cached result, if any."""
    found = dict(cached)
    if not missing:
        return found
    with _computation_slot(problems) as held:
        if not held:
            return found
        bar = st.progress(0.0)
        for i, (model_id, todo) in enumerate(missing.items()):
            bar.progress(i / len(missing), text=f"Computing {what} of {escape.code(model_id)} "
                                                f"({i + 1} of {len(missing)})")
            try:
                found[model_id] = compute(model_id, todo)
            except CheckpointError as exc:
                problems.append(failure.format(error=exc))  # its text is escaped where it is raised
        bar.empty()
    return found


@contextmanager
def _computation_slot(problems: list[str]) -> Iterator[bool]:
    """One of the server's attribution slots for the ``with`` block: yields True once held
    (after a "waiting" message while every slot is taken), False with a message in ``problems``
    when none freed up in time."""
    limits = settings()
    notice = st.empty()

    def on_wait(running: int) -> None:
        notice.info(f"{running} computations are running on this server (at most "
                    f"{limits.max_concurrent_attributions} at once); waiting…")

    with compute_slots().slot(timeout=limits.attribution_wait_s, on_wait=on_wait) as held:
        notice.empty()
        if not held:
            problems.append(f"The server is busy: no computation slot freed up within "
                            f"{limits.attribution_wait_s:g} s. Try again shortly.")
        yield held
