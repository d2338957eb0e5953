"""Structured (channel) pruning with Torch-Pruning: smaller models, same function as masking."""

import copy

import numpy as np
import pytest
import torch
from torch import nn

from core.features import head_of
from core.models import (MODELS, arch_config, build_model, load_state_dict_file,
                         model_from_config, shrink_to_state_dict)
from core.pipeline.experiment import ArchSpec
from core.pipeline.plan import ModelJob
from core.pipeline.tasks import ModelWeights, state_to_bytes, train_model_task
from core.pruning import (METHODS, STRUCTURED_METHODS, latency_ratio, make_pruned_model,
                          sparsity, structured_prune)

RESIDUAL = sorted(name for name in MODELS if "resnet" in name)


def _model(arch, *, width=1.0, seed=0):
    """A registry model with random weights and, where it has BatchNorm, random affine
    parameters and running statistics (so removing a BatchNorm channel is not trivially 0)."""
    torch.manual_seed(seed)
    channels, size = (1, 28) if arch == "lenet5" else (3, 32)
    model = build_model(arch, in_channels=channels, num_classes=10, width=width, input_size=size)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            nn.init.uniform_(module.weight, 0.5, 1.5)
            nn.init.normal_(module.bias, 0, 0.2)
            module.running_mean.normal_(0, 0.2)
            module.running_var.uniform_(0.5, 1.5)
    return model.eval(), torch.randn(8, channels, size, size)


def _masked(model, removed):
    """``model`` with the removed output channels zeroed (weights, biases, BatchNorm affine)."""
    masked = copy.deepcopy(model)
    modules = dict(masked.named_modules())
    with torch.no_grad():
        for name, idx in removed.items():
            module = modules[name]
            module.weight[idx] = 0
            if module.bias is not None:
                module.bias[idx] = 0
    return masked


@pytest.mark.parametrize("method", STRUCTURED_METHODS)
@pytest.mark.parametrize("arch,width", [("lenet5", 1.0), ("resnet18", 0.25)])
def test_pruned_model_is_smaller_and_equals_masking(arch, width, method):
    model, x = _model(arch, width=width)
    pruned = copy.deepcopy(model)
    removed = structured_prune(pruned, method, 0.5, example_inputs=x)
    assert sparsity(pruned)[1] < 0.5 * sparsity(model)[1]
    masked = _masked(model, removed)
    with torch.no_grad():
        reference, out = masked(x), pruned(x)
        assert not torch.allclose(model(x), reference, atol=1e-3)   # the masking matters
    torch.testing.assert_close(out, reference, atol=1e-5, rtol=1e-4)


def test_layer_scope_removes_round_ratio_of_each_layer_keeping_one():
    model, x = _model("lenet5")
    pruned = copy.deepcopy(model)
    structured_prune(pruned, "structured_l1", 0.9, example_inputs=x)
    # 6, 16, 120, 84 units lose round(0.9·n) each, but keep at least one.
    assert [pruned.features[0].out_channels, pruned.features[3].out_channels,
            pruned.encoder[0].out_features, pruned.encoder[2].out_features] == [1, 2, 12, 8]
    assert pruned.encoder[0].in_features == 2 * 5 * 5     # flatten follows conv2's channels


def test_global_scope_removes_round_ratio_of_all_channels():
    model, x = _model("lenet5")
    total = 6 + 16 + 120 + 84
    pruned = copy.deepcopy(model)
    removed = structured_prune(pruned, "structured_group", 0.5, example_inputs=x,
                               scope="global")
    writers = ["features.0", "features.3", "encoder.0", "encoder.2"]
    assert sum(removed[name].numel() for name in writers if name in removed) == round(0.5 * total)
    kept = [pruned.features[0].out_channels, pruned.features[3].out_channels,
            pruned.encoder[0].out_features, pruned.encoder[2].out_features]
    assert min(kept) >= 1 and sum(kept) == total - round(0.5 * total)


def test_l1_removes_the_filters_of_smallest_l1_norm():
    model, x = _model("lenet5")
    with torch.no_grad():
        conv = model.features[0]
        conv.weight.copy_(torch.randn_like(conv.weight).sign())          # equal |w| everywhere
        conv.weight[:] *= torch.tensor([3.0, 0.1, 2.0, 0.2, 1.0, 0.3]).view(-1, 1, 1, 1)
    removed = structured_prune(copy.deepcopy(model), "structured_l1", 0.5, example_inputs=x)
    assert removed["features.0"].tolist() == [1, 3, 5]


def test_params_total_falls_as_the_ratio_grows():
    model, x = _model("lenet5")
    y = torch.randint(0, 10, (8,))
    totals = [sparsity(make_pruned_model(model, "structured_l1", r, x=x, y=y))[1]
              for r in (0.0, 0.25, 0.5, 0.75, 0.9)]
    assert totals[0] == sparsity(model)[1]
    assert all(a > b for a, b in zip(totals, totals[1:])), totals


@pytest.mark.parametrize("arch", ["lenet5", "vgg16", *RESIDUAL])
def test_head_keeps_num_classes_and_reads_the_smaller_penultimate_layer(arch):
    model, x = _model(arch, width=0.25 if arch != "lenet5" else 1.0)
    pruned = copy.deepcopy(model)
    structured_prune(pruned, "structured_group", 0.5, example_inputs=x)
    head = head_of(pruned)
    assert head.out_features == 10
    assert head.in_features < head_of(model).in_features
    features = pruned.forward_features(x)
    assert features.shape == (8, head.in_features)
    assert pruned(x).shape == (8, 10) and torch.isfinite(pruned(x)).all()


