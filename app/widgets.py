"""Streamlit pieces the pages share: the database guard, figures with their downloads (CSV,
Parquet, standalone HTML) and readings that also go into the page's report, the notes on stale
or empty selections, and the pickers synchronised with the app-owned selection keys of
`app.state`.

Pickers own a widget key of their own and write the app-owned key in their ``on_change``
callback: the app-owned key is the truth (other pages and charts write it too), the widget only
shows it.
"""

from __future__ import annotations

import functools
import io
from typing import Callable, Sequence

import pandas as pd
import streamlit as st

from app import escape, report, state
from app.db import DbRef
from app.selection import selected_customdata

__all__ = [
    "NO_DATABASE",
    "SCATTER_SELECTION",
    "database_ready",
    "download_buttons",
    "figure",
    "reading",
    "drop_unknown_choice",
    "bounded_number",
    "note_empty",
    "list_picker",
    "scalar_picker",
    "placed",
    "write_choice",
    "sample_selecting_chart",
]

NO_DATABASE = "No database at {path} yet. Build one with `python -m core build --preset demo`."
# Selection tools of the per-sample scatters: a click, a box or a lasso selects samples.
SCATTER_SELECTION = ("points", "box", "lasso")


def database_ready(db: DbRef) -> bool:
    """True when ``db`` exists; otherwise says how to build one and returns False."""
    if db.exists:
        return True
    st.info(NO_DATABASE.format(path=escape.code(db.name)))
    return False


def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def _figure_html(fig) -> str:
    # plotly.js inline, so that the file opens without a network.
    return fig.to_html(include_plotlyjs=True, full_html=True)


def download_buttons(data: pd.DataFrame | Callable[[], pd.DataFrame] | None, *, label: str,
                     file_stem: str, key: str, fig=None) -> None:
    """Buttons side by side downloading ``data`` as ``<file_stem>.csv`` and
    ``<file_stem>.parquet`` and, when ``fig`` (a Plotly figure) is given, the figure as the
    standalone interactive ``<file_stem>.html``. ``data`` may be a function returning the frame:
    it then runs only when a button is clicked; None offers the figure alone. Widget keys are
    ``<key>_csv``, ``<key>_parquet`` and ``<key>_html``; a click does not rerun the page."""
    frame = data if callable(data) else (lambda: data)
    with st.container(horizontal=True):
        if data is not None:
            st.download_button(f"{label} (CSV)", data=lambda: frame().to_csv(index=False),
                               file_name=f"{file_stem}.csv", mime="text/csv",
                               key=f"{key}_csv", on_click="ignore")
            st.download_button(f"{label} (Parquet)", data=lambda: _parquet_bytes(frame()),
                               file_name=f"{file_stem}.parquet",
                               mime="application/vnd.apache.parquet", key=f"{key}_parquet",
                               on_click="ignore")
        if fig is not None:
            st.download_button("Download figure (HTML)", data=lambda: _figure_html(fig),
                               file_name=f"{file_stem}.html", mime="text/html",
                               key=f"{key}_html", on_click="ignore",
                               help="The interactive figure in one file that opens offline.")


def figure(fig, *, key: str, name: str | None = None,
           data: pd.DataFrame | Callable[[], pd.DataFrame] | None = None,
           label: str = "Download data", **chart_kwargs):
    """``st.plotly_chart(fig, key=key, **chart_kwargs)``, the figure added to the page's report,
    and a row of `download_buttons`: the table behind it (``data``, when given) as CSV and
    Parquet, and the figure as standalone HTML, all named ``<name>.<ext>`` (``name`` defaults
    to ``key``). Returns what ``st.plotly_chart`` returns (the selection state when
    ``on_select`` is set)."""
    event = st.plotly_chart(fig, key=key, **chart_kwargs)
    report.add_figure(fig, name=name or key)
    download_buttons(data, label=label, file_stem=name or key, key=key, fig=fig)
    return event


def reading(text: str) -> None:
    """A written reading of a figure (Markdown), also added to the page's report."""
    if text:
        st.markdown(text)
        report.add_reading(text)


def drop_unknown_choice(widget_key: str, options: Sequence, *, label: str) -> None:
    """Forget the session value of the choice widget ``widget_key`` when it is not one of
    ``options`` (e.g. restored from a link to another database), with a note; the widget then
    shows its default."""
    if widget_key in st.session_state and st.session_state[widget_key] not in options:
        st.info(f"Ignoring {label} {escape.code(st.session_state[widget_key])}: not an option "
                "here.")
        del st.session_state[widget_key]


