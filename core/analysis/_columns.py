"""Validation shared by the analysis modules."""

from __future__ import annotations

from typing import Iterable

import pandas as pd


def require_columns(frame: pd.DataFrame, name: str, columns: Iterable[str]) -> None:
    """Raise ValueError naming the columns of `columns` that `frame` (called `name`) lacks."""
    columns = tuple(columns)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"`{name}` must have columns {list(columns)}. "
                         f"Missing {missing} (got {list(frame.columns)}) instead.")
