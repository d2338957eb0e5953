import os
import subprocess
import sys
from pathlib import Path

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


TINY = Path(__file__).resolve().parent.parent / "experiments" / "tiny.toml"


def run_build(db, cache, *, experiment=TINY, timeout=600):
    """Run `python -m core build` in a subprocess (as a user would)."""
    return subprocess.run(
        [sys.executable, "-m", "core", "build", "--experiment", str(experiment), "--db", str(db),
         "--cache", str(cache), "--quiet"],
        capture_output=True, text=True, timeout=timeout, cwd=Path(__file__).resolve().parent.parent)


@pytest.fixture(scope="session")
def tiny_db(tmp_path_factory):
    """The `tiny` preset built once per test session (real data, real models)."""
    root = tmp_path_factory.mktemp("tiny")
    result = run_build(root / "tiny.duckdb", root / "cache")
    assert result.returncode == 0, result.stderr[-3000:]
    return root / "tiny.duckdb"
