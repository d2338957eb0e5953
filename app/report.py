"""A page's report: its figures and readings in one standalone HTML file (plotly.js included
once, inline, so it opens offline), for people without access to the server.

The figures and readings drawn during a script run are collected here (`widgets.figure` and
`widgets.reading` add them); ``start`` empties the collection at the beginning of each run.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence

import plotly.graph_objects as go
import streamlit as st
from plotly.offline import get_plotlyjs

from app.db import db_path

__all__ = ["Item", "start", "add_figure", "add_reading", "items", "page_report",
           "download_button"]

_KEY = "_report_items"
_MAX_IDS_LISTED = 30  # ids of a selection written out in the report's header


@dataclass(frozen=True)
class Item:
    """One piece of the report: a figure (``content`` is a `go.Figure`) or a reading
    (``content`` is Markdown text)."""

    kind: str
    name: str
    content: Any


def start() -> None:
    """Begin a new run's collection."""
    st.session_state[_KEY] = []


def _collected() -> list[Item]:
    return st.session_state.setdefault(_KEY, [])


def add_figure(fig: go.Figure, *, name: str) -> None:
    _collected().append(Item("figure", name, fig))


def add_reading(text: str) -> None:
    _collected().append(Item("reading", "", text))


def items() -> list[Item]:
    """The figures and readings drawn so far in this run, in order."""
    return list(_collected())


def _figure_title(fig: go.Figure, fallback: str) -> str:
    title = fig.layout.title.text if fig.layout.title else None
    if not title:
        return fallback
    text = re.sub(r"<[^>]+>", "", re.sub(r"<br\s*/?>", " ", title, flags=re.IGNORECASE))
    return " ".join(text.split())


def _markdown(text: str) -> str:
    """The little Markdown the readings use (bold, code, paragraphs) as HTML; everything else
    is escaped."""
    escaped = html.escape(text)
    escaped = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", escaped)
    escaped = re.sub(r"`(.+?)`", r"<code>\1</code>", escaped)
    return "".join(f"<p>{p.strip()}</p>" for p in re.split(r"\n\s*\n", escaped) if p.strip())


def _selection_text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        shown = ", ".join(map(str, value[:_MAX_IDS_LISTED]))
        return shown + (f" … ({len(value)} in all)" if len(value) > _MAX_IDS_LISTED else "")
    return str(value)


def page_report(report_items: Sequence[Item], *, title: str, link: str = "",
                selections: Mapping[str, Any] | None = None, database: str = "") -> str:
    """A standalone HTML document: ``title``, when it was made, the ``database`` file, the
    non-empty ``selections``, the ``link`` to the view, then every item in order (figures stay
    interactive)."""
    made = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    head = [f"<h1>{html.escape(title)}</h1>",
            f"<p class='meta'>Robustness Lottery Explorer report, made {made}"
            + (f" from <code>{html.escape(database)}</code>" if database else "") + ".</p>"]
    chosen = {k: v for k, v in (selections or {}).items() if v not in (None, [], ())}
    if chosen:
        head.append("<ul class='meta'>" + "".join(
            f"<li><strong>{html.escape(k.replace('_', ' '))}</strong>: "
            f"{html.escape(_selection_text(v))}</li>" for k, v in chosen.items()) + "</ul>")
    if link:
        head.append(f"<p class='meta'>View on the server: <a href='{html.escape(link)}'>"
                    f"{html.escape(link)}</a></p>")
    body = []
    for number, item in enumerate(report_items):
        if item.kind == "figure":
            body.append(f"<h2>{html.escape(_figure_title(item.content, item.name))}</h2>")
            body.append(item.content.to_html(full_html=False, include_plotlyjs=False,
                                              div_id=f"figure-{number}"))
        else:
            body.append(f"<div class='reading'>{_markdown(item.content)}</div>")
    if not report_items:
        body.append("<p>This page drew no figures.</p>")
    style = ("body{font-family:sans-serif;max-width:1200px;margin:auto;padding:1em}"
             ".meta{color:#555}.reading{background:#f4f6fa;padding:.2em 1em;margin:1em 0}")
    return ("<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title><style>{style}</style>"
            f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>"
            + "\n".join(head + body) + "</body></html>")


def download_button(*, title: str, file_stem: str, link: str,
                    selections: Mapping[str, Any]) -> None:
    """"Download report (HTML)" of this run's figures and readings (built on click)."""
    collected = items()
    database = db_path().name
    st.download_button("Download report (HTML)", key="share_report", on_click="ignore",
                       data=lambda: page_report(collected, title=title, link=link,
                                                selections=selections, database=database),
                       file_name=f"{file_stem}.html", mime="text/html",
                       help="This page's figures and readings in one file that opens offline.",
                       width="stretch")
