"""Layout of a chart whose points the user selects: a click selects, shift + click / box /
lasso adds, a double-click clears.

Streamlit's ``st.plotly_chart(on_select=...)`` turns Plotly's ``plotly_selected`` event into the
returned selection. A click creates one only when Plotly's ``clickmode`` includes ``"select"``,
and Streamlit sets ``clickmode`` to ``"event"`` (clicks select nothing) whenever the figure's
``dragmode`` is ``"select"`` or ``"lasso"``. So a selectable chart opens in zoom mode with
``clickmode="event+select"``: a click selects the point under the mouse, and the modebar's box
and lasso tools select by dragging (holding shift adds to the selection in either mode).
"""

from __future__ import annotations

__all__ = ["SELECT_BY_CLICK"]

# Layout keys of every selectable chart (``layout.update(**SELECT_BY_CLICK)``).
SELECT_BY_CLICK = {"clickmode": "event+select", "dragmode": "zoom"}
