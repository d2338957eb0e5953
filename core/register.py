"""Register a user's own checkpoint (state dict of a registry architecture) for evaluation."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch

from . import store
from .build import model_id_for
from .models import arch_config, build_model, head_parameters, load_state_dict_file
from .pruning import sparsity

__all__ = ["add_model"]


def add_model(db_path: str | Path, checkpoint: str | Path, *, arch: str, method: str,
              ratio: float = 0.0, retrained: bool = False, width: float = 1.0, seed: int = 0,
              model_id: str | None = None) -> str:
    """Validate ``checkpoint`` against ``arch`` and the database's dataset, then add a
    ``models`` row; the next ``python -m core build --db`` evaluates it on every benchmark.

    The database is edited on a copy that replaces it atomically, so an app reading it never
    sees a half-written file.
    """
    db_path, checkpoint = Path(db_path), Path(checkpoint).resolve()
    if not 0 <= ratio < 1:
        raise ValueError(f"`ratio` must be in [0, 1). Got {ratio} instead.")
    con = store.connect(db_path, read_only=True)
    info = con.execute("SELECT dataset, num_classes, channels, height FROM dataset_info").fetchone()
    con.close()
    if info is None:
        raise ValueError(f"Database {db_path} has no dataset yet; build it first.")
    dataset, num_classes, channels, height = info
    config = arch_config(arch, in_channels=channels, num_classes=num_classes, width=width,
                         input_size=height)
    model = build_model(arch, in_channels=channels, num_classes=num_classes, width=width,
                        input_size=height)
    state = load_state_dict_file(checkpoint, arch=arch)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ValueError(f"Checkpoint {checkpoint} does not fit architecture {arch!r} "
                         f"(width {width}, {channels} channels, {num_classes} classes): "
                         f"{str(exc).splitlines()[0]}") from exc
    with torch.no_grad():
        model(torch.zeros(1, channels, height, height))
    model_id = model_id or model_id_for(arch, width, method, ratio, retrained, seed) + "-user"
    measured, total, nonzero = sparsity(model)
    tmp = db_path.with_name(db_path.name + ".edit")
    shutil.copyfile(db_path, tmp)
    con = store.connect(tmp)
    try:
        store.upsert_model(con, dict(
            model_id=model_id, arch=arch, dataset=dataset, method=method, ratio=ratio,
            retrained=retrained, sparsity=measured, params_total=total, params_nonzero=nonzero,
            seed=seed, width=width, feature_dim=head_parameters(model)[0].shape[1],
            arch_config=config, checkpoint=str(checkpoint), source="user", fit_seconds=0.0))
        con.execute("CHECKPOINT")
    finally:
        con.close()
    os.replace(tmp, db_path)
    return model_id
