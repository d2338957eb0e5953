"""`--device auto|cpu|cuda`: the choice, the pool executor's device worker, and a `tiny` build
run through the device branch (forced on the CPU: no test needs a GPU) giving the CPU build's
tables within float tolerance."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import TINY
from core.pipeline.build import build
from core.device import (CPU_EVALUATE_BATCH_SIZE, DEVICE_EVALUATE_BATCH_SIZE, Device,
                         resolve_device)
from core.pipeline.executors import LocalExecutor, PoolExecutor, Task, make_executor
from core.pipeline.experiment import load_experiment
from test_build import snapshot

ROOT = Path(__file__).resolve().parent.parent


def test_auto_is_cuda_exactly_when_torch_sees_one(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == resolve_device("cuda") == Device("cuda", dedicated=True)
    assert resolve_device("cpu") == Device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == Device("cpu")
    with pytest.raises(ValueError, match="torch.cuda.is_available\\(\\) is False"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="`device` must be one of auto, cpu, cuda. Got 'tpu'"):
        resolve_device("tpu")
    assert make_executor("local", device="auto").device == Device("cpu")


def test_device_branch_uses_large_evaluation_batches():
    assert Device("cpu").evaluate_batch_size == CPU_EVALUATE_BATCH_SIZE
    assert Device("cuda", dedicated=True).evaluate_batch_size == DEVICE_EVALUATE_BATCH_SIZE
    assert DEVICE_EVALUATE_BATCH_SIZE > CPU_EVALUATE_BATCH_SIZE


def test_device_cuda_without_cuda_is_a_one_line_error(tmp_path):
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")     # no GPU visible, even on a GPU machine
    result = subprocess.run([sys.executable, "-m", "core", "build", "--preset", "tiny",
                             "--device", "cuda", "--db", str(tmp_path / "x.duckdb"),
                             "--cache", str(tmp_path / "cache")],
                            capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --device cuda needs a CUDA GPU"), \
        result.stderr
    assert not (tmp_path / "x.duckdb").exists()


def _pid():
    return os.getpid()


def test_pool_runs_every_device_task_in_its_one_device_worker():
    executor = PoolExecutor(2, device=Device("cpu", dedicated=True))
    try:
        tasks = [Task(i, f"task {i}", _pid, on_device=i % 2 == 0) for i in range(12)]
        pids = {o.task.key: o.value for o in executor.run(tasks)}
    finally:
        executor.close()
    device_pids = {pids[i] for i in range(0, 12, 2)}
    cpu_pids = {pids[i] for i in range(1, 12, 2)}
    assert len(device_pids) == 1 and not device_pids & cpu_pids
    assert os.getpid() not in device_pids | cpu_pids


def test_tiny_build_through_the_device_branch_equals_the_cpu_build(tiny_db, tmp_path):
    """Training, pruning scores, MPT and evaluation in the device worker, tensors moved with
    ``Device.move``, evaluation in batches of 8,192: the same tables as the CPU build of the
    `tiny_db` fixture (own checkpoints: every model is trained again in this branch)."""
    db = tmp_path / "device.duckdb"
    executor = PoolExecutor(2, device=Device("cpu", dedicated=True))
    try:
        build(load_experiment(TINY), db, cache_dir=tmp_path / "cache", progress=False,
              executor=executor)
    finally:
        executor.close()
    expected, got = snapshot(tiny_db), snapshot(db)
    assert expected.keys() == got.keys()
    for table in expected:
        pd.testing.assert_frame_equal(got[table], expected[table], check_exact=False,
                                      rtol=1e-5, atol=1e-6, obj=table)
    # The local executor on the same device object runs the same branch in this process.
    assert LocalExecutor(device=Device("cpu", dedicated=True)).device.dedicated
    assert np.isfinite(got["evaluations"]["accuracy"]).all()
