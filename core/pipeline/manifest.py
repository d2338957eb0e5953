"""A researcher's own grid of checkpoints, registered in one command: ``python -m core import
MANIFEST --db DB``.

The manifest is a CSV file with a header row and one row per checkpoint (README, "Bring your
own trained models"):

- ``checkpoint`` (required): the state dict's path, relative to the manifest's folder;
- ``arch`` (required): a registry architecture or ``tv:<name>``;
- ``method`` (required): ``dense``, ``magnitude``, … (free text, as for ``add-model``);
- ``ratio``: the fraction of prunable weights removed, in [0, 1) (default 0);
- ``retrained``: ``true``/``false`` (also ``1``/``0``, ``yes``/``no``; default false);
- ``seed``: an integer >= 0 (default 0); ``width``: a number > 0 (default 1);
- ``model_id``: the id (default ``<arch>-<method>-r<ratio>[-rt]-s<seed>-user``);
- ``parent``: the id of the model it was pruned from, in the manifest or the database (empty
  for a model trained from scratch).

The whole manifest is checked before anything is written — every row's values, missing or
unreadable files, state dicts that do not fit their architecture, duplicate ids (within the
manifest or already in the database), parents found in neither, and a measured sparsity that
contradicts the stated ratio by more than ``sparsity_tolerance`` (structured methods, whose
models are smaller rather than sparse, are exempt) — and every problem is reported, one line
each, as a :class:`ManifestError`. Only a manifest without problems is written, in one
transaction.
"""

from __future__ import annotations

import csv
from pathlib import Path

from .. import store
from ..store import builds as store_builds
from .publish import WorkFile
from .register import UserModel, prepare_model, write_models

__all__ = ["ManifestError", "read_manifest", "import_manifest", "MANIFEST_COLUMNS",
           "SPARSITY_TOLERANCE"]

MANIFEST_COLUMNS = ("model_id", "checkpoint", "arch", "method", "ratio", "retrained", "seed",
                    "parent", "width")
_REQUIRED = ("checkpoint", "arch", "method")
# |measured sparsity − ratio| allowed: per-layer rounding of the pruned counts, and a few weights
# that are zero by chance, stay well inside it.
SPARSITY_TOLERANCE = 0.02
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no", "")


class ManifestError(ValueError):
    """A manifest with problems: ``problems`` holds one line per problem."""

    def __init__(self, manifest: Path, problems: list[str]):
        self.problems = list(problems)
        super().__init__(f"{manifest}: {len(problems)} problem(s), nothing written:\n"
                         + "\n".join(problems))


def _number(text: str, column: str, kind: type, check, expected: str) -> float | int:
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not check(value):
        raise ValueError(f"`{column}` must be {expected}. Got {text!r} instead.")
    return value


def _entry(row: dict, folder: Path) -> UserModel:
    """One row as a :class:`UserModel`; raises ValueError naming the first bad value."""
    for column in _REQUIRED:
        if not row.get(column):
            raise ValueError(f"`{column}` is empty; every row needs one.")
    retrained = (row.get("retrained") or "").strip().lower()
    if retrained not in _TRUE + _FALSE:
        raise ValueError(f"`retrained` must be true or false. Got {row['retrained']!r} instead.")
    return UserModel(
        checkpoint=folder / row["checkpoint"], arch=row["arch"], method=row["method"],
        ratio=_number(row.get("ratio") or "0", "ratio", float, lambda r: 0 <= r < 1,
                      "a number in [0, 1)"),
        retrained=retrained in _TRUE,
        seed=_number(row.get("seed") or "0", "seed", int, lambda s: s >= 0, "an integer >= 0"),
        width=_number(row.get("width") or "1", "width", float, lambda w: w > 0, "a number > 0"),
        model_id=row.get("model_id") or None, parent=row.get("parent") or None)


