"""The app's one model loader: a model of the results database built from its ``arch_config``
and checkpoint, for the Attribution page's maps and the Guide's heads. (When core gains a single
model loader, this module is where the app calls it.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st
from torch import nn

from app import escape
from app.db import DbRef
from app.queries import common
from app.services.limits import limit_torch_threads
from app.settings import settings
from core.device import resolve_device
from core.models import model_from_config

__all__ = ["CheckpointError", "checkpoint_file", "weights_key", "has_checkpoint", "load_model",
           "head"]


class CheckpointError(RuntimeError):
    """A model's maps cannot be computed: no checkpoint, or one that does not load or run."""


def checkpoint_file(db: DbRef, checkpoint) -> Path | None:
    """A ``models.checkpoint`` value as a path (relative ones are beside the DB file)."""
    if checkpoint is None or pd.isna(checkpoint) or not str(checkpoint).strip():
        return None
    path = Path(str(checkpoint))
    return path if path.is_absolute() else Path(db.path).resolve().parent / path


def _model_row(db: DbRef, model_id: str) -> pd.Series:
    rows = common.models(db).set_index("model_id")
    if model_id not in rows.index:
        raise CheckpointError(f"Model {escape.code(model_id)} is not in this database.")
    return rows.loc[model_id]


def weights_key(db: DbRef, model_id: str) -> str | None:
    """The identity (path, modification time, size) of ``model_id``'s checkpoint file as it is
    now, None when it has none: maps computed from other weights are stale."""
    models = common.models(db).set_index("model_id")
    if model_id not in models.index:
        return None
    path = checkpoint_file(db, models.loc[model_id].get("checkpoint"))
    try:
        stat = path.stat() if path is not None else None
    except OSError:
        return None
    return None if stat is None else f"{path}:{stat.st_mtime_ns}:{stat.st_size}"


def has_checkpoint(db: DbRef, models: pd.DataFrame) -> pd.Series:
    """Boolean per row of ``models``: a checkpoint file is recorded and exists."""
    if "checkpoint" not in models:
        return pd.Series(False, index=models.index)
    return models["checkpoint"].map(
        lambda c: (path := checkpoint_file(db, c)) is not None and path.is_file())


@st.cache_resource(max_entries=32, show_spinner=False)
def load_model(db: DbRef, model_id: str) -> nn.Module:
    """The model in eval mode, built from ``arch_config`` with its checkpoint (weights_only), on
    the server's device (``ROBUSTNESS_DEVICE``, see app/settings.py): the maps are computed where
    the model is (``core.attribution`` moves each image to it)."""
    limit_torch_threads()
    row = _model_row(db, model_id)
    path = checkpoint_file(db, row.get("checkpoint"))
    if path is None or not row.get("arch_config"):
        raise CheckpointError(f"{escape.code(model_id)} has no checkpoint in this database "
                              "(synthetic databases carry none), so its maps cannot be computed.")
    try:
        model = model_from_config(row["arch_config"], weights=path).eval()
    except (FileNotFoundError, ValueError, RuntimeError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{escape.code(model_id)}: cannot load its checkpoint — "
                              f"{escape.plain(exc, max_chars=300)}") from exc
    return model.to(resolve_device(settings().device).torch)


@st.cache_data(max_entries=16, show_spinner=False)
def head(db: DbRef, model_id: str) -> tuple[np.ndarray, np.ndarray]:
    """The head of ``model_id`` from its checkpoint: weight (C, m) — rows are the class
    directions — and bias (C,) (zeros when the head has none), float64, on the CPU (the model
    may be on the server's GPU)."""
    from core.features import head_parameters

    weight, bias = head_parameters(load_model(db, model_id))
    weight = weight.double().cpu().numpy()
    return weight, (np.zeros(len(weight)) if bias is None else bias.double().cpu().numpy())
