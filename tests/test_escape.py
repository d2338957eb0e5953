"""app/escape.py: outside text shown as its characters in Markdown messages. The rendering in a
real browser is tests/test_browser_payloads.py; here the CommonMark rules the helpers rely on."""

import re

import pytest

from app import escape

PAYLOADS = ["x` **bold** [link](http://evil.example) ![](http://evil.example/p.png) `",
            "``", "`", "a ``` b ` c", "<img src=x onerror=alert(1)>", "line\n\nnext\r\n# head",
            ":red[x] $y$ :smile: \\*", "A" * 500, "", "plain words"]


def one_line(value: str, max_chars: int = escape.MAX_CHARS) -> str:
    text = " ".join(value.split())
    return text if len(text) <= max_chars else text[:max_chars - 1].rstrip() + "…"


@pytest.mark.parametrize("value", PAYLOADS)
def test_code_span_cannot_be_closed_from_inside(value):
    span = escape.code(value)
    fence = re.match(r"`+", span).group()
    inner = span[len(fence):len(span) - len(fence)]
    assert span.endswith(fence)
    assert not inner.startswith("`") and not inner.endswith("`")   # padded where the value is
    # CommonMark: a code span closes only at a backtick run as long as its opening one.
    assert all(len(run) != len(fence) for run in re.findall(r"`+", inner))
    shown = inner[1:-1] if inner.startswith(" ") and inner.endswith(" ") and inner.strip() \
        else inner
    assert shown == (one_line(value) or " ")
    assert "\n" not in span


def test_code_hand_worked_cases():
    assert escape.code("fog-5") == "`fog-5`"
    assert escape.code("a`b") == "``a`b``"
    assert escape.code("`x") == "`` `x ``"
    assert escape.code("x``") == "``` x`` ```"


@pytest.mark.parametrize("value", PAYLOADS)
def test_plain_escapes_every_markdown_character(value):
    text = escape.plain(value)
    # Removing the escapes gives back the value (on one line, shortened) …
    assert re.sub(r"\\(.)", r"\1", text) == one_line(value)
    # … and no punctuation character is left unescaped (no emphasis, link, image, HTML,
    # Streamlit colour, emoji or math can start).
    unescaped = re.sub(r"\\.", "", text)
    assert not re.search(r"[!-/:-@\[-`{-~]", unescaped)


def test_long_values_are_shortened_and_newlines_joined():
    assert escape.code("A" * 500) == "`" + "A" * 79 + "…`"
    assert escape.plain("x\n\ny", max_chars=10) == "x y"
    assert len(escape.plain("word " * 100, max_chars=20)) <= 20
