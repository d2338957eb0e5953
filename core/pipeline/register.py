"""Register a user's own checkpoints (state dicts of registry architectures) for evaluation:
one with :func:`add_model` (``python -m core add-model``), a whole grid with
:func:`core.pipeline.manifest.import_manifest` (``python -m core import``). Both check every checkpoint
with :func:`prepare_model` and write the ``models`` rows with :func:`write_models`; the next
``python -m core build --db`` evaluates them on every benchmark."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from .. import store
from ..features import head_parameters
from ..models import arch_config, model_from_config
from ..pruning import sparsity
from ..store import builds as store_builds
from .plan import model_id_for
from .publish import WorkFile

__all__ = ["add_model", "UserModel", "prepare_model", "write_models"]


@dataclass(frozen=True)
class UserModel:
    """How a user describes one checkpoint: what the ``models`` row records about it."""

    checkpoint: Path
    arch: str
    method: str
    ratio: float = 0.0
    retrained: bool = False
    width: float = 1.0
    seed: int = 0
    model_id: str | None = None     # None: ``model_id_for(...)`` + ``-user``
    parent: str | None = None       # the model it was pruned from (recorded in the fingerprint)

    @property
    def resolved_id(self) -> str:
        return self.model_id or model_id_for(self.arch, self.width, self.method, self.ratio,
                                             self.retrained, self.seed) + "-user"


def _first_mismatch(exc: RuntimeError) -> str:
    """The first line of ``load_state_dict``'s error that names keys or shapes (its first line
    only names the model), shortened."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    detail = lines[1] if len(lines) > 1 else lines[0] if lines else type(exc).__name__
    return detail if len(detail) <= 240 else detail[:237] + "..."


def prepare_model(entry: UserModel, info: dict) -> tuple[dict, torch.nn.Module]:
    """Check ``entry``'s checkpoint against its architecture on the database's dataset
    (``info``: the ``dataset_info`` row) and return its ``models`` row and the loaded model.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` for a file that is not a
    plain state dict or does not fit the architecture, each naming the file.
    """
    channels, num_classes, height = info["channels"], info["num_classes"], info["height"]
    config = arch_config(entry.arch, in_channels=channels, num_classes=num_classes,
                         width=entry.width, input_size=height)
    checkpoint = Path(entry.checkpoint).resolve()
    try:
        # Only a structurally pruned model may be smaller than its architecture's config.
        model = model_from_config(config, checkpoint,
                                  shrink=entry.method.startswith("structured"))
    except RuntimeError as exc:
        raise ValueError(f"Checkpoint {checkpoint} does not fit architecture {entry.arch!r} "
                         f"(width {entry.width}, {channels} channels, {num_classes} classes): "
                         f"{_first_mismatch(exc)}") from exc
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, channels, height, height))
    measured, total, nonzero = sparsity(model)
    # What identifies a user's model: its weights and how it is described.
    fingerprint = json.dumps(dict(
        source="user", arch_config=json.loads(config), method=entry.method, ratio=entry.ratio,
        retrained=entry.retrained, seed=entry.seed,
        checkpoint_sha256=hashlib.sha256(checkpoint.read_bytes()).hexdigest(),
        **({"parent": entry.parent} if entry.parent else {})),
        sort_keys=True, separators=(",", ":"))
    row = dict(
        model_id=entry.resolved_id, arch=entry.arch, dataset=info["dataset"],
        method=entry.method, ratio=entry.ratio, retrained=entry.retrained, sparsity=measured,
        params_total=total, params_nonzero=nonzero, seed=entry.seed, width=entry.width,
        feature_dim=head_parameters(model)[0].shape[1], arch_config=config,
        checkpoint=str(checkpoint), source="user", fit_seconds=0.0, fingerprint=fingerprint)
    return row, model


def write_models(work: WorkFile, rows: list[dict], *, num_classes: int) -> None:
    """Write ``rows`` (from :func:`prepare_model`) in one transaction and publish the file."""
    con = work.open()
    store.create_schema(con, num_classes=num_classes)   # adds columns a v1 file lacks
    store_builds.replace_models(con, rows)
    work.publish(final=True)


def add_model(db_path: str | Path, checkpoint: str | Path, *, arch: str, method: str,
              ratio: float = 0.0, retrained: bool = False, width: float = 1.0, seed: int = 0,
              model_id: str | None = None, replace: bool = False) -> str:
    """Validate ``checkpoint`` against ``arch`` and the database's dataset, then add a
    ``models`` row; the next ``python -m core build --db`` evaluates it on every benchmark.

    An id already in the database is refused unless ``replace``, which also drops that model's
    results (evaluations, sample metrics, features), in one transaction with the new row.

    Holds the database's writer lock (a running build makes it fail at once with
    :class:`core.pipeline.publish.DatabaseBusy`); the database is edited through its work file and
    published atomically (``core.pipeline.publish``), so an app reading it never sees a half-written
    file. Returns the model id.
    """
    db_path = Path(db_path)
    if not 0 <= ratio < 1:
        raise ValueError(f"`ratio` must be in [0, 1). Got {ratio} instead.")
    store.check_project_file(db_path)   # before the writer lock creates files next to it
    entry = UserModel(Path(checkpoint), arch=arch, method=method, ratio=ratio,
                      retrained=retrained, width=width, seed=seed, model_id=model_id)
    with WorkFile(db_path) as work:
        con = store.connect(work.source() or db_path, read_only=True)
        try:
            info = store_builds.dataset_row(con)
            stored = store_builds.registered_models(con)
        finally:
            con.close()
        if info is None:
            raise ValueError(f"Database {db_path} has no dataset yet; build it first.")
        row, _ = prepare_model(entry, info)
        if row["model_id"] in stored and not replace:
            raise ValueError(f"Model id {row['model_id']!r} is already in {db_path}. Pass "
                             "--replace to replace it (its evaluations are dropped), or choose "
                             "another --model-id.")
        write_models(work, [row], num_classes=info["num_classes"])
    return row["model_id"]
