"""The sidebar every page shares: which database, the build's progress, the current selections."""

from __future__ import annotations

from pathlib import Path

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
        # After the frame's reconciliation: every id counted here is one this database holds.
        for key, value in state.selection().values().items():
            if value not in (None, []):
                shown = f"{len(value)} chosen" if isinstance(value, list) else escape.plain(value)
                st.caption(f"**{key.replace('_', ' ')}**: {shown}")
        if st.button("Clear all selections", use_container_width=True):
            for key in state.LIST_KEYS:
                state.set_value(key, [])
            for key in state.SCALAR_KEYS:
                state.set_value(key, None)
            st.rerun()