@pytest.mark.parametrize("arch", RESIDUAL)
@pytest.mark.parametrize("ratio", [0.3, 0.9])
def test_residual_networks_prune_and_run(arch, ratio):
    model, x = _model(arch, width=0.25)
    pruned = copy.deepcopy(model)
    removed = structured_prune(pruned, "structured_l1", ratio, example_inputs=x)
    # Channels added by a residual connection are removed from every layer writing them.
    assert any("shortcut" in name or "downsample" in name for name in removed)
    with torch.no_grad():
        assert pruned(x).shape == (8, 10)
    assert sparsity(pruned)[1] < sparsity(model)[1]


def test_torchvision_model_prunes():
    torch.manual_seed(0)
    model = build_model("tv:resnet18", in_channels=3, num_classes=10).eval()
    x = torch.randn(2, 3, 32, 32)
    pruned = copy.deepcopy(model)
    removed = structured_prune(pruned, "structured_l1", 0.5, example_inputs=x)
    torch.testing.assert_close(pruned(x), _masked(model, removed)(x), atol=1e-4, rtol=1e-4)
    assert pruned.fc.out_features == 10 and pruned.fc.in_features == 256
    assert sparsity(pruned)[1] < 0.3 * sparsity(model)[1]


@pytest.mark.parametrize("arch,width", [("lenet5", 1.0), ("resnet18", 0.25)])
def test_structured_checkpoint_loads_through_the_normal_path(tmp_path, arch, width):
    channels, size = (1, 28) if arch == "lenet5" else (3, 32)
    config = arch_config(arch, in_channels=channels, num_classes=10, width=width,
                         input_size=size)
    torch.manual_seed(0)
    x, y = torch.randn(16, channels, size, size), torch.randint(0, 10, (16,))
    pruned = make_pruned_model(model_from_config(config).eval(), "structured_l1", 0.6, x=x, y=y,
                               retrain_epochs=1.0)
    path = tmp_path / "pruned.pt"
    torch.save(pruned.state_dict(), path)
    state = load_state_dict_file(path)
    with pytest.raises(RuntimeError, match="size mismatch"):
        model_from_config(config).load_state_dict(state)   # the unshrunk model cannot hold it
    loaded = shrink_to_state_dict(model_from_config(config), state)
    loaded.load_state_dict(state)
    loaded.eval()
    with torch.no_grad():
        assert torch.equal(loaded(x), pruned(x))
    weights = ModelWeights.from_checkpoint("m", config, path)
    assert weights.state == state_to_bytes(pruned)


def test_shrink_leaves_matching_layers_alone():
    model, _ = _model("resnet18", width=0.25)
    layers = [id(m) for m in model.modules()]
    shrink_to_state_dict(model, model.state_dict())
    assert [id(m) for m in model.modules()] == layers


def test_retraining_trains_the_smaller_dense_model():
    model, x = _model("lenet5")
    y = torch.randint(0, 10, (8,))
    plain = make_pruned_model(model, "structured_l1", 0.5, x=x, y=y)
    tuned = make_pruned_model(model, "structured_l1", 0.5, x=x, y=y, retrain_epochs=2.0)
    assert sparsity(tuned)[1] == sparsity(plain)[1]
    assert not torch.equal(tuned.encoder[0].weight, plain.encoder[0].weight)
    assert sparsity(tuned)[0] == 0.0                        # no masks, no stored zeros


def test_latency_ratio_of_a_much_smaller_model_is_below_one():
    model, x = _model("resnet18", width=0.5)
    pruned = copy.deepcopy(model)
    structured_prune(pruned, "structured_l1", 0.75, example_inputs=x)
    assert latency_ratio(pruned, model, x, batch_size=32, repeats=3) < 0.8


def test_train_model_task_records_size_and_latency():
    spec = ArchSpec(arch="lenet5")
    config = arch_config("lenet5", in_channels=1, num_classes=10, width=1.0, input_size=28)
    dense = model_from_config(config)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (64, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 64)
    job = ModelJob(model_id="m", spec=spec, width=1.0, method="structured_group", ratio=0.5,
                   retrained=False, config=config, seed=0, retrain_epochs=0.0, retrain_lr=0.01,
                   mpt_epochs=0.0, mpt_lr=0.1)
    result = train_model_task(job, images, labels, state_to_bytes(dense))
    assert result.summary["params_total"] < sparsity(dense)[1]
    assert result.summary["feature_dim"] == 42
    assert 0 < result.summary["latency_ratio"] < 2


def test_methods_registry_and_validation():
    assert set(STRUCTURED_METHODS) == {"structured_l1", "structured_group"}
    assert set(STRUCTURED_METHODS) <= set(METHODS)
    model, x = _model("lenet5")
    with pytest.raises(ValueError, match="`method` must be one of"):
        structured_prune(model, "magnitude", 0.5, example_inputs=x)
    with pytest.raises(ValueError, match="`scope` must be one of"):
        structured_prune(model, "structured_l1", 0.5, example_inputs=x, scope="block")
    with pytest.raises(ValueError, match=r"`ratio` must be in \[0, 1\)"):
        structured_prune(model, "structured_l1", 1.0, example_inputs=x)
    with pytest.raises(ValueError, match="`x` and `y`"):
        make_pruned_model(model, "structured_l1", 0.5)