def read_manifest(path: str | Path) -> tuple[list[tuple[int, UserModel]], list[tuple[int, str]]]:
    """The rows of a manifest as ``(line number, UserModel)`` and the problems of the rows that
    could not be read as ``(line number, message naming the file and line)``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Manifest {path} does not exist (expected a CSV file with the "
                                f"columns {', '.join(MANIFEST_COLUMNS)}).")
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle, skipinitialspace=True)
        header = [c.strip() for c in reader.fieldnames or []]
        unknown = sorted(set(header) - set(MANIFEST_COLUMNS))
        missing = [c for c in _REQUIRED if c not in header]
        if unknown or missing:
            optional = ", ".join(c for c in MANIFEST_COLUMNS if c not in _REQUIRED)
            raise ValueError(f"{path}: the header must name the columns {', '.join(_REQUIRED)} "
                             f"and optionally {optional}. Got {', '.join(header) or 'no header'} "
                             "instead.")
        reader.fieldnames = header
        entries, problems = [], []
        for row in reader:
            line = reader.line_num
            row = {k: (v or "").strip() for k, v in row.items() if k is not None}
            try:
                entries.append((line, _entry(row, path.parent)))
            except ValueError as exc:
                problems.append((line, f"{path} line {line}: {exc}"))
    if not entries and not problems:
        raise ValueError(f"{path}: the manifest lists no checkpoint.")
    return entries, problems


def _check_entries(path: Path, entries: list[tuple[int, UserModel]], info: dict,
                   stored: set[str], tolerance: float
                   ) -> tuple[list[dict], list[tuple[int, str]]]:
    """The ``models`` rows of the entries that pass, and (line number, message) per problem."""
    rows, problems = [], []
    ids: dict[str, int] = {}
    for line, entry in entries:
        model_id, here = entry.resolved_id, f"{path} line {line}"
        if model_id in ids:
            problems.append((line, f"{here}: model id {model_id!r} is also the id of line "
                                   f"{ids[model_id]}."))
        elif model_id in stored:
            problems.append((line, f"{here}: model id {model_id!r} is already in the database; "
                                   "give this row another `model_id`."))
        ids.setdefault(model_id, line)
    for line, entry in entries:
        here = f"{path} line {line}"
        if entry.parent and entry.parent not in ids and entry.parent not in stored:
            problems.append((line, f"{here}: parent {entry.parent!r} is neither in the manifest "
                                   "nor in the database."))
        if entry.parent == entry.resolved_id:
            problems.append((line, f"{here}: model {entry.parent!r} cannot be its own parent."))
        try:
            row, _ = prepare_model(entry, info)
        except (OSError, ValueError, RuntimeError) as exc:   # a forward pass may fail too
            problems.append((line, f"{here}: {' '.join(str(exc).split())}"))
            continue
        if (not entry.method.startswith("structured")
                and abs(row["sparsity"] - entry.ratio) > tolerance):
            problems.append((line, f"{here}: checkpoint {entry.checkpoint.name} has sparsity "
                            f"{row['sparsity']:.3f} but the row states ratio {entry.ratio:g} "
                            f"(tolerance {tolerance:g})."))
        rows.append(row)
    return rows, problems


def import_manifest(db_path: str | Path, manifest: str | Path, *,
                    sparsity_tolerance: float = SPARSITY_TOLERANCE) -> list[str]:
    """Register every checkpoint of ``manifest`` (see the module docstring) in ``db_path``, a
    database a build has created (it holds the dataset the checkpoints are checked against).

    Raises :class:`ManifestError` listing every problem, with nothing written; otherwise writes
    all ``models`` rows in one transaction (through the work file, published atomically, with
    the writer lock held, as :func:`core.pipeline.register.add_model`) and returns their ids.
    The next ``python -m core build --db`` evaluates them. A ``db_path`` that is not one of this
    project's databases is refused first (:func:`core.store.check_project_file`).
    """
    db_path, manifest = Path(db_path), Path(manifest)
    if not 0 <= sparsity_tolerance < 1:
        raise ValueError(f"`sparsity_tolerance` must be in [0, 1). Got {sparsity_tolerance} "
                         "instead.")
    entries, problems = read_manifest(manifest)
    store.check_project_file(db_path)   # before the writer lock creates files next to it
    with WorkFile(db_path) as work:
        con = store.connect(work.source() or db_path, read_only=True)
        try:
            info = store_builds.dataset_row(con)
            stored = set(store_builds.registered_models(con))
        finally:
            con.close()
        if info is None:
            raise ValueError(f"Database {db_path} has no dataset yet; build it first.")
        rows, more = _check_entries(manifest, entries, info, stored, sparsity_tolerance)
        problems += more
        if problems:
            problems.sort(key=lambda problem: problem[0])     # file order
            raise ManifestError(manifest, [text for _, text in problems])
        write_models(work, rows, num_classes=info["num_classes"])
    return [row["model_id"] for row in rows]
