"""`python -m core import MANIFEST`: a researcher's grid of checkpoints, pruned with
`torch.nn.utils.prune` outside the project's code, registered in one command and evaluated by the
next build; a manifest with problems is refused as a whole, one line per problem."""

import csv
import shutil

import duckdb
import numpy as np
import pytest
import torch
import torch.nn.utils.prune as prune
from torch import nn

from cli import run_cli
from conftest import run_build
from core.models import build_model

METHODS = {
    "random": lambda layers, r: [prune.random_unstructured(m, "weight", amount=r)
                                 for m, _ in layers],
    "l1_layerwise": lambda layers, r: [prune.l1_unstructured(m, "weight", amount=r)
                                       for m, _ in layers],
    "l1_global": lambda layers, r: prune.global_unstructured(
        layers, pruning_method=prune.L1Unstructured, amount=r),
}
RATIOS = (0.5, 0.8)


def _cli(*args):
    return run_cli(*args)    # python -m core …, in this process (tests/cli.py)


def _prunable(model):
    return [(m, "weight") for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def _clean_images(con):
    rows = con.execute("SELECT label, height, width, pixels FROM images "
                       "WHERE benchmark_id = 'clean' ORDER BY sample_id").fetchall()
    labels = torch.tensor([r[0] for r in rows])
    pixels = np.stack([np.frombuffer(r[3], np.uint8).reshape(r[1], r[2]) for r in rows])
    return torch.from_numpy(pixels).float().div(255.0)[:, None], labels


def _user_grid(dense_state, folder, x, y):
    """13 state dicts: the dense model and 3 methods × 2 ratios × (as pruned, retrained with the
    mask fixed); every other one saved with its masks still attached (``weight_orig`` and
    ``weight_mask``, as ``torch.save(model.state_dict())`` gives before ``prune.remove``).
    Returns the manifest rows and each model's clean predictions, computed here."""
    rows, predictions = [], {}

    def save(model, name, method, ratio, retrained, parent, keep_masks):
        path = folder / f"{name}.pt"
        if not keep_masks:
            for module, attr in _prunable(model):
                if prune.is_pruned(module):
                    prune.remove(module, attr)
        torch.save(model.state_dict(), path)
        with torch.no_grad():
            predictions[name] = model.eval()(x).argmax(1)
        rows.append(dict(model_id=name, checkpoint=path.name, arch="lenet5", method=method,
                         ratio=ratio, retrained=str(retrained).lower(), seed=0, parent=parent))

    def fresh():
        model = build_model("lenet5", in_channels=1, num_classes=10)
        model.load_state_dict(dense_state)
        return model

    save(fresh(), "mine-dense", "dense", 0.0, False, "", False)
    for i, (method, prune_fn) in enumerate(METHODS.items()):
        for ratio in RATIOS:
            for retrained in (False, True):
                torch.manual_seed(i)
                model = fresh()
                prune_fn(_prunable(model), ratio)
                if retrained:   # a few steps of fine-tuning, masks attached
                    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
                    for _ in range(3):
                        optimizer.zero_grad()
                        nn.functional.cross_entropy(model.train()(x), y).backward()
                        optimizer.step()
                name = f"mine-{method}-{ratio}{'-rt' if retrained else ''}"
                save(model, name, method, ratio, retrained, "mine-dense",
                     keep_masks=len(rows) % 2 == 1)
    return rows, predictions


def _write_manifest(path, rows):
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture
def user_db(tiny_db, tmp_path):
    db = tmp_path / "user.duckdb"
    shutil.copyfile(tiny_db, db)
    con = duckdb.connect(str(db), read_only=True)
    x, y = _clean_images(con)
    dense_ckpt = con.execute("SELECT checkpoint FROM models WHERE method = 'dense' "
                             "ORDER BY model_id LIMIT 1").fetchone()[0]
    con.close()
    return db, torch.load(dense_ckpt, weights_only=True), x, y


def test_import_a_grid_pruned_outside_the_project_and_build_evaluates_it(user_db, tiny_db,
                                                                         tmp_path):
    db, dense_state, x, y = user_db
    rows, predictions = _user_grid(dense_state, tmp_path, x, y)
    assert len(rows) == 13
    _write_manifest(tmp_path / "grid.csv", rows)
    result = _cli("import", tmp_path / "grid.csv", "--db", db)
    assert result.returncode == 0, result.stderr
    assert "registered 13 models" in result.stdout
    result = run_build(db, tiny_db.parent / "cache")
    assert result.returncode == 0, result.stderr[-2000:]

    con = duckdb.connect(str(db), read_only=True)
    n_benchmarks = con.execute("SELECT count(*) FROM benchmarks").fetchone()[0]
    for row in rows:
        model_id = row["model_id"]
        method, ratio, sparsity, source = con.execute(
            "SELECT method, ratio, sparsity, source FROM models WHERE model_id = ?",
            [model_id]).fetchone()
        assert (method, source) == (row["method"], "user")
        assert ratio == row["ratio"] and sparsity == pytest.approx(row["ratio"], abs=0.01)
        assert con.execute("SELECT count(*) FROM evaluations WHERE model_id = ?",
                           [model_id]).fetchone()[0] == n_benchmarks
        # The build's clean predictions are this test's own forward pass of the pruned model.
        stored = con.execute("SELECT pred FROM sample_metrics WHERE model_id = ? AND "
                             "benchmark_id = 'clean' ORDER BY sample_id", [model_id]).fetchnumpy()
        np.testing.assert_array_equal(stored["pred"], predictions[model_id].numpy(),
                                      err_msg=model_id)
        accuracy = con.execute("SELECT accuracy FROM evaluations WHERE model_id = ? AND "
                               "benchmark_id = 'clean'", [model_id]).fetchone()[0]
        assert accuracy == pytest.approx((predictions[model_id] == y).float().mean().item())
    con.close()


def test_a_manifest_with_problems_gets_one_line_per_problem_and_nothing_written(user_db,
                                                                                tmp_path):
    db, dense_state, x, y = user_db
    good, _ = _user_grid(dense_state, tmp_path, x, y)
    dense_row, pruned_row = good[0], good[1]
    torch.save(build_model("resnet_small", in_channels=1, num_classes=10).state_dict(),
               tmp_path / "resnet.pt")
    taken = "lenet5-dense-r0.0-s0"      # a model of the tiny build
    bad = {
        "missing file": dict(dense_row, model_id="a", checkpoint="nowhere.pt"),
        "duplicate id": dict(pruned_row),
        "id in the database": dict(dense_row, model_id=taken),
        "unknown parent": dict(pruned_row, model_id="b", parent="nobody"),
        "sparsity": dict(dense_row, model_id="c", ratio=0.7, method="magnitude"),
        "another architecture": dict(dense_row, model_id="d", checkpoint="resnet.pt"),
        "retrained value": dict(dense_row, model_id="e", retrained="maybe"),
        "ratio range": dict(dense_row, model_id="f", ratio=1.5),
    }
    rows = [dense_row, pruned_row, *bad.values()]
    _write_manifest(tmp_path / "bad.csv", rows)
    before = db.read_bytes()
    result = _cli("import", tmp_path / "bad.csv", "--db", db)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert all(line.startswith("error: ") for line in lines), result.stderr
    assert len(lines) == len(bad), result.stderr
    # One line per bad row, naming its line of the file (the header is line 1).
    for line_number, (problem, line) in enumerate(zip(bad, lines), start=4):
        assert f"bad.csv line {line_number}: " in line, (problem, line)
    expected = ["nowhere.pt does not exist", "is also the id of line 3",
                "already in the database", "parent 'nobody' is neither in the manifest",
                "has sparsity 0.000 but the row states ratio 0.7",
                "does not fit architecture 'lenet5' (width 1.0, 1 channels, 10 classes): Missing "
                "key(s) in state_dict:", "`retrained` must be true or false",
                "`ratio` must be a number in [0, 1). Got '1.5' instead."]
    for text, line in zip(expected, lines):
        assert text in line, (text, line)
    assert db.read_bytes() == before
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM models WHERE source = 'user'").fetchone()[0] == 0
    con.close()


def test_manifest_header_is_checked(user_db, tmp_path):
    db = user_db[0]
    (tmp_path / "m.csv").write_text("path,arch\nx.pt,lenet5\n")
    result = _cli("import", tmp_path / "m.csv", "--db", db)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "the header must name the columns checkpoint, " \
        "arch, method" in result.stderr


def test_the_one_loader_folds_pruning_masks_from_a_file_and_a_state_dict(tmp_path):
    from core.model_configs import arch_config
    from core.models import model_from_config

    model = build_model("lenet5", in_channels=1, num_classes=10)
    prune.l1_unstructured(_prunable(model)[0][0], "weight", amount=0.5)
    state = model.state_dict()
    assert any(k.endswith("weight_mask") for k in state)
    torch.save(state, tmp_path / "masked.pt")
    config = arch_config("lenet5", in_channels=1, num_classes=10, width=1.0, input_size=28)
    x = torch.rand(4, 1, 28, 28)
    with torch.no_grad():
        expected = model.eval()(x)
        for weights in (tmp_path / "masked.pt", state):
            loaded = model_from_config(config, weights).eval()
            assert not any(k.endswith(("_orig", "_mask")) for k in loaded.state_dict())
            torch.testing.assert_close(loaded(x), expected)
