import os

import torch

# Two cores, several test processes: keep torch from oversubscribing.
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

import pytest


@pytest.fixture(scope="session")
def synth_db(tmp_path_factory):
    """A small synthetic results DB (30 models × 6 benchmarks × 300 samples)."""
    from core.synth import write_synthetic_db

    path = tmp_path_factory.mktemp("synth") / "synth.duckdb"
    return write_synthetic_db(path, n_models=30, n_benchmarks=6, n_samples=300, progress=False)
