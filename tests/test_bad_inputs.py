"""The bad-input catalogue: each bad input gets a specific message, and nothing is written.

Listed in the README. Some entries are also covered, in more depth, by the module's own tests.
"""

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from cli import run_cli
from conftest import APP_ENTRY, TINY, open_page, run_build
from core import store
from core.data import DatasetError, load_dataset
from core.errors import UserError
from core.geometry import compute_geometry
from core.models import build_model

ROOT = Path(__file__).resolve().parent.parent


def files_in(path: Path) -> set[str]:
    return {p.name for p in path.iterdir()} if path.exists() else set()


def write_experiment(tmp_path, **dataset) -> Path:
    text = TINY.read_text()
    for key, value in dataset.items():
        text = text.replace("[dataset]\n", f"[dataset]\n{key} = {json.dumps(value)}\n", 1)
    path = tmp_path / "exp.toml"
    path.write_text(text.replace('name = "fashion_mnist"', 'name = "mnist"'))
    return path


def test_missing_dataset_directory(tmp_path):
    exp = write_experiment(tmp_path, root=str(tmp_path / "nowhere"))
    result = run_build(tmp_path / "x.duckdb", tmp_path / "cache", experiment=exp)
    assert result.returncode == 2
    assert "nowhere/MNIST/raw does not exist" in result.stderr
    assert "t10k-images-idx3-ubyte" in result.stderr          # the expected layout is named
    assert not (tmp_path / "x.duckdb").exists() and not (tmp_path / "x.duckdb.work").exists()


def test_truncated_idx_and_pickle_files(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "t10k-images-idx3-ubyte"):
        (raw / name).write_bytes(b"\x00\x00\x08\x03\x00\x00\x00\x05" + b"\x00" * 20)
    for name in ("train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte"):
        (raw / name).write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05" + b"\x00" * 5)
    with pytest.raises(DatasetError, match="malformed or truncated"):
        load_dataset("mnist", root=tmp_path)
    cifar = tmp_path / "cifar-10-batches-py"
    cifar.mkdir()
    (cifar / "test_batch").write_bytes(b"\x80\x04\x95")
    with pytest.raises(DatasetError, match="test_batch is truncated or malformed"):
        load_dataset("cifar10", root=tmp_path)


@pytest.mark.parametrize("problem", ["shape", "dtype", "labels"])
def test_premade_c_directory_with_wrong_content(tmp_path, problem):
    from core.corruptions import load_c_directory

    n = 4
    labels = np.arange(n) % 2
    images = np.zeros((5 * n, 28, 28), np.uint8)
    np.save(tmp_path / "labels.npy", np.tile(labels, 5))
    if problem == "shape":
        images = images[:-1]
    elif problem == "dtype":
        images = images.astype(np.float32)
    else:
        np.save(tmp_path / "labels.npy", np.tile(labels, 4))
    np.save(tmp_path / "gaussian_noise.npy", images)
    before = files_in(tmp_path)
    with pytest.raises(ValueError, match=r"(gaussian_noise|labels)\.npy"):
        load_c_directory(tmp_path, clean_labels=labels, corruptions=["gaussian_noise"])
    assert files_in(tmp_path) == before


@pytest.fixture
def tiny_copy(tiny_db, tmp_path):
    path = tmp_path / "copy.duckdb"
    shutil.copyfile(tiny_db, path)
    return path


def test_checkpoint_of_another_architecture(tiny_copy, tmp_path):
    from core.pipeline.register import add_model

    ckpt = tmp_path / "vgg.pt"
    torch.save(build_model("vgg16", in_channels=1, num_classes=10, width=0.125).state_dict(), ckpt)
    before = tiny_copy.read_bytes()
    with pytest.raises(ValueError, match=r"does not fit architecture 'lenet5'"):
        add_model(tiny_copy, ckpt, arch="lenet5", method="magnitude", ratio=0.5)
    assert tiny_copy.read_bytes() == before


