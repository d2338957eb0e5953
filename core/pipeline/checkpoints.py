"""The build's checkpoint cache: one state-dict file per model under ``<cache>/checkpoints/``.

A file is named by the hash of everything that produced its weights (``plan.checkpoint_key``),
so builds of other databases that train the same model share it, and a changed setting never
reads a stale one. Files are written to a unique temporary name and renamed, so a crash never
leaves half a checkpoint, and builds sharing the cache never clash.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from torch import nn

from ..models import model_from_config
from ..train import config_hash
from .experiment import Experiment
from .plan import ModelJob, checkpoint_key

__all__ = ["Checkpoints"]


class Checkpoints:
    """The checkpoints of ``experiment``'s models in ``cache_dir``."""

    def __init__(self, experiment: Experiment, cache_dir: str | Path):
        self.experiment = experiment
        self.directory = Path(cache_dir) / "checkpoints"

    def path_of(self, job: ModelJob) -> Path:
        return self.directory / f"{config_hash(checkpoint_key(self.experiment, job))}.pt"

    def has(self, job: ModelJob) -> bool:
        return self.path_of(job).is_file()

    def load(self, job: ModelJob) -> nn.Module:
        """The model of ``job`` with its cached weights, in eval mode."""
        return model_from_config(job.config, self.path_of(job)).eval()

    def write(self, job: ModelJob, state: bytes) -> Path:
        """Store ``state`` (``tasks.state_to_bytes``) as ``job``'s checkpoint; returns its path."""
        path = self.path_of(job)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(state)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
        return path
