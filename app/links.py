"""Links that restore a view, the pure codec: the app-owned selections (see `app.state`) and the
current page's own controls are encoded into the URL's query string and decoded from it
(`app.share` is the Streamlit side that restores and publishes them; each page module declares
its linked controls as ``LINKED_CONTROLS``, a mapping of parameter name → `Control`).

Query-string format (every parameter optional; an absent one leaves its selection empty):

========== ======================= ===================================================
parameter  session-state key       value
========== ======================= ===================================================
models     selected_models         model ids, comma-separated, in selection order
benchmarks selected_benchmarks     benchmark ids, comma-separated, in selection order
samples    selected_samples        sample ids as sorted ranges: ``3-17,40``
reference  reference_benchmark     a benchmark id
compared   compared_benchmark      a benchmark id
class      selected_class          a class index
sample     selected_sample         a sample id
(page)     the page's widget keys  its ``LINKED_CONTROLS``: a choice, ``1``/``0``, a number
========== ======================= ===================================================

Ids are escaped only where they would break the format (``%`` → ``%25``, ``,`` → ``%2C``).

Values from a URL are untrusted: each parameter is bounded (`MAX_PARAM_CHARS` characters,
`MAX_IDS` ids) and parsed without evaluating anything; what cannot be parsed is said in a note
and the rest of the link still applies. The ids are then checked against the database with every
other selection, once per rerun (`app.state.reconcile`), never formatted into SQL or paths.

``restore`` (query string → session state) runs before the page, once per session or when the
URL carries parameters this session did not write; ``publish`` (session state → query string,
the sidebar's link and report download) runs after it. Pages only write session state.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np

from app import escape

__all__ = [
    "MAX_IDS",
    "MAX_PARAM_CHARS",
    "SELECTION_PARAMS",
    "Control",
    "LinkedView",
    "LinkValueError",
    "encode_ranges",
    "decode_ranges",
    "encode_ids",
    "decode_ids",
    "encode_view",
    "decode_view",
]

MAX_PARAM_CHARS = 20_000  # characters of one parameter's value at most
MAX_IDS = 5_000  # ids one list parameter may name at most (ranges counted expanded)
_MAX_NUMBER_DIGITS = 12  # a sample id or class index longer than this is malformed
_SHOWN_CHARS = 40  # characters of an offending value quoted in a note
# Streamlit's own parameters (embedding options): neither ours nor unknown.
_STREAMLIT_PARAMS = frozenset({"embed", "embed_options"})

SELECTION_PARAMS = {"models": "selected_models", "benchmarks": "selected_benchmarks",
                    "samples": "selected_samples", "reference": "reference_benchmark",
                    "compared": "compared_benchmark", "class": "selected_class",
                    "sample": "selected_sample"}
_ID_LISTS = {"models", "benchmarks"}


@dataclass(frozen=True)
class Control:
    """A page's own widget mirrored in links: its widget key and value kind ("choice": a
    string, or an int when it is all digits; "flag": ``1``/``0``; "int"; "float"). The page
    checks a restored value against its options or bounds when it draws the widget."""

    widget_key: str
    kind: str


class LinkValueError(ValueError):
    """A link parameter that cannot be used at all (too long, too many ids)."""


def _shown(value: Any) -> str:
    """``value`` quoted in a note: a code span nothing in it can close, shortened."""
    return escape.code(value, max_chars=_SHOWN_CHARS)


def _check_length(name: str, text: str) -> None:
    if len(text) > MAX_PARAM_CHARS:
        raise LinkValueError(f"`{name}` is {len(text):,} characters long (at most "
                             f"{MAX_PARAM_CHARS:,} are read)")


# --- ranges and id lists ----------------------------------------------------------------------

def encode_ranges(ids: Iterable[int]) -> str:
    """Non-negative integers as sorted, comma-separated ranges: ``[40, 3, 4, 5]`` → ``"3-5,40"``
    (a run of two is written ``3,4``). Duplicates are dropped."""
    values = np.unique(np.asarray(list(ids), dtype=np.int64))
    if values.size == 0:
        return ""
    breaks = np.flatnonzero(np.diff(values) != 1)
    starts = values[np.r_[0, breaks + 1]]
    ends = values[np.r_[breaks, values.size - 1]]
    parts = []
    for start, end in zip(starts.tolist(), ends.tolist()):
        if end == start:
            parts.append(str(start))
        elif end == start + 1:
            parts.append(f"{start},{end}")
        else:
            parts.append(f"{start}-{end}")
    return ",".join(parts)


_RANGE = re.compile(rf"^(\d{{1,{_MAX_NUMBER_DIGITS}}})(?:-(\d{{1,{_MAX_NUMBER_DIGITS}}}))?$")


def decode_ranges(text: str, *, name: str = "samples", max_ids: int = MAX_IDS
                  ) -> tuple[list[int], int]:
    """Inverse of `encode_ranges`: (sorted unique ids, number of malformed parts). Parts that
    are not ``N`` or ``A-B`` with ``A <= B`` are malformed and skipped. Raises
    `LinkValueError` when ``text`` is longer than `MAX_PARAM_CHARS` or names more than
    ``max_ids`` ids — counted before anything is expanded."""
    _check_length(name, text)
    bounds, malformed = [], 0
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        match = _RANGE.match(part)
        if match is None:
            malformed += 1
            continue
        start = int(match.group(1))
        end = int(match.group(2)) if match.group(2) is not None else start
        if end < start:
            malformed += 1
            continue
        bounds.append((start, end))
    total = sum(end - start + 1 for start, end in bounds)
    if total > max_ids:
        raise LinkValueError(f"`{name}` names {total:,} ids (at most {max_ids:,} are read)")
    if not bounds:
        return [], malformed
    ids = np.concatenate([np.arange(start, end + 1, dtype=np.int64) for start, end in bounds])
    return np.unique(ids).tolist(), malformed


def _escape_id(value: str) -> str:
    return str(value).replace("%", "%25").replace(",", "%2C")


def _unescape_id(value: str) -> str:
    return value.replace("%2C", ",").replace("%2c", ",").replace("%25", "%")


def encode_ids(ids: Iterable[str]) -> str:
    """String ids, comma-separated in their order (commas and ``%`` inside an id escaped)."""
    return ",".join(_escape_id(i) for i in ids)


def decode_ids(text: str, *, name: str = "models", max_ids: int = MAX_IDS) -> list[str]:
    """Inverse of `encode_ids`: the ids in order, empty parts and repeats dropped. Raises
    `LinkValueError` when ``text`` is too long or names more than ``max_ids`` ids."""
    _check_length(name, text)
    parts = [p.strip() for p in text.split(",")]
    parts = [p for p in parts if p]
    if len(parts) > max_ids:
        raise LinkValueError(f"`{name}` names {len(parts):,} ids (at most {max_ids:,} are read)")
    return list(dict.fromkeys(_unescape_id(p) for p in parts))


# --- a whole view -----------------------------------------------------------------------------

def _encode_scalar(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "1" if value else "0"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):g}"
    return str(value)


def encode_view(values: Mapping[str, Any], *, controls: Mapping[str, Control] | None = None
                ) -> tuple[dict[str, str], list[str]]:
    """Query parameters for ``values`` (session-state and widget keys → values; absent, None
    and empty values are left out) with the page's ``controls`` (parameter name → `Control`),
    and a note per value left out because it does not fit in a link (over `MAX_PARAM_CHARS` or
    `MAX_IDS`)."""
    params: dict[str, str] = {}
    left_out: list[str] = []
    for name, key in SELECTION_PARAMS.items():
        value = values.get(key)
        if value is None or (isinstance(value, (list, tuple)) and not value):
            continue
        if name == "samples":
            numbers = [v for v in value if _is_integer(v)]
            if len(numbers) > MAX_IDS:
                left_out.append(f"the {len(value):,} selected samples (a link holds at most "
                                f"{MAX_IDS:,})")
                continue
            text = encode_ranges(int(v) for v in numbers)
        elif name in _ID_LISTS:
            text = encode_ids(map(str, value))
        else:
            text = _encode_scalar(value)
        if len(text) > MAX_PARAM_CHARS:
            left_out.append(f"{key.replace('_', ' ')} ({len(text):,} characters in a link, at "
                            f"most {MAX_PARAM_CHARS:,})")
            continue
        params[name] = text
    for name, control in (controls or {}).items():
        value = values.get(control.widget_key)
        if value is None:
            continue
        text = _encode_scalar(value)
        if len(text) <= MAX_PARAM_CHARS:
            params[name] = text
    return params, left_out


def _is_integer(value: Any) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, (int, np.integer)):
        return True
    return isinstance(value, (float, np.floating)) and float(value).is_integer()


@dataclass
class LinkedView:
    """What a link asks for, parsed but not yet checked against the database: ``selections``
    (session-state key → ids or a value), ``controls`` (widget key → value) and ``notes`` on
    what could not be parsed."""

    selections: dict[str, Any] = field(default_factory=dict)
    controls: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _parse_number(text: str, *, integer: bool) -> int | float:
    text = text.strip()
    if len(text) > 2 * _MAX_NUMBER_DIGITS:
        raise ValueError(text)
    if integer:
        if not re.fullmatch(r"-?\d+", text):
            raise ValueError(text)
        return int(text)
    value = float(text)
    if not np.isfinite(value):
        raise ValueError(text)
    return value


def _parse_control(text: str, kind: str) -> Any:
    if kind == "flag":
        if text not in ("0", "1"):
            raise ValueError(text)
        return text == "1"
    if kind in ("int", "float"):
        return _parse_number(text, integer=kind == "int")
    return int(text) if re.fullmatch(r"\d{1,12}", text) else text


def decode_view(params: Mapping[str, str], *, controls: Mapping[str, Control] | None = None
                ) -> LinkedView:
    """Parse the query parameters of a link (a mapping of name → last value) to a page whose
    linked controls are ``controls`` (parameter name → `Control`). Never raises on hostile
    input: unknown names, malformed values and oversized parameters are left out with a note."""
    view = LinkedView()
    controls = controls or {}
    unknown = [n for n in params if n not in SELECTION_PARAMS and n not in controls
               and n not in _STREAMLIT_PARAMS]
    if unknown:
        view.notes.append(f"Ignored {len(unknown)} unknown link parameter(s): "
                          + ", ".join(_shown(n) for n in unknown[:5])
                          + (" …" if len(unknown) > 5 else "") + ".")
    for name, key in SELECTION_PARAMS.items():
        if name not in params:
            continue
        text = str(params[name])
        try:
            if name == "samples":
                ids, malformed = decode_ranges(text, name=name)
                if malformed:
                    view.notes.append(f"Ignored {malformed} malformed part(s) of `samples` "
                                      "(expected ids and ranges such as `3-17,40`).")
                view.selections[key] = ids
            elif name in _ID_LISTS:
                view.selections[key] = decode_ids(text, name=name)
            else:
                _check_length(name, text)
                value = text.strip()
                if name in ("class", "sample"):
                    if not re.fullmatch(rf"\d{{1,{_MAX_NUMBER_DIGITS}}}", value):
                        raise ValueError(value)
                    value = int(value)
                view.selections[key] = value
        except LinkValueError as exc:
            view.notes.append(f"Ignored {exc}.")
        except ValueError:
            view.notes.append(f"Ignored `{name}` = {_shown(text)}: not a valid value.")
    for name, control in controls.items():
        if name not in params:
            continue
        text = str(params[name])
        try:
            _check_length(name, text)
            view.controls[control.widget_key] = _parse_control(text.strip(), control.kind)
        except LinkValueError as exc:
            view.notes.append(f"Ignored {exc}.")
        except ValueError:
            view.notes.append(f"Ignored `{name}` = {_shown(text)}: not a valid value.")
    return view