def bounded_number(container, label: str, *, key: str, min_value, max_value, default,
                   **kwargs):
    """A ``number_input`` in ``container`` whose value lives in ``st.session_state[key]``
    (``default`` at first). A value outside [min_value, max_value] or of another type (e.g.
    restored from a link) is replaced by ``default`` with a note. Returns the value."""
    kind = type(default)
    value = st.session_state.get(key)
    valid = (isinstance(value, (int, float)) and not isinstance(value, bool)
             and min_value <= value <= max_value)
    if key in st.session_state and not valid:
        st.info(f"Ignoring {label} = {escape.code(value)}: it must be between {min_value} and "
                f"{max_value}.")
    st.session_state[key] = kind(value) if valid else default
    return container.number_input(label, min_value=min_value, max_value=max_value, key=key,
                                  **kwargs)


# --- empty selections ------------------------------------------------------------------------

def note_empty(state_key: str, noun: str, default) -> None:
    """A note that ``default`` is shown while the list key ``state_key`` selects nothing."""
    if not getattr(state.selection(), state_key):
        st.info(f"No {noun} is selected (choose on the Overview or below): showing "
                f"{escape.code(default)}.")


# --- pickers synchronised with the app-owned keys ---------------------------------------------

def list_picker(label: str, options: list, *, state_key: str, position: int, default,
                key_prefix: str, shown: Sequence = ()):
    """A selectbox showing element ``position`` of the list key ``state_key`` (``default`` when
    the list is shorter); choosing writes the value at that position (see `placed`). ``shown``
    are the values displayed for the earlier positions, written too when the list was shorter.
    The widget key is ``<key_prefix>_<state_key>_<position>``. Returns the value shown."""
    values = [v for v in getattr(state.selection(), state_key) if v in options]
    value = values[position] if len(values) > position else default
    widget_key = f"{key_prefix}_{state_key}_{position}"
    st.session_state[widget_key] = value
    st.selectbox(label, options, key=widget_key, on_change=_write_list_choice,
                 args=(widget_key, state_key, position, tuple(options), tuple(shown)))
    return value


def _write_list_choice(widget_key: str, state_key: str, position: int, options: tuple,
                       shown: tuple) -> None:
    values = [v for v in getattr(state.selection(), state_key) if v in options]
    state.set_value(state_key, placed(values, position, st.session_state[widget_key], shown))


def placed(values: Sequence, position: int, choice, shown: Sequence = ()) -> list:
    """``values`` with ``choice`` at ``position``: a choice already elsewhere in the list swaps
    places with the value it replaces (no duplicates); a list shorter than ``position`` is first
    filled from ``shown`` (the values displayed for the earlier positions)."""
    values = list(values)
    while len(values) < position:
        values.append(shown[len(values)])
    if choice in values:
        previous = values.index(choice)
        if previous == position:
            return values
        if position < len(values):
            values[previous] = values[position]
        else:
            del values[previous]
    if position < len(values):
        values[position] = choice
    else:
        values.append(choice)
    return values


def scalar_picker(label: str, options: list, *, state_key: str, default, key_prefix: str,
                  format_func: Callable = str):
    """A selectbox showing the scalar key ``state_key`` (``default`` when it is unset or not an
    option, with a note in the latter case); choosing writes it. The widget key is
    ``<key_prefix>_<state_key>``. Returns the value shown."""
    value = getattr(state.selection(), state_key)
    if value not in options:
        if value is not None:
            st.info(f"Ignoring `{state_key}` = {escape.code(value)}: not in this database.")
        value = default
    widget_key = f"{key_prefix}_{state_key}"
    st.session_state[widget_key] = value
    st.selectbox(label, options, key=widget_key, format_func=format_func,
                 on_change=write_choice, args=(widget_key, state_key))
    return value


def write_choice(widget_key: str, state_key: str) -> None:
    """``on_change`` callback: copy a widget's value to the app-owned key ``state_key``."""
    state.set_value(state_key, st.session_state[widget_key])


# --- charts whose selection selects samples ---------------------------------------------------

def _write_selected_samples(chart_key: str) -> None:
    state.set_value("selected_samples", selected_customdata(st.session_state.get(chart_key)))


def sample_selecting_chart(fig, *, key: str, **figure_kwargs) -> None:
    """A Plotly `figure` (full width, with its HTML download) whose click, box or lasso
    selection becomes the selected samples; its points carry the sample id first in
    ``customdata``. ``figure_kwargs`` (``name``, ``data``, ``label``) go to `figure`."""
    figure(fig, key=key, width="stretch", selection_mode=SCATTER_SELECTION,
           on_select=functools.partial(_write_selected_samples, key), **figure_kwargs)