def test_checkpoint_carrying_a_pickled_payload(tiny_copy, tmp_path):
    from core.pipeline.register import add_model

    class Payload:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    ckpt = tmp_path / "evil.pt"
    torch.save({"classifier.weight": Payload()}, ckpt)
    before = tiny_copy.read_bytes()
    with pytest.raises(ValueError, match="weights_only=True"):
        add_model(tiny_copy, ckpt, arch="lenet5", method="dense")
    assert tiny_copy.read_bytes() == before


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nan_or_infinite_features(bad):
    x = torch.ones(3, 4)
    x[1, 2] = bad
    with pytest.raises(ValueError, match="`features` must be finite"):
        compute_geometry(x, torch.eye(4)[:3], None, torch.tensor([0, 1, 2]))


def test_all_zero_features_give_null_angles_not_a_crash():
    g = compute_geometry(torch.zeros(5, 4), torch.eye(4)[:3], torch.tensor([0.0, 1, 0]),
                         torch.zeros(5, dtype=torch.long))
    assert torch.isnan(g["angles"]).all() and (g["l2"] == 0).all()
    assert (g["pred"] == 1).all() and (g["margin"] < 0).all()   # the bias decides; all wrong


@pytest.mark.parametrize("page", ["overview", "geometry", "attribution"])
def test_unknown_ids_and_empty_selections_in_session_state(tiny_db, monkeypatch, page):
    monkeypatch.setenv("ROBUSTNESS_DB", str(tiny_db))
    for preset in ({"selected_models": ["no-such-model"], "selected_benchmarks": ["no-bench"],
                    "selected_samples": [10**9], "selected_sample": 10**9,
                    "reference_benchmark": "nope", "compared_benchmark": "nope",
                    "selected_class": 99},
                   {}):
        at = open_page(AppTest.from_file(str(APP_ENTRY), default_timeout=120), page)
        for key, value in preset.items():
            at.session_state[key] = value
        at.run()
        assert not at.exception, at.exception
        if page == "attribution" and not preset:
            assert any("sample" in m.value.lower() for m in at.info), "explains how to pick one"


def app_with_db(path, monkeypatch):
    monkeypatch.setenv("ROBUSTNESS_DB", str(path))
    at = AppTest.from_file(str(APP_ENTRY), default_timeout=120)
    at.run()
    return at


def test_database_missing(tmp_path, monkeypatch):
    at = app_with_db(tmp_path / "absent.duckdb", monkeypatch)
    assert not at.exception
    text = " ".join(e.value for e in list(at.warning) + list(at.error) + list(at.info))
    assert "absent.duckdb" in text or "python -m core build" in text


def test_database_from_another_schema_version(tmp_path, monkeypatch):
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE schema_version(version INTEGER); INSERT INTO schema_version VALUES (0)")
    con.close()
    at = app_with_db(path, monkeypatch)
    assert not at.exception
    assert any("schema version 0" in e.value for e in at.error)
    with pytest.raises(store.SchemaVersionError, match="schema version 0"):
        store.connect(path, read_only=True)


def test_database_locked_by_another_writer(tiny_copy, monkeypatch):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
         "print('locked', flush=True); time.sleep(60)", str(tiny_copy)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RuntimeError, match="Another process may hold it"):
            store.connect(tiny_copy, read_only=True)
        at = app_with_db(tiny_copy, monkeypatch)
        assert not at.exception
        assert any("cannot be read" in e.value for e in at.error)
    finally:
        holder.kill()
        holder.wait()


def test_preset_that_does_not_exist(tmp_path):
    result = run_cli("build", "--preset", "huge", "--db", tmp_path / "h.duckdb")
    assert result.returncode == 2
    assert "`preset` must be one of demo, full, paper, tiny. Got 'huge' instead." in result.stderr
    assert files_in(tmp_path) == set()


