"""Streamlit entry point: navigation, the link's view restored, the shared sidebar, the chosen
page, then the view mirrored into the URL with the sidebar's link and report download."""

from __future__ import annotations

from pathlib import Path

import duckdb
import streamlit as st

from app import escape, report, share, sidebar
from app.db import current_db
from app.pages import ALIASES, alias, page as app_page
from app.state import init_state
from core.store import ForeignDatabase, NotADuckDBFile, SchemaVersionError

st.set_page_config(page_title="Robustness Lottery Explorer", layout="wide")
init_state()
report.start()
pages = {name: app_page(name) for name in ("guide", "overview", "geometry", "attribution")}
page = st.navigation(list(pages.values()) + [alias(path) for path in ALIASES])
if page.url_path in ALIASES:  # an old address: open its page at the page's own address
    st.switch_page(pages[ALIASES[page.url_path]], query_params=st.query_params.to_dict())
name = next(n for n, p in pages.items() if p.url_path == page.url_path)
try:
    share.restore(name)
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
