import pytest
import torch
from torch import nn

from core.models import (MODELS, build_model, features_and_logits, head_of, head_parameters,
                         load_state_dict_file)


@pytest.mark.parametrize("arch", sorted(MODELS))
@pytest.mark.parametrize("size, channels", [(28, 1), (32, 3)])
def test_registry_models_run_and_expose_their_head(arch, size, channels):
    model = build_model(arch, in_channels=channels, num_classes=7, width=0.25, input_size=size)
    model.eval()
    x = torch.rand(3, channels, size, size)
    feats, logits = features_and_logits(model, x)
    assert logits.shape == (3, 7)
    weight, bias = head_parameters(model)
    assert feats.shape == (3, weight.shape[1])
    # The seam: logits are exactly the head applied to X.
    torch.testing.assert_close(feats @ weight.T + bias, logits)


def test_lenet5_is_the_classic_shape():
    model = build_model("lenet5", in_channels=1, num_classes=10)
    assert sum(p.numel() for p in model.parameters()) == 61706
    assert head_of(model).in_features == 84


def test_width_scales_channels():
    narrow = build_model("vgg16", in_channels=3, num_classes=10, width=0.125, input_size=32)
    assert head_of(narrow).in_features == 64


def test_torchvision_models_by_name_without_download():
    model = build_model("tv:resnet18", in_channels=3, num_classes=5)
    assert head_of(model).out_features == 5
    with pytest.raises(ValueError, match="Unknown torchvision model"):
        build_model("tv:not_a_model", in_channels=3, num_classes=5)


def test_unknown_arch_lists_known_ones():
    with pytest.raises(ValueError, match=r"`arch` must be one of lenet5, resnet18, vgg16"):
        build_model("alexnet", in_channels=1, num_classes=10)


def test_head_is_the_last_linear_and_required():
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    assert head_of(model) is model[2]
    with pytest.raises(ValueError, match="has no nn.Linear"):
        head_of(nn.Sequential(nn.Conv2d(1, 1, 3)))


def test_weights_from_a_local_file_and_refusing_pickled_payloads(tmp_path):
    model = build_model("lenet5", in_channels=1, num_classes=10)
    path = tmp_path / "lenet.pt"
    torch.save(model.state_dict(), path)
    again = build_model("lenet5", in_channels=1, num_classes=10, weights=path)
    torch.testing.assert_close(again.classifier.weight, model.classifier.weight)

    class Payload:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"w": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="weights_only=True"):
        load_state_dict_file(tmp_path / "evil.pt")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_state_dict_file(tmp_path / "missing.pt")
