"""Links that restore a view, Streamlit side: ``restore`` (query string → session state) runs
before the page, ``publish`` (session state → query string, the sidebar's link and the report
download) after it. The format and its bounds are in `app.links`; the restored ids are checked
against the database with the rest of the selection (`app.state.reconcile`, in the frame).
"""

from __future__ import annotations

from typing import Any, Mapping
from urllib.parse import quote, urlencode

import streamlit as st

from app import report, state
from app.db import current_db
from app.links import decode_view, encode_view
from app.pages import linked_controls

__all__ = ["restore", "publish", "view_url"]

_WRITTEN_KEY = "_share_written"  # query strings this session wrote (or restored), newest last
_NOTES_KEY = "_share_notes"  # (page, notes) of the last restore
_MAX_WRITTEN = 32

# --- Streamlit: restore before the page, publish after it -------------------------------------

def _canonical(params: Mapping[str, str]) -> str:
    return urlencode(sorted(params.items()))


def _remember(params: Mapping[str, str]) -> None:
    written = st.session_state.setdefault(_WRITTEN_KEY, [])
    text = _canonical(params)
    if text in written:
        written.remove(text)
    written.append(text)
    del written[:-_MAX_WRITTEN]


def restore(page: str) -> None:
    """Apply the link's parameters to the session state, when the URL carries parameters this
    session did not write (a link just opened); show the notes of the last restore while
    ``page`` is the page it opened."""
    params = {k: str(v) for k, v in st.query_params.to_dict().items()}
    if params and _canonical(params) not in st.session_state.get(_WRITTEN_KEY, []):
        _remember(params)
        view = decode_view(params, controls=linked_controls(page))
        notes = list(view.notes)
        if not current_db().exists:
            notes.append("The link's selections cannot be checked without a database: they "
                         "are not applied.")
        else:
            for key in state.KEYS:  # the link's view replaces the current one
                state.set_value(key, view.selections.get(
                    key, [] if key in state.LIST_KEYS else None))
            for key, value in view.controls.items():
                st.session_state[key] = value
        st.session_state[_NOTES_KEY] = (page, notes)
    shown_page, notes = st.session_state.get(_NOTES_KEY, (None, []))
    if notes and shown_page == page:
        st.warning("This link could not be restored entirely:\n\n"
                   + "\n".join(f"- {n}" for n in notes))


def _current_values(page: str) -> dict[str, Any]:
    keys = list(state.KEYS) + [c.widget_key for c in linked_controls(page).values()]
    return {key: st.session_state[key] for key in keys if key in st.session_state}


def view_url(params: Mapping[str, str], *, url_path: str) -> str:
    """The link to this view: the browser's address of the page (``st.context.url``; a
    relative ``/<url_path>`` when unknown, as in tests) and ``params``."""
    base = st.context.url or f"/{url_path}"
    query = urlencode(params, safe=",", quote_via=quote)
    return f"{base}?{query}" if query else base


def publish(page: str, *, url_path: str, title: str) -> None:
    """Mirror the session's selections and ``page``'s controls into the query string, and
    show in the sidebar the link to this view and the page's report download."""
    params, left_out = encode_view(_current_values(page), controls=linked_controls(page))
    if params != st.query_params.to_dict():
        st.query_params.from_dict(params)
    _remember(params)
    url = view_url(params, url_path=url_path)
    with st.sidebar:
        st.subheader("Share")
        with st.expander("Link to this view"):
            st.caption("The copy button is at the link's top right.")
            st.code(url, language=None, wrap_lines=True)
        for what in left_out:
            st.caption(f"The link leaves out {what}.")
        report.download_button(title=title, file_stem=f"report_{page}", link=url,
                               selections=state.selection().values())
