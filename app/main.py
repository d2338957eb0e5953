"""The app's frame, run by the entry script `streamlit_app.py` on every rerun: navigation, the
link's view restored, the selection reconciled with the database, the shared sidebar, the chosen
page, then the view mirrored into the URL with the sidebar's link and report download."""

from __future__ import annotations

from pathlib import Path

import duckdb
import streamlit as st

from app import escape, report, share, sidebar, state
from app.db import current_db
from app.pages import PAGE_NAMES, page as app_page
from app.queries import common
from core.store import ForeignDatabase, NotADuckDBFile, SchemaVersionError


def main() -> None:
    st.set_page_config(page_title="Robustness Lottery Explorer", layout="wide")
    state.init_state()
    report.start()
    pages = {name: app_page(name) for name in PAGE_NAMES}
    page = st.navigation(list(pages.values()))
    name = next(n for n, p in pages.items() if p.url_path == page.url_path)
    try:
        share.restore(name)
        _reconcile_selection()
        sidebar.render()
        page.run()
        share.publish(name, url_path=page.url_path, title=page.title)
    except (SchemaVersionError, FileNotFoundError, duckdb.IOException, NotADuckDBFile,
            ForeignDatabase) as exc:
        # A database that is missing, locked, not ours or from another version is an operator's
        # problem to fix; say which and how instead of showing a traceback (naming the file, not
        # the server's directories).
        served = current_db()
        reason = str(exc).replace(str(Path(served.path).resolve()), served.name)
        st.error("The results database cannot be read: "
                 + escape.plain(reason.replace(served.path, served.name), max_chars=400))


def _reconcile_selection() -> None:
    """Drop the selected ids this database does not hold (left over from another database, or
    named by a link), with one note: pages, pickers and the sidebar see known ids only."""
    db = current_db()
    if not db.exists or not db.has_table("models"):
        return  # nothing to check against yet: a build is starting, or no database
    current = state.selection()
    with_samples = bool(current.selected_samples) or current.selected_sample is not None
    note = state.reconcile(common.selection_catalog(db, with_samples=with_samples))
    if note:
        st.info(note)
