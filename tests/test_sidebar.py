"""The sidebar's selection summary: names, not counts alone."""

from __future__ import annotations

from app.sidebar import LISTED, selection_line


def test_a_list_shows_its_count_and_first_names_then_how_many_more():
    models = [f"m{i}" for i in range(14)]
    line = selection_line("selected_models", models)
    assert line == ("**selected models** (14): `m0`, `m1`, `m2`, `m3`, `m4` and 9 more")
    assert selection_line("selected_models", models[:LISTED]).endswith("`m4`")
    assert selection_line("selected_samples", [7]) == "**selected samples** (1): `7`"


def test_the_class_is_shown_by_name():
    names = ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt"]
    assert selection_line("selected_class", 6, class_names=names) == (
        "**selected class**: Shirt (6)")
    # An index the database has no name for is shown as it is.
    assert selection_line("selected_class", 9, class_names=names) == "**selected class**: `9`"
    assert selection_line("reference_benchmark", "fog-3") == "**reference benchmark**: `fog-3`"


def test_ids_and_class_names_from_outside_cannot_format_the_sidebar():
    # Ids come from a link or the database, the class names from the database: quoted through
    # app.escape, a crafted value shows as its characters, never as a link or bold text.
    crafted = "x`](https://evil.example) **bold**"
    line = selection_line("selected_models", [crafted])
    assert line.startswith("**selected models** (1): ``") and "evil.example" in line
    assert selection_line("reference_benchmark", crafted).count("``") == 2
    names = ["[click](https://evil.example)"]
    assert selection_line("selected_class", 0, class_names=names) == (
        r"**selected class**: \[click\]\(https\:\/\/evil\.example\) (0)")
