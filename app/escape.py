"""Outside text in the app's messages: every value that comes from a link, a file or the
database (ids, control values, names, error texts) goes through one of these before it is
written into Markdown (``st.info``, ``st.caption`` …), so it shows as the characters it is and
never as formatting: a crafted link cannot close the message's code span and add bold text,
a link, an image or HTML in the app's own voice.

- :func:`code`: the value as an inline code span (ids, control values, file names).
- :func:`plain`: the value as ordinary text, every Markdown character escaped.

Both put the value on one line and shorten it to ``max_chars`` characters ("…").
"""

from __future__ import annotations

import re

__all__ = ["code", "plain", "MAX_CHARS"]

MAX_CHARS = 80

# Every ASCII punctuation character may be backslash-escaped in CommonMark; escaping all of them
# also disarms Streamlit's own Markdown extensions (":red[…]" colours, ":emoji:" codes, "$…$"
# math) and raw HTML ("<img …>").
_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


def _one_line(value: object, max_chars: int) -> str:
    text = " ".join(str(value).split())
    if len(text) > max_chars:
        text = text[:max_chars - 1].rstrip() + "…"
    return text


def plain(value: object, *, max_chars: int = MAX_CHARS) -> str:
    """``value`` as Markdown that renders as exactly its text (on one line, at most
    ``max_chars`` characters)."""
    return _PUNCTUATION.sub(r"\\\1", _one_line(value, max_chars))


def code(value: object, *, max_chars: int = MAX_CHARS) -> str:
    """``value`` as a Markdown inline code span that nothing in it can close: the fence is one
    backtick longer than the longest run of backticks in the value (CommonMark code spans end
    only at a run of the same length), padded with spaces when the value starts or ends with a
    backtick. Inside a code span nothing is formatting (no links, images, HTML, emphasis)."""
    text = _one_line(value, max_chars)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    if not text:
        return "` `"      # an empty value shows as an empty code span, not as two backticks
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"
