"""Bad-input catalogue, experiments refused at load (README): an empty file, non-finite numbers
anywhere, sizes beyond what the dataset holds. One line, exit status 2, no file created."""

import numpy as np
import pytest

from conftest import TINY
from core.__main__ import main
from core.data import SPLIT_SIZES
from core.pipeline.experiment import load_experiment

REFUSED = {
    "empty file": (None, "is empty: it must describe the experiment"),
    "only comments": ("# nothing yet\n", "is empty: it must describe the experiment"),
    "epochs inf": (("epochs = 3", "epochs = inf"),
                   "[[arch]] #1: `epochs` must be a finite number. Got inf instead."),
    "lr nan": (("lr = 0.003", "lr = nan"),
               "[[arch]] #1: `lr` must be a finite number. Got nan instead."),
    "inf in a list": (("ratios = [0.5, 0.9]", "ratios = [0.5, -inf]"),
                      "[pruning]: `ratios` must be a finite number. Got -inf instead."),
    "train_limit beyond the train split": (
        ("train_limit = 2000 ", "train_limit = 1000000 "),
        "[dataset]: `train_limit` must be at most 60,000 (the fashion_mnist train split), or 0 "
        "for all of it. Got 1000000 instead."),
    "n_per_class beyond the test split": (
        ("n_per_class = 10 ", "n_per_class = 5000 "),
        "[dataset]: `n_per_class` must be at most 1,000 (the largest fashion_mnist test "
        "class). Got 5000 instead."),
    "dimension-study train_limit beyond the train split": (
        ("train_limit = 1000\n", "train_limit = 70000\n"),
        "[dimension_study]: `train_limit` must be at most 60,000"),
}


def write(tmp_path, change):
    path = tmp_path / "bad.toml"
    if change is None:
        path.write_bytes(b"")
    elif isinstance(change, str):
        path.write_text(change)
    else:
        old, new = change
        text = TINY.read_text()
        assert text.count(old) >= 1, old
        path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize("case", list(REFUSED))
def test_refused_at_load_before_any_file_is_created(tmp_path, capsys, case):
    change, message = REFUSED[case]
    experiment = write(tmp_path, change)
    status = main(["build", "--experiment", str(experiment), "--db", str(tmp_path / "x.duckdb"),
                   "--cache", str(tmp_path / "cache"), "--executor", "local"])
    err = capsys.readouterr().err
    assert status == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(experiment) in lines[0], err
    assert message in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]


def test_the_size_limits_are_the_datasets_own():
    """The recorded sizes against the real Fashion-MNIST splits (the data the tests use)."""
    from core.data import load_dataset

    train = load_dataset("fashion_mnist", split="train")
    test = load_dataset("fashion_mnist", split="test")
    assert SPLIT_SIZES["fashion_mnist"] == (len(train.labels),
                                              int(np.bincount(test.labels).max()))


def test_sizes_at_the_limit_are_accepted(tmp_path):
    experiment = write(tmp_path, ("train_limit = 2000 ", "train_limit = 60000 "))
    assert load_experiment(experiment).train_limit == 60_000
