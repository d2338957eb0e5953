"""Links that restore a view, the pure part: the app-owned selections (see `app.state`) and the
current page's own controls are encoded into the URL's query string, decoded from it and checked
against the database (`app.share` is the Streamlit side that restores and publishes them).

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
(page)     the page's widget keys  see `PAGE_CONTROLS`: a choice, ``1``/``0``, a number
========== ======================= ===================================================

Ids are escaped only where they would break the format (``%`` → ``%25``, ``,`` → ``%2C``).

Values from a URL are untrusted: each parameter is bounded (`MAX_PARAM_CHARS` characters,
`MAX_IDS` ids), parsed without evaluating anything, and checked against the database by
membership in the known ids (never formatted into SQL or paths). What is dropped is said in a
note (an offending value quoted with ``app.escape.code``, so it cannot format the note); the
rest of the link still applies.

``restore`` (query string → session state) runs before the page, once per session or when the
URL carries parameters this session did not write; ``publish`` (session state → query string,
the sidebar's link and report download) runs after it. Pages only write session state.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np

from app import escape, state

__all__ = [
    "MAX_IDS",
    "MAX_PARAM_CHARS",
    "SELECTION_PARAMS",
    "PAGE_CONTROLS",
    "Control",
    "Catalog",
    "LinkedView",
    "LinkValueError",
    "encode_ranges",
    "decode_ranges",
    "encode_ids",
    "decode_ids",
    "encode_view",
    "decode_view",
    "validate_view",
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
_BENCHMARK_SCALARS = {"reference", "compared"}


@dataclass(frozen=True)
class Control:
    """A page's own widget mirrored in links: its widget key and value kind ("choice": a
    string, or an int when it is all digits; "flag": ``1``/``0``; "int"; "float"). The page
    checks a restored value against its options or bounds when it draws the widget."""

    widget_key: str
    kind: str


PAGE_CONTROLS: dict[str, dict[str, Control]] = {
    "overview": {"severity": Control("overview_severity", "choice"),
                 "measure": Control("overview_similarity_measure", "choice"),
                 "placement": Control("overview_placement", "choice"),
                 "arch": Control("overview_vulnerable_arch", "choice"),
                 "fit": Control("overview_effective_fit", "choice")},
    "geometry": {"compare": Control("geometry_compare_mode", "choice"),
                 "global": Control("geometry_global_mode", "choice"),
                 "axes": Control("geometry_axis_rule", "choice")},
    "attribution": {"benchmark": Control("attribution_benchmark", "choice"),
                    "window": Control("attribution_window", "int"),
                    "stride": Control("attribution_stride", "int"),
                    "baseline": Control("attribution_baseline", "float"),
                    "saliency": Control("attribution_saliency", "flag")},
}


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


def encode_view(values: Mapping[str, Any], *, page: str) -> tuple[dict[str, str], list[str]]:
    """Query parameters for ``values`` (session-state and widget keys → values; absent, None
    and empty values are left out) on ``page``, and a note per value left out because it does
    not fit in a link (over `MAX_PARAM_CHARS` or `MAX_IDS`)."""
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
    for name, control in PAGE_CONTROLS.get(page, {}).items():
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


def decode_view(params: Mapping[str, str], *, page: str) -> LinkedView:
    """Parse the query parameters of a link to ``page`` (a mapping of name → last value).
    Never raises on hostile input: unknown names, malformed values and oversized parameters
    are left out with a note."""
    view = LinkedView()
    controls = PAGE_CONTROLS.get(page, {})
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


@dataclass(frozen=True)
class Catalog:
    """What the database holds, to check a link against: model and benchmark ids, the number
    of classes, and the sample ids present (sorted; only needed when a link names samples)."""

    model_ids: frozenset[str]
    benchmark_ids: frozenset[str]
    num_classes: int
    sample_ids: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))


def _dropped(count: int, noun: str, examples: list, *, of: int) -> str:
    shown = ", ".join(_shown(e) for e in examples[:3])
    more = " …" if len(examples) > 3 else ""
    return f"Dropped {count} of the link's {of} {noun} not in this database ({shown}{more})."


def validate_view(view: LinkedView, catalog: Catalog) -> tuple[dict[str, Any], list[str]]:
    """The selections of ``view`` that ``catalog`` knows (session-state key → value; a list
    key whose ids are all unknown becomes empty, a scalar key that is unknown is left out) and
    a note per kind of id dropped."""
    values: dict[str, Any] = {}
    notes: list[str] = []
    known_lists = {"selected_models": (catalog.model_ids, "model id(s)"),
                   "selected_benchmarks": (catalog.benchmark_ids, "benchmark id(s)")}
    for key, (known, noun) in known_lists.items():
        if key in view.selections:
            kept, unknown = state.keep_known(view.selections[key], known)
            if unknown:
                notes.append(_dropped(len(unknown), noun, unknown,
                                      of=len(view.selections[key])))
            values[key] = kept
    if "selected_samples" in view.selections:
        ids = np.asarray(view.selections["selected_samples"], dtype=np.int64)
        present = np.isin(ids, catalog.sample_ids)
        if not present.all():
            notes.append(_dropped(int((~present).sum()), "sample id(s)", ids[~present].tolist(),
                                  of=len(ids)))
        values["selected_samples"] = ids[present].tolist()
    for name in _BENCHMARK_SCALARS:
        key = SELECTION_PARAMS[name]
        if key in view.selections:
            if view.selections[key] in catalog.benchmark_ids:
                values[key] = view.selections[key]
            else:
                notes.append(f"Ignored `{name}` = {_shown(view.selections[key])}: no such "
                             "benchmark in this database.")
    if "selected_class" in view.selections:
        index = view.selections["selected_class"]
        if 0 <= index < catalog.num_classes:
            values["selected_class"] = index
        else:
            notes.append(f"Ignored `class` = {_shown(index)}: this database has "
                         f"{catalog.num_classes} classes (0 to {catalog.num_classes - 1}).")
    if "selected_sample" in view.selections:
        sample = view.selections["selected_sample"]
        if np.isin(sample, catalog.sample_ids):
            values["selected_sample"] = sample
        else:
            notes.append(f"Ignored `sample` = {_shown(sample)}: no such sample in this "
                         "database.")
    return values, notes

