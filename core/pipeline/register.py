"""Register a user's own checkpoint (state dict of a registry architecture) for evaluation."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from .. import store
from ..features import head_parameters
from ..models import arch_config, model_from_config
from ..pruning import sparsity
from ..store import builds as store_builds
from .plan import model_id_for
from .publish import WorkFile

__all__ = ["add_model"]


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
    db_path, checkpoint = Path(db_path), Path(checkpoint).resolve()
    if not 0 <= ratio < 1:
        raise ValueError(f"`ratio` must be in [0, 1). Got {ratio} instead.")
    store.check_project_file(db_path)   # before the writer lock creates files next to it
    with WorkFile(db_path) as work:
        con = store.connect(work.source() or db_path, read_only=True)
        try:
            info = store_builds.dataset_row(con)
            stored = store_builds.registered_models(con)
        finally:
            con.close()
        if info is None:
            raise ValueError(f"Database {db_path} has no dataset yet; build it first.")
        channels, num_classes, height = info["channels"], info["num_classes"], info["height"]
        config = arch_config(arch, in_channels=channels, num_classes=num_classes, width=width,
                             input_size=height)
        try:
            # Only a structurally pruned model may be smaller than its architecture's config.
            model = model_from_config(config, checkpoint, shrink=method.startswith("structured"))
        except RuntimeError as exc:
            raise ValueError(f"Checkpoint {checkpoint} does not fit architecture {arch!r} "
                             f"(width {width}, {channels} channels, {num_classes} classes): "
                             f"{str(exc).splitlines()[0]}") from exc
        with torch.no_grad():
            model(torch.zeros(1, channels, height, height))
        model_id = model_id or model_id_for(arch, width, method, ratio, retrained, seed) + "-user"
        if model_id in stored and not replace:
            raise ValueError(f"Model id {model_id!r} is already in {db_path}. Pass --replace to "
                             "replace it (its evaluations are dropped), or choose another "
                             "--model-id.")
        measured, total, nonzero = sparsity(model)
        # What identifies a user's model: its weights and how it is described.
        fingerprint = json.dumps(dict(
            source="user", arch_config=json.loads(config), method=method, ratio=ratio,
            retrained=retrained, seed=seed,
            checkpoint_sha256=hashlib.sha256(checkpoint.read_bytes()).hexdigest()),
            sort_keys=True, separators=(",", ":"))
        con = work.open()
        store.create_schema(con, num_classes=num_classes)   # adds columns a v1 file lacks
        store_builds.replace_model(con, dict(
            model_id=model_id, arch=arch, dataset=info["dataset"], method=method, ratio=ratio,
            retrained=retrained, sparsity=measured, params_total=total, params_nonzero=nonzero,
            seed=seed, width=width, feature_dim=head_parameters(model)[0].shape[1],
            arch_config=config, checkpoint=str(checkpoint), source="user", fit_seconds=0.0,
            fingerprint=fingerprint))
        work.publish(final=True)
    return model_id
