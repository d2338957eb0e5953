"""Pure selection handling shared by the pages: Plotly selection events → ids → highlight masks.

Charts put ids in each point's ``customdata`` (first element when it is a list), so a selection
event maps back to models, benchmarks or samples without relying on trace or point order.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np


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
