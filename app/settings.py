"""Server-wide limits of the app, read once from environment variables set by the operator.

Every limit bounds what one user's request can take from a shared server (unset or empty
variables keep the default):

- ``ROBUSTNESS_MAX_OCCLUSIONS`` (1024): occluded images (forward passes) per model in one
  Attribution request. Allows every window of a 28×28 or 32×32 image at stride 1, refuses a
  224×224 image at stride 1 (50 176).
- ``ROBUSTNESS_MAX_CONCURRENT_ATTRIBUTIONS`` (2): attribution computations running at once in
  the server; the others wait.
- ``ROBUSTNESS_ATTRIBUTION_WAIT_S`` (120): seconds a request waits for a free slot before it
  gives up with a message.
- ``ROBUSTNESS_TORCH_THREADS`` (1): torch intra-op threads of the app process.
- ``ROBUSTNESS_DUCKDB_THREADS`` (2): DuckDB threads of the app's connections.
- ``ROBUSTNESS_DUCKDB_MEMORY_LIMIT`` (2GB): DuckDB memory limit of those connections, in DuckDB's
  units (KB, MB, GB, TB; KiB, MiB, GiB, TiB).
- ``ROBUSTNESS_ATTRIBUTION_CACHE_ROWS`` (10000): maps kept per table of the attribution cache
  file (one map per model, metric and key); the oldest are evicted beyond it.
- ``ROBUSTNESS_DEVICE`` (auto): where the Attribution page's models run: ``auto`` (CUDA when
  torch sees a GPU, else the CPU), ``cpu`` or ``cuda`` (as ``python -m core build --device``).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass

from core.store import catalog


__all__ = ["ServerSettings", "SettingsError", "settings"]


class SettingsError(ValueError):
    """An environment variable holds a value the app cannot use."""


@dataclass(frozen=True)
class ServerSettings:
    """The app's server-wide limits (see the module docstring for the variables and units)."""

    max_occlusions: int = 1024
    max_concurrent_attributions: int = 2
    attribution_wait_s: float = 120.0
    torch_threads: int = 1
    duckdb_threads: int = 2
    duckdb_memory_limit: str = "2GB"
    attribution_cache_rows: int = 10_000
    device: str = "auto"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ServerSettings:
        """The settings from ``env`` (e.g. ``os.environ``); unset or empty variables keep their
        default. Raises `SettingsError` naming the variable of a value out of range."""
        default = cls()
        return cls(
            max_occlusions=_integer(env, "ROBUSTNESS_MAX_OCCLUSIONS", default.max_occlusions),
            max_concurrent_attributions=_integer(env, "ROBUSTNESS_MAX_CONCURRENT_ATTRIBUTIONS",
                                                 default.max_concurrent_attributions),
            attribution_wait_s=_seconds(env, "ROBUSTNESS_ATTRIBUTION_WAIT_S",
                                        default.attribution_wait_s),
            torch_threads=_integer(env, "ROBUSTNESS_TORCH_THREADS", default.torch_threads),
            duckdb_threads=_integer(env, "ROBUSTNESS_DUCKDB_THREADS", default.duckdb_threads),
            duckdb_memory_limit=_memory(env, "ROBUSTNESS_DUCKDB_MEMORY_LIMIT",
                                        default.duckdb_memory_limit),
            attribution_cache_rows=_integer(env, "ROBUSTNESS_ATTRIBUTION_CACHE_ROWS",
                                            default.attribution_cache_rows),
            device=_device(env, "ROBUSTNESS_DEVICE", default.device),
        )


@functools.cache
def settings() -> ServerSettings:
    """The process's settings, read from the environment on first use."""
    return ServerSettings.from_env(os.environ)


def _raw(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _integer(env: Mapping[str, str], name: str, default: int) -> int:
    raw = _raw(env, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or value < 1:
        raise SettingsError(f"`{name}` must be an integer ≥ 1. Got {raw!r} instead.")
    return value


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = _raw(env, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = None
    if value is None or not 0 < value < float("inf"):
        raise SettingsError(f"`{name}` must be a number of seconds > 0. Got {raw!r} instead.")
    return value


def _device(env: Mapping[str, str], name: str, default: str) -> str:
    from core.device import DEVICE_CHOICES, resolve_device

    raw = _raw(env, name)
    if raw is None:
        return default
    if raw not in DEVICE_CHOICES:
        raise SettingsError(f"`{name}` must be one of {', '.join(DEVICE_CHOICES)}. Got {raw!r} "
                            "instead.")
    try:
        resolve_device(raw)    # CUDA present when it names cuda
    except ValueError as exc:
        raise SettingsError(f"`{name}` is {raw!r}, but {exc}") from None
    return raw


def _memory(env: Mapping[str, str], name: str, default: str) -> str:
    raw = _raw(env, name)
    if raw is None:
        return default
    if not catalog.is_memory_limit(raw):
        raise SettingsError(f"`{name}` must be a DuckDB memory size such as '2GB' or '512MiB'. "
                            f"Got {raw!r} instead.")
    return raw
