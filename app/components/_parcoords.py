"""A Plotly parallel-coordinates chart in a Streamlit custom component (components v1: a static
index.html in an iframe) whose value is the ranges brushed on its axes.

plotly.js is the file bundled with the plotly Python package, copied beside index.html the first
time the component is drawn, so the chart needs neither a network nor an npm build.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

import plotly
import plotly.io as pio
from streamlit.components.v1 import declare_component

_FRONTEND = Path(__file__).resolve().parent / "parcoords_frontend"
_PLOTLY_JS = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"


def _frontend() -> Path:
    """The component's folder, with the plotly package's plotly.min.js beside index.html."""
    target = _FRONTEND / "plotly.min.js"
    if not target.exists() or target.stat().st_size != _PLOTLY_JS.stat().st_size:
        # Copy to a private name, then rename: another server process may be doing the same.
        handle, partial = tempfile.mkstemp(dir=_FRONTEND, prefix="plotly.min.js.")
        os.close(handle)
        shutil.copyfile(_PLOTLY_JS, partial)
        os.replace(partial, target)
    return _FRONTEND


def brushable_parcoords(figure, *, key: str, on_change: Callable[[], None] | None = None
                        ) -> dict | None:
    """Draw ``figure`` (a Plotly figure or figure dict whose first trace is ``parcoords``, the
    height in its layout) full width and return what was brushed: ``{"ranges": {axis label: constraintrange}}``
    — a constraintrange is [low, high] or a list of them, only brushed axes are present — or None
    before the first brush. Axis labels must be unique. ``on_change`` runs (before the rerun)
    when the brushed ranges change; the value is also ``st.session_state[key]``.
    """
    # Registered on every call: registration needs the running script's context.
    component = declare_component("parcoords_brush", path=str(_frontend()))
    spec = json.loads(pio.to_json(figure, validate=False))
    return component(figure=spec, key=key, default=None, on_change=on_change)