def test_disk_full_while_writing_keeps_finished_work(tiny_db, tmp_path, monkeypatch):
    """ENOSPC in the middle of the evaluation stage: the failing model's results are rolled back,
    every earlier model's are complete, the published DB is untouched, and a rerun finishes."""
    from core.pipeline.build import build
    from core.pipeline.experiment import load_experiment
    from test_build import tiny_plan

    cache = tmp_path / "cache"
    shutil.copytree(tiny_db.parent / "cache", cache)
    db = tmp_path / "full.duckdb"
    real_write = store.write_model_results
    calls = {"n": 0}
    n_benchmarks = len(tiny_plan().benchmarks)

    def failing_write(con, model_id, metrics, evaluations, features=None, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:
            with store.transaction(con):
                store.insert_rows(con, "sample_metrics", metrics)   # half a result ...
                raise OSError(errno.ENOSPC, "No space left on device")   # ... then disk full
        return real_write(con, model_id, metrics, evaluations, features, **kwargs)

    monkeypatch.setattr(store, "write_model_results", failing_write)
    with pytest.raises(OSError, match="No space left on device"):
        build(load_experiment(TINY), db, cache_dir=cache, progress=False)
    work = db.with_name(db.name + ".work")
    con = duckdb.connect(str(work), read_only=True)
    partial = con.execute("""SELECT count(*) FROM (SELECT model_id, benchmark_id FROM sample_metrics
        GROUP BY ALL) s ANTI JOIN evaluations e USING (model_id, benchmark_id)""").fetchone()[0]
    assert partial == 0, "no half-written (model, benchmark) result"
    assert con.execute("SELECT count(*) FROM evaluations").fetchone()[0] == 3 * n_benchmarks
    con.close()
    monkeypatch.setattr(store, "write_model_results", real_write)
    build(load_experiment(TINY), db, cache_dir=cache, progress=False)
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM evaluations").fetchone()[0] == \
        len(tiny_plan().evaluation_pairs)
    con.close()


# --- malformed experiments, writers, databases that do not fit ------------------------------

def assert_one_line_error(result, message):
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-2000:]
    assert message in lines[0]


def unchanged(db):
    """The served database's bytes and mtime, and whether a work file exists."""
    return db.read_bytes(), db.stat().st_mtime_ns, db.with_name(db.name + ".work").exists()


