"""The small ResNet for 28×28 grey inputs: shapes, the head split, pruning and MPT export."""

import numpy as np
import pytest
import torch

from core.features import features_and_logits, head_of
from core.models import MODELS, ResNetSmall, arch_config, build_model, model_from_config
from core.pruning import make_pruned_model, sparsity


def test_registered_and_rebuilt_from_its_config():
    assert MODELS["resnet_small"] is ResNetSmall
    config = arch_config("resnet_small", in_channels=1, num_classes=10, width=1.0, input_size=28)
    model = model_from_config(config)
    assert isinstance(model, ResNetSmall)
    # Three stages at 8, 16 and 32 channels; the head reads the 32-d pooled feature.
    assert head_of(model).in_features == 32
    assert 15_000 < sum(p.numel() for p in model.parameters()) < 25_000


@pytest.mark.parametrize("width, blocks, m", [(1.0, 1, 32), (2.0, 1, 64), (1.0, 2, 32)])
def test_forward_splits_at_the_head(width, blocks, m):
    torch.manual_seed(0)
    model = build_model("resnet_small", in_channels=1, num_classes=10, width=width,
                        blocks=blocks).eval()
    x = torch.rand(5, 1, 28, 28)
    features, logits = features_and_logits(model, x)
    assert features.shape == (5, m) and logits.shape == (5, 10)
    torch.testing.assert_close(logits, model(x))
    assert (features >= 0).all()      # pooled after a ReLU


def test_blocks_must_be_a_positive_integer():
    with pytest.raises(ValueError, match=r"`blocks` must be a positive integer\. Got 0 instead\."):
        ResNetSmall(blocks=0)


def test_magnitude_pruning_and_mpt_give_plain_models_of_the_same_architecture():
    torch.manual_seed(0)
    dense = build_model("resnet_small", in_channels=1, num_classes=10).eval()
    x, y = torch.rand(64, 1, 28, 28), torch.randint(0, 10, (64,))
    pruned = make_pruned_model(dense, "magnitude", 0.9)
    assert sparsity(pruned)[0] == pytest.approx(0.9, abs=0.005)
    mpt = make_pruned_model(build_model("resnet_small", in_channels=1, num_classes=10, width=2.0),
                            "mpt", 0.5, x=x, y=y, mpt_epochs=1, batch_size=32)
    assert sparsity(mpt)[0] == pytest.approx(0.5, abs=0.01)
    fresh = build_model("resnet_small", in_channels=1, num_classes=10, width=2.0)
    fresh.load_state_dict(mpt.state_dict())       # same keys: the registry model loads it
    assert np.isfinite(fresh.eval()(x).detach().numpy()).all()
