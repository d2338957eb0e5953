"""The note beside charts that compare models of different feature dimensions."""

from __future__ import annotations

import pandas as pd

from app.dimension_note import feature_dim_note

MODELS = pd.DataFrame({"model_id": ["dense", "mpt", "resnet", "wide"],
                       "feature_dim": [84, 84, 32, 126]})


def test_no_note_when_the_compared_models_share_one_dimension():
    assert feature_dim_note(MODELS, ["dense", "mpt"]) == ""
    assert feature_dim_note(MODELS, ["dense"]) == ""
    assert feature_dim_note(MODELS, []) == ""


def test_note_names_each_dimension_and_links_the_study():
    note = feature_dim_note(MODELS, ["dense", "mpt", "wide"])
    assert note.startswith("These models have different feature dimensions: m = 84 (2 models), "
                           "m = 126 (1 model).")
    assert "[dimension study](./)" in note
    assert "m = 32 (1 model)" in feature_dim_note(MODELS)
