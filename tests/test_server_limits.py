"""Bounded requests on a shared server: settings from the environment, the occlusion budget per
request, the server-wide computation slots, the bounded attribution cache, DuckDB limits."""

import re
import threading
import time

import duckdb
import numpy as np
import pytest

from app.db import current_db
from app.services.attribution_cache import AttributionCache, cache_table
from app.services.attribution_types import OcclusionKey
from app.services.limits import ComputeSlots, occlusion_count, smallest_stride
from app.settings import ServerSettings, SettingsError, settings
from core.attribution import OCCLUSION_METRICS, window_starts
from core.store import create_schema


@pytest.fixture
def fresh_settings():
    """Clear the process's settings before and after the test (they are read once)."""
    settings.cache_clear()
    yield
    settings.cache_clear()


# --- settings --------------------------------------------------------------------------------

def test_unset_or_empty_variables_keep_the_documented_defaults():
    assert ServerSettings.from_env({}) == ServerSettings.from_env(
        {"ROBUSTNESS_TORCH_THREADS": "  "}) == ServerSettings(
        max_occlusions=1024, max_concurrent_attributions=2, attribution_wait_s=120.0,
        torch_threads=1, duckdb_threads=2, duckdb_memory_limit="2GB",
        attribution_cache_rows=10_000)


def test_variables_are_read():
    got = ServerSettings.from_env({
        "ROBUSTNESS_MAX_OCCLUSIONS": "300", "ROBUSTNESS_MAX_CONCURRENT_ATTRIBUTIONS": "4",
        "ROBUSTNESS_ATTRIBUTION_WAIT_S": "2.5", "ROBUSTNESS_TORCH_THREADS": "3",
        "ROBUSTNESS_DUCKDB_THREADS": "1", "ROBUSTNESS_DUCKDB_MEMORY_LIMIT": "512MiB",
        "ROBUSTNESS_ATTRIBUTION_CACHE_ROWS": "40"})
    assert got == ServerSettings(300, 4, 2.5, 3, 1, "512MiB", 40)
    assert ServerSettings.from_env({"ROBUSTNESS_DEVICE": "cpu"}).device == "cpu"


def test_device_cuda_without_a_gpu_names_the_variable(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SettingsError, match="`ROBUSTNESS_DEVICE` is 'cuda', but --device cuda needs a CUDA"):
        ServerSettings.from_env({"ROBUSTNESS_DEVICE": "cuda"})


@pytest.mark.parametrize("name, value, message", [
    ("ROBUSTNESS_MAX_OCCLUSIONS", "0", "must be an integer ≥ 1. Got '0' instead."),
    ("ROBUSTNESS_MAX_CONCURRENT_ATTRIBUTIONS", "two", "must be an integer ≥ 1. Got 'two'"),
    ("ROBUSTNESS_TORCH_THREADS", "1.5", "must be an integer ≥ 1. Got '1.5'"),
    ("ROBUSTNESS_DUCKDB_THREADS", "-2", "must be an integer ≥ 1. Got '-2'"),
    ("ROBUSTNESS_ATTRIBUTION_CACHE_ROWS", "lots", "must be an integer ≥ 1"),
    ("ROBUSTNESS_ATTRIBUTION_WAIT_S", "0", "must be a number of seconds > 0. Got '0'"),
    ("ROBUSTNESS_ATTRIBUTION_WAIT_S", "inf", "must be a number of seconds > 0"),
    ("ROBUSTNESS_DUCKDB_MEMORY_LIMIT", "2XB", "must be a DuckDB memory size such as '2GB'"),
    ("ROBUSTNESS_DUCKDB_MEMORY_LIMIT", "1GB'; SET threads = 64; --",
     "must be a DuckDB memory size"),
    ("ROBUSTNESS_DEVICE", "tpu", "must be one of auto, cpu, cuda. Got 'tpu' instead."),
])
def test_bad_values_name_the_variable(name, value, message):
    with pytest.raises(SettingsError, match=f"^`{name}` " + re.escape(message)):
        ServerSettings.from_env({name: value})


# --- occlusion budget ------------------------------------------------------------------------

def test_occlusion_count_is_the_number_of_window_positions():
    assert occlusion_count(28, 28, 4, 2) == 169
    assert occlusion_count(28, 28, 1, 1) == 784
    assert occlusion_count(28, 28, 5, 3) == 9 * 9   # last window cut off at the border
    assert occlusion_count(32, 24, 4, 4) == 8 * 6
    assert occlusion_count(28, 28, 5, 3) == len(window_starts(28, 5, 3)) ** 2


def test_default_budget_allows_small_images_at_stride_1_not_large_ones():
    limit = ServerSettings().max_occlusions
    assert occlusion_count(28, 28, 1, 1) <= limit
    assert occlusion_count(32, 32, 1, 1) <= limit
    assert occlusion_count(224, 224, 1, 1) > limit
    assert occlusion_count(224, 224, 8, 8) <= limit


