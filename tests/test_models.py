import pytest
import torch
from torch import nn

from core.features import features_and_logits, head_of, head_parameters
from core.models import MODELS, build_model, load_state_dict_file


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


@pytest.mark.parametrize("arch", sorted(MODELS))
def test_registry_models_split_their_forward_pass_at_the_head(arch):
    """forward_features is exactly what the head reads and forward_head exactly the logits, so
    features_and_logits needs no hook for them and agrees with the hook it replaces."""
    model = build_model(arch, in_channels=3, num_classes=7, width=0.25, input_size=32).eval()
    x = torch.rand(4, 3, 32, 32)
    seen: list[torch.Tensor] = []
    hook = head_of(model).register_forward_hook(lambda m, inp, out: seen.append(inp[0]))
    with torch.no_grad():
        logits = model(x)
        hook.remove()
        features = model.forward_features(x)
        torch.testing.assert_close(features, seen[0], rtol=0, atol=0)
        torch.testing.assert_close(model.forward_head(features), logits, rtol=0, atol=0)
        via_seam = features_and_logits(model, x)
    assert not head_of(model)._forward_hooks
    torch.testing.assert_close(via_seam[0], seen[0], rtol=0, atol=0)
    torch.testing.assert_close(via_seam[1], logits, rtol=0, atol=0)


def test_models_without_the_split_are_read_through_a_hook_on_their_head():
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 5), nn.ReLU(), nn.Linear(5, 3)).eval()
    x = torch.rand(2, 3, 2, 2)
    features, logits = features_and_logits(model, x)
    torch.testing.assert_close(features, model[2](model[1](model[0](x))))
    torch.testing.assert_close(logits, model(x))
    assert not model[3]._forward_hooks   # the hook is removed after the pass


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
    with pytest.raises(ValueError, match=r"`arch` must be one of lenet5, resnet18, resnet_small, vgg16"):
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


def test_lenet5_feature_dim_sets_the_head_input_alone():
    from core.models import arch_config, model_from_config

    plain = arch_config("lenet5", in_channels=1, num_classes=10, width=1.0, input_size=28)
    assert "feature_dim" not in plain          # configs without the option read as before
    config = arch_config("lenet5", in_channels=1, num_classes=10, width=1.0, input_size=28,
                         feature_dim=2)
    model = model_from_config(config)
    assert model.classifier.in_features == 2
    assert model.forward_features(torch.zeros(3, 1, 28, 28)).shape == (3, 2)
    # Everything before the penultimate layer keeps the default widths.
    assert model.encoder[0].out_features == model_from_config(plain).encoder[0].out_features


def test_forward_macs_counts_lenet5_by_hand():
    """LeNet-5 on 1×28×28 (padded to 32): conv1 28·28·6·25, conv2 10·10·16·(6·25), then
    400·120 + 120·84 + 84·10 in the linear layers."""
    from core.models import LeNet5, forward_macs

    expected = 28 * 28 * 6 * 25 + 10 * 10 * 16 * 6 * 25 + 400 * 120 + 120 * 84 + 84 * 10
    assert forward_macs(LeNet5().eval(), (1, 28, 28)) == expected
    grouped = torch.nn.Sequential(torch.nn.Conv2d(4, 8, 3, groups=2), torch.nn.Flatten())
    assert forward_macs(grouped, (4, 5, 5)) == 3 * 3 * 8 * (2 * 3 * 3)
