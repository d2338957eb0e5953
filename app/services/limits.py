"""The limits a shared server puts on attribution work: how many forward passes one occlusion
takes, how many computations run at once (slots shared by every session), and torch's threads."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from app.settings import settings
from core.attribution import window_starts

__all__ = ["occlusion_count", "smallest_stride", "ComputeSlots", "compute_slots",
           "limit_torch_threads"]


def occlusion_count(height: int, width: int, window: int, stride: int) -> int:
    """Occluded images (forward passes) the occlusion of one model on an ``height × width`` image
    takes: ``(ceil((H − window) / stride) + 1) · (ceil((W − window) / stride) + 1)``, the window
    positions of core.attribution (before it skips windows that change no pixel)."""
    return len(window_starts(height, window, stride)) * len(window_starts(width, window, stride))


def smallest_stride(height: int, width: int, window: int, limit: int) -> int | None:
    """The smallest stride in 1..window whose `occlusion_count` is at most ``limit``; None when
    even ``stride = window`` takes more."""
    fits = [s for s in range(1, window + 1) if occlusion_count(height, width, window, s) <= limit]
    return fits[0] if fits else None


class ComputeSlots:
    """At most ``limit`` attribution computations at once in the process (a bounded semaphore)
    and how many are running."""

    def __init__(self, limit: int):
        self.limit = limit
        self._semaphore = threading.BoundedSemaphore(limit)
        self._lock = threading.Lock()
        self._running = 0

    @property
    def running(self) -> int:
        """Computations holding a slot now."""
        with self._lock:
            return self._running

    @contextmanager
    def slot(self, *, timeout: float, on_wait=None) -> Iterator[bool]:
        """Hold a slot for the ``with`` block; yields True once held, False when none freed up
        within ``timeout`` seconds (the block must then skip its work). ``on_wait(running)`` is
        called before waiting when every slot is taken (e.g. to show a message)."""
        held = self._semaphore.acquire(blocking=False)
        if not held:
            if on_wait is not None:
                on_wait(self.running)
            held = self._semaphore.acquire(timeout=timeout)
        if held:
            with self._lock:
                self._running += 1
        try:
            yield held
        finally:
            if held:
                with self._lock:
                    self._running -= 1
                self._semaphore.release()


@st.cache_resource(show_spinner=False)
def compute_slots() -> ComputeSlots:
    """The server's slots (``ROBUSTNESS_MAX_CONCURRENT_ATTRIBUTIONS``), shared by all sessions."""
    return ComputeSlots(settings().max_concurrent_attributions)


@functools.cache
def limit_torch_threads() -> None:
    """Once per process, before the first model runs: torch would otherwise take every core."""
    import torch

    torch.set_num_threads(settings().torch_threads)
