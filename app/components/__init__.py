"""Custom Streamlit components of the app (served from local files: no network, no build step).

- `brushable_parcoords`: a Plotly parallel-coordinates chart that reports the ranges brushed on
  its axes, which ``st.plotly_chart(on_select=...)`` does not.
"""

from app.components._parcoords import brushable_parcoords

__all__ = ["brushable_parcoords"]
