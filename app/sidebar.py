"""The sidebar every page shares: which database, the build's progress, the current selections."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import streamlit as st

from app import escape, state
from app.db import current_db
from app.queries import common as q


def render() -> None:
    db = current_db()
    with st.sidebar:
        st.caption(f"Database: {escape.code(db.name)}")  # the name only, never the server's path
        if not db.exists:
            if Path(db.path + ".work").exists():
                st.info("A build is running; its first results appear here within a minute "
                        "(rerun the page to refresh).")
            else:
                st.warning("No database yet. Build one with "
                           "`python -m core build --preset demo`.")
            return
        progress = q.build_progress(db)
        for row in progress.itertuples():
            if row.total and row.done < row.total:
                stage, message = escape.plain(row.stage), escape.plain(row.message)
                st.progress(row.done / row.total, text=f"Building — {stage}: {message}")
        st.subheader("Selection")
        class_names = (q.dataset_info(db)["class_names"] if db.has_table("dataset_info")
                       else [])
        # After the frame's reconciliation: every id listed here is one this database holds.
        for key, value in state.selection().values().items():
            if value not in (None, []):
                st.caption(selection_line(key, value, class_names=class_names))
        if st.button("Clear all selections", use_container_width=True):
            for key in state.LIST_KEYS:
                state.set_value(key, [])
            for key in state.SCALAR_KEYS:
                state.set_value(key, None)
            st.rerun()


# Names listed per selection before "and N more".
LISTED = 5


def selection_line(key: str, value, *, class_names: Sequence[str] = ()) -> str:
    """The sidebar's line for one selection key: a list as its count and its first `LISTED`
    values then "and N more", the class by its name (its index in brackets), any other value
    as is. Ids and names come from a link or the database, so they are quoted through
    `app.escape` (ids as code spans, the class name as plain text)."""
    label = key.replace("_", " ")
    if isinstance(value, list):
        shown = ", ".join(escape.code(v) for v in value[:LISTED])
        more = f" and {len(value) - LISTED} more" if len(value) > LISTED else ""
        return f"**{label}** ({len(value)}): {shown}{more}"
    if key == "selected_class" and isinstance(value, int) and 0 <= value < len(class_names):
        return f"**{label}**: {escape.plain(class_names[value])} ({value})"
    return f"**{label}**: {escape.code(value)}"