def test_smallest_stride_that_fits():
    assert smallest_stride(28, 28, 4, 1024) == 1
    assert smallest_stride(28, 28, 4, 169) == 2          # stride 1: 625 windows
    assert occlusion_count(28, 28, 4, 2) <= 169 < occlusion_count(28, 28, 4, 1)
    assert smallest_stride(224, 224, 8, 1024) == 7       # 32² windows at stride 7, 28² at 8
    assert smallest_stride(224, 224, 4, 1024) is None    # 56² windows even at stride = window
    assert smallest_stride(224, 224, 1, 1024) is None


# --- computation slots -----------------------------------------------------------------------

def test_second_computation_waits_for_the_first_slot():
    slots = ComputeSlots(1)
    held, release, told = threading.Event(), threading.Event(), threading.Event()
    waited, events = [], []

    def on_wait(running):
        waited.append(running)
        told.set()

    def first():
        with slots.slot(timeout=5) as got:
            events.append(("first", got))
            held.set()
            release.wait(5)
        events.append(("first done", None))

    def second():
        with slots.slot(timeout=5, on_wait=on_wait) as got:
            events.append(("second", got))

    a = threading.Thread(target=first)
    a.start()
    assert held.wait(5)
    b = threading.Thread(target=second)
    b.start()
    assert told.wait(5)
    assert waited == [1]                          # told that one computation is running
    assert ("second", True) not in events         # and still waiting
    release.set()
    a.join(5), b.join(5)
    assert events == [("first", True), ("first done", None), ("second", True)]
    assert slots.running == 0


def test_waiting_past_the_timeout_reports_instead_of_raising():
    slots = ComputeSlots(1)
    with slots.slot(timeout=1) as first:
        assert first and slots.running == 1
        t0 = time.monotonic()
        with slots.slot(timeout=0.2) as second:
            assert second is False
        assert time.monotonic() - t0 >= 0.15       # it did wait (no upper bound: load varies)
        assert slots.running == 1                 # the timed-out request took no slot
    assert slots.running == 0
    with slots.slot(timeout=0.1) as again:        # and released nothing it did not hold
        assert again


def test_slots_allow_the_configured_number_at_once():
    slots = ComputeSlots(2)
    with slots.slot(timeout=0.1) as a, slots.slot(timeout=0.1) as b:
        assert a and b and slots.running == 2
        with slots.slot(timeout=0.1) as c:
            assert c is False


# --- bounded cache ---------------------------------------------------------------------------

def _maps(value: float) -> tuple[dict, dict]:
    maps = {m: np.full((3, 3), value, np.float32) for m in OCCLUSION_METRICS}
    base = {m: value for m in OCCLUSION_METRICS} | {"pred": 1}
    return maps, base


def test_cache_keeps_the_newest_rows_up_to_its_bound(tmp_path):
    cache = AttributionCache(str(tmp_path / "c.duckdb"), max_rows=6)
    keys = [OcclusionKey("clean", 0, 4, 2, b) for b in (0.0, 0.25, 0.5)]
    for i, key in enumerate(keys):
        cache.replace(key, "m", cache_table("m", key, *_maps(float(i)), "w"))
    count, = cache.con.execute("SELECT count(*) FROM attributions").fetchone()
    assert count == 6
    assert len(cache.read(keys[2], ["m"])) == len(OCCLUSION_METRICS)   # newest complete
    assert cache.read(keys[0], ["m"]).empty                           # oldest evicted
    assert len(cache.read(keys[1], ["m"])) == 2                       # partly: recomputed


def test_cache_of_an_older_layout_is_recreated(tmp_path):
    path = str(tmp_path / "old.duckdb")
    con = duckdb.connect(path)
    con.execute("CREATE TABLE attributions(model_id VARCHAR, metric VARCHAR)")
    con.execute("INSERT INTO attributions VALUES ('m', 'angle')")
    con.close()
    cache = AttributionCache(path, max_rows=100)
    key = OcclusionKey("clean", 0, 4, 2, 0.0)
    cache.replace(key, "m", cache_table("m", key, *_maps(1.0), "w"))
    assert cache.con.execute("SELECT count(*) FROM attributions").fetchone() == (4,)
    assert "stored_order" in cache.con.execute("SELECT * FROM attributions").df()


def test_cache_bound_is_validated(tmp_path):
    with pytest.raises(ValueError, match="`max_rows` must be an integer ≥ 1. Got 0 instead."):
        AttributionCache(str(tmp_path / "c.duckdb"), max_rows=0)


# --- DuckDB limits ---------------------------------------------------------------------------

def test_app_connections_get_the_duckdb_limits(tmp_path, monkeypatch, fresh_settings):
    path = tmp_path / "results.duckdb"
    con = duckdb.connect(str(path))
    create_schema(con, num_classes=10)
    con.close()
    monkeypatch.setenv("ROBUSTNESS_DB", str(path))
    monkeypatch.setenv("ROBUSTNESS_DUCKDB_THREADS", "1")
    monkeypatch.setenv("ROBUSTNESS_DUCKDB_MEMORY_LIMIT", "300MB")
    got = current_db().read(lambda con: con.execute(
        "SELECT current_setting('threads') AS threads, "
        "current_setting('memory_limit') AS memory").df())
    assert got["threads"].iloc[0] == 1
    assert got["memory"].iloc[0] in ("286.1 MiB", "300.0 MB")   # DuckDB shows 1024-based units
