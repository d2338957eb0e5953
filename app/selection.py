"""Pure selection handling shared by the pages: Plotly selection events → ids → highlight masks.

Charts put ids in each point's ``customdata`` (first element when it is a list), so a selection
event maps back to models, benchmarks or samples without relying on trace or point order: a
sample id on the Geometry scatters, (model_id, benchmark_id) on the similarity view, a `bar_key`
on the evaluation table.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import pandas as pd


def selected_customdata(event: Any, *, position: int = 0) -> list:
    """Ids carried by the selected points of a ``st.plotly_chart(on_select=...)`` event.

    ``event`` is the returned selection state (a mapping with ``selection.points``), or None.
    ``position`` picks the element of a list-valued ``customdata`` (or of its browser form, an
    object keyed "0", "1", … when the chart was given a numeric array). Order of first
    appearance is kept, duplicates dropped.
    """
    if not event:
        return []
    selection = event.get("selection") if hasattr(event, "get") else getattr(event, "selection", None)
    if not selection:
        return []
    points = selection.get("points", []) if hasattr(selection, "get") else []
    ids: list = []
    seen: set = set()
    for point in points:
        data = point.get("customdata")
        if data is None:
            continue
        if isinstance(data, dict):
            # Numeric customdata reaches Plotly.js as a typed array, which the browser sends back
            # serialised as an object: {"0": v0, "1": v1, ...}.
            value = data.get(str(position))
        elif isinstance(data, (list, tuple)):
            value = data[position]
        else:
            value = data
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if value not in seen:
            seen.add(value)
            ids.append(value)
    return ids


def highlight_mask(ids: Iterable, selected: Iterable) -> np.ndarray:
    """Boolean mask over ``ids``: True where the id is selected (all False when nothing is)."""
    chosen = set(selected)
    return np.fromiter((i in chosen for i in ids), dtype=bool)


def bar_key(arch: str, method: str, retrained: bool, ratio: float, corruption: str) -> str:
    """The id a bar of the evaluation table carries in its ``customdata`` (unique per bar)."""
    return f"{arch}|{method}|{bool(retrained)}|{float(ratio):g}|{corruption}"


def bar_keys(bars: pd.DataFrame) -> np.ndarray:
    """`bar_key` of every row of ``bars`` (columns arch, method, retrained, ratio, corruption)."""
    return np.array([bar_key(*row) for row in bars[["arch", "method", "retrained", "ratio",
                                                    "corruption"]].itertuples(index=False)],
                    dtype=object)


def bar_selection(event: Any, bars: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(model ids, benchmark ids) of the bars picked in a selection event of the evaluation table,
    in order of first appearance. ``bars`` are the table's bars (columns of `bar_keys` plus
    model_ids and benchmark_ids, lists). Points without a known bar key (reference lines) are
    ignored."""
    keys = selected_customdata(event, position=0)
    if not keys:
        return [], []
    bars = bars.reset_index(drop=True)
    lookup = dict(zip(bar_keys(bars), bars.index))
    models: dict[str, None] = {}
    benchmarks: dict[str, None] = {}
    for key in keys:
        if key in lookup:
            row = bars.loc[lookup[key]]
            models.update(dict.fromkeys(row["model_ids"]))
            benchmarks.update(dict.fromkeys(row["benchmark_ids"]))
    return list(models), list(benchmarks)


def point_selection(event: Any) -> list[str]:
    """Model ids of the points picked in a selection event of the similarity figure (whose
    ``customdata`` is (model_id, benchmark_id))."""
    return [str(m) for m in selected_customdata(event, position=0)]
