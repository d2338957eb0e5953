"""The metrics' names, linked to the Guide page that draws them (angle, L2 norm, margin)."""

from __future__ import annotations

import streamlit as st

__all__ = ["GUIDE_URL", "link_to_guide"]

GUIDE_URL = "geometry-guide"     # the Guide's url_path (see app.pages)


def link_to_guide(terms: str = "angle to the class direction, L2 norm and margin") -> None:
    """A caption linking ``terms`` to the Guide, where a 2-D network draws them on its samples."""
    # A relative link: it resolves beside the current page, under any server base path.
    st.caption(f"New to the {terms}? The [Guide]({GUIDE_URL}) draws them on a network whose "
               "features are points in the plane.")