MALFORMED = {
    "ratios not a list": ("ratios = [0.5, 0.9]", "ratios = 0.5",
                          "`ratios` must be a list of distinct numbers in (0, 1). "
                          "Got 0.5 instead."),
    "epochs a string": ("epochs = 3", 'epochs = "three"',
                        "`epochs` must be a number > 0. Got 'three' instead."),
    "severities repeated": ("severities = [1, 3, 5]", "severities = [1, 1]",
                            "`severities` must be a list of distinct integers in 1..5. "
                            "Got [1, 1] instead."),
    "batch_size zero": ('optimizer = "adam"', 'optimizer = "adam"\nbatch_size = 0',
                        "`batch_size` must be an integer >= 1. Got 0 instead."),
    "method misspelt": ('methods = ["random", "magnitude"]', 'methods = ["random", "magnitud"]',
                        "`methods` must be a list of distinct names from 'random', 'magnitude'"),
    "corruption repeated": ('"gaussian_noise", "brightness"', '"gaussian_noise", "gaussian_noise"',
                            "`corruptions` must be a list of distinct names from"),
    "arch as a table": ("[[arch]]", "[arch]",
                        "`[[arch]]` must be an array of tables (one [[arch]] block per "
                        "architecture). Got {'arch': 'lenet5'"),
    "retrain not booleans": ("retrain = [false, true]", 'retrain = ["no"]',
                             "`retrain` must be a list of distinct booleans. Got ['no'] instead."),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_experiment_is_refused_before_any_work(tiny_copy, tmp_path, case):
    old, new, message = MALFORMED[case]
    text = TINY.read_text()
    assert old in text
    experiment = tmp_path / "bad.toml"
    experiment.write_text(text.replace(old, new, 1))
    before = unchanged(tiny_copy)
    result = run_cli("build", "--experiment", experiment, "--db", tiny_copy,
                     "--cache", tmp_path / "cache")
    assert_one_line_error(result, message)
    assert "Traceback" not in result.stderr
    assert unchanged(tiny_copy) == before
    assert not (tmp_path / "cache").exists()


def test_debug_shows_the_traceback(tmp_path):
    experiment = tmp_path / "bad.toml"
    experiment.write_text(TINY.read_text().replace("ratios = [0.5, 0.9]", "ratios = 0.5"))
    result = run_cli("build", "--experiment", experiment, "--db", tmp_path / "x.duckdb",
                     "--debug")
    assert result.returncode != 0 and "Traceback" in result.stderr
    assert "`ratios` must be a list" in result.stderr


def test_second_writer_on_one_database(tiny_copy, tmp_path):
    from core.pipeline.publish import WorkFile

    before = unchanged(tiny_copy)
    with WorkFile(tiny_copy):       # this process writes the database
        result = run_cli("build", "--experiment", TINY, "--db", tiny_copy,
                         "--cache", tmp_path / "cache", "--executor", "local")
        assert_one_line_error(result, f"another build (pid {os.getpid()}) is writing "
                                      f"{tiny_copy}")
    assert unchanged(tiny_copy) == before


def test_database_of_another_evaluation_subset(tiny_copy, tmp_path):
    experiment = tmp_path / "seed1.toml"
    experiment.write_text(TINY.read_text().replace("[dataset]\n", "[dataset]\nsubset_seed = 1\n"))
    before = unchanged(tiny_copy)
    result = run_cli("build", "--experiment", experiment, "--db", tiny_copy,
                     "--cache", tmp_path / "cache", "--executor", "local")
    assert_one_line_error(
        result, "holds the evaluation subset of fashion_mnist with subset_seed 0 and "
                "n_per_class 10 (100 images); this experiment uses fashion_mnist with "
                "subset_seed 1 and n_per_class 10 (100 images). Use another --db.")
    assert unchanged(tiny_copy) == before


def test_premade_c_directory_of_another_image_shape(tiny_copy, tmp_path):
    test = load_dataset("fashion_mnist", split="test")
    n = len(test.labels)
    premade = tmp_path / "fashion-c"
    premade.mkdir()
    np.save(premade / "labels.npy", np.tile(test.labels, 5))
    # 32 × 32 images for a 28 × 28 test split (a sparse file: nothing is written but the header).
    np.lib.format.open_memmap(premade / "brightness.npy", mode="w+", dtype=np.uint8,
                              shape=(5 * n, 32, 32)).flush()
    experiment = tmp_path / "premade.toml"
    experiment.write_text(TINY.read_text()
                          .replace('source = "generated"',
                                   f'source = "directory"\npath = "{premade}"')
                          .replace('"gaussian_noise", "brightness", "gaussian_blur", "zoom_blur"',
                                   '"brightness"'))
    before = unchanged(tiny_copy)
    result = run_cli("build", "--experiment", experiment, "--db", tiny_copy,
                     "--cache", tmp_path / "cache", "--executor", "local")
    assert_one_line_error(result, f"{premade / 'brightness.npy'}: expected uint8 array of shape "
                                  f"({5 * n}, 28, 28)")
    assert f"got uint8 array of shape ({5 * n}, 32, 32)" in result.stderr
    assert unchanged(tiny_copy) == before


def test_add_model_under_an_id_already_taken(tiny_copy, tmp_path):
    ckpt = tmp_path / "mine.pt"
    torch.save(build_model("lenet5", in_channels=1, num_classes=10).state_dict(), ckpt)
    before = unchanged(tiny_copy)
    result = run_cli("add-model", ckpt, "--db", tiny_copy, "--arch", "lenet5", "--method",
                     "dense", "--model-id", "lenet5-dense-r0.0-s0")
    assert_one_line_error(result, "Model id 'lenet5-dense-r0.0-s0' is already in "
                                  f"{tiny_copy}. Pass --replace to replace it")
    assert unchanged(tiny_copy) == before


@pytest.mark.parametrize("error, one_line", [(RuntimeError, False), (UserError, True)])
def test_only_user_errors_lose_their_traceback(tmp_path, monkeypatch, error, one_line):
    """A user error (and the ValueError / OSError of bad inputs) is one line; any other exception
    — a torch RuntimeError, a bug — keeps its traceback."""
    import core.pipeline.experiment as experiment

    def failing(path):
        raise error("what went wrong")

    monkeypatch.setattr(experiment, "load_experiment", failing)
    result = run_cli("build", "--experiment", TINY, "--db", tmp_path / "x.duckdb")
    if one_line:
        assert_one_line_error(result, "error: what went wrong")
    else:
        assert result.returncode == 1 and "Traceback" in result.stderr
        assert "RuntimeError: what went wrong" in result.stderr
