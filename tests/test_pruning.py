import io

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import prune as torch_prune

from core.models import head_parameters
from core.pruning import (METHODS, PRUNERS, TAYLOR2_PROBES, BipropConv2d, BipropLinear,
                          export_biprop, fisher_scores, hessian_diagonal, make_pruned_model,
                          make_permanent, masks_from_scores, prunable_parameters, prune,
                          retrain, snip_scores, sparsity, taylor2_saliency, taylor2_scores,
                          to_biprop, train_biprop)


class TinyNet(nn.Module):
    """2 conv + 2 linear on 1×8×8 inputs; a BatchNorm and biases that must never be pruned."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(),
            nn.Conv2d(4, 6, 3, padding=1, bias=False), nn.BatchNorm2d(6), nn.ReLU(),
            nn.MaxPool2d(2), nn.Flatten())
        self.fc = nn.Linear(6 * 4 * 4, 20)
        self.head = nn.Linear(20, 5)

    def forward(self, x):
        return self.head(torch.relu(self.fc(self.features(x))))


def tiny(seed=0):
    torch.manual_seed(seed)
    return TinyNet()


def data(n=64, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 8, 8, generator=gen), torch.randint(0, 5, (n,), generator=gen)


def stored_sparsity(model):
    """Zeros among Conv/Linear weights of the state dict after a weights_only round trip."""
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    fresh = TinyNet()
    fresh.load_state_dict(state)
    weights = [m.weight for m in fresh.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    total = sum(w.numel() for w in weights)
    return sum(int((w == 0).sum()) for w in weights) / total


def test_prunable_parameters_are_conv_and_linear_weights_only():
    model = tiny()
    found = prunable_parameters(model)
    assert [m for m, _ in found] == [model.features[0], model.features[2], model.fc, model.head]
    assert all(name == "weight" for _, name in found)


@pytest.mark.parametrize("ratio", [0.3, 0.75])
def test_magnitude_global_equals_torch_global_unstructured(ratio):
    ours, ref = tiny(), tiny()
    masks = prune(ours, "magnitude", ratio)
    torch_prune.global_unstructured(prunable_parameters(ref),
                                    pruning_method=torch_prune.L1Unstructured, amount=ratio)
    ref_masks = [m.weight_mask.bool() for m, _ in prunable_parameters(ref)]
    assert list(masks) == ["features.0.weight", "features.2.weight", "fc.weight", "head.weight"]
    for mask, ref_mask in zip(masks.values(), ref_masks):
        assert torch.equal(mask, ref_mask)


def test_magnitude_layer_scope_equals_torch_l1_unstructured():
    ours, ref = tiny(), tiny()
    masks = prune(ours, "magnitude", 0.6, scope="layer")
    for (module, name), mask in zip(prunable_parameters(ref), masks.values()):
        torch_prune.l1_unstructured(module, name, amount=0.6)
        assert torch.equal(mask, module.weight_mask.bool())


def test_ties_keep_exactly_k_in_flat_order():
    scores = [torch.ones(2, 3), torch.ones(4)]
    glob = torch.cat([m.flatten() for m in masks_from_scores(scores, 0.5, scope="global")])
    assert glob.tolist() == [True] * 5 + [False] * 5
    layer = masks_from_scores(scores, 0.5, scope="layer")
    assert layer[0].flatten().tolist() == [True] * 3 + [False] * 3
    assert layer[1].tolist() == [True, True, False, False]


def test_random_scores_are_seeded():
    a = prune(tiny(), "random", 0.5, seed=3)
    b = prune(tiny(), "random", 0.5, seed=3)
    c = prune(tiny(), "random", 0.5, seed=4)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)


@pytest.mark.parametrize("scope", ["global", "layer"])
@pytest.mark.parametrize("method", [m for m in METHODS if not m.startswith("structured_")])
def test_measured_sparsity_matches_ratio(method, scope):
    x, y = data()
    dense = tiny()
    for ratio in (0.1, 0.5, 0.9):
        model = make_pruned_model(dense, method, ratio, x=x, y=y, scope=scope, batch_size=32,
                                  n_batches=2, probes=2, mpt_epochs=0.5, seed=0)
        measured, total, nonzero = sparsity(model)
        assert abs(measured - ratio) <= 0.005
        assert total == 36 + 216 + 1920 + 100
        assert stored_sparsity(model) == pytest.approx(measured)
        assert not any(hasattr(m, "weight_orig") for m in model.modules())


def test_biases_and_norm_layers_are_not_pruned():
    dense = tiny()
    model = make_pruned_model(dense, "magnitude", 0.9)
    for name, value in dense.state_dict().items():
        if not name.endswith("weight") or name.startswith("features.3"):
            assert torch.equal(value, model.state_dict()[name]), name
    _, total_all, nonzero_all = sparsity(model, all_parameters=True)
    others = [v for k, v in model.state_dict().items()
              if k.endswith("bias") or k in ("features.3.weight",)]
    assert total_all == 2272 + sum(v.numel() for v in others) == 2272 + 4 + 6 + 6 + 20 + 5
    assert nonzero_all == sparsity(model)[2] + sum(int(v.count_nonzero()) for v in others)


def test_retrain_keeps_pruned_weights_exactly_zero():
    x, y = data(n=96)
    model = tiny()
    masks = prune(model, "magnitude", 0.7)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    violations = []

    def check(module, inputs, output):
        violations.append(bool(module.weight[~module.weight_mask.bool()].any()))

    hooks = [m.register_forward_hook(check) for m, _ in prunable_parameters(model)]
    losses = retrain(model, x, y, epochs=2, lr=0.5, momentum=0.9, weight_decay=5e-2,
                     batch_size=16, cosine=False)
    model(x)  # the forward after the last step sees the final weights
    for h in hooks:
        h.remove()
    assert len(losses) == 12 and len(violations) == 4 * 13 and not any(violations)
    # momentum and weight decay did move weight_orig where pruned; surviving weights trained
    orig = model.fc.weight_orig.detach()
    pruned = ~masks["fc.weight"]
    assert not torch.equal(orig[pruned], before["fc.weight_orig"][pruned])
    assert not torch.equal(orig[~pruned], before["fc.weight_orig"][~pruned])
    make_permanent(model)
    state = model.state_dict()
    assert "fc.weight_orig" not in state and "fc.weight_mask" not in state
    for name, mask in masks.items():
        assert (state[name][~mask] == 0).all() and (state[name][mask] != 0).all()


def test_snip_scores_equal_hand_computation():
    x, y = data(n=32)
    model = tiny()
    scores = snip_scores(model, x=x, y=y, n_batches=4, batch_size=8, seed=5)
    # The four batches partition the 32 samples, so Σ_b ∇ mean_b = ∇ (Σ_i loss_i) / 8.
    weights = [m.weight for m, _ in prunable_parameters(model)]
    model.eval()
    loss = F.cross_entropy(model(x), y, reduction="sum") / 8
    grads = torch.autograd.grad(loss, weights)
    for s, w, g in zip(scores, weights, grads):
        torch.testing.assert_close(s, (w * g).abs().detach(), rtol=1e-4, atol=1e-7)


def test_fisher_scores_equal_half_w2_empirical_fisher():
    x, y = data(n=12)
    model = tiny()
    scores = fisher_scores(model, x=x, y=y, n_batches=12, batch_size=1, seed=2)
    weights = [m.weight for m, _ in prunable_parameters(model)]
    model.eval()
    fisher = [torch.zeros_like(w) for w in weights]
    for i in range(12):
        grads = torch.autograd.grad(F.cross_entropy(model(x[i:i + 1]), y[i:i + 1]), weights)
        fisher = [f + g.square() / 12 for f, g in zip(fisher, grads)]
    for s, w, f in zip(scores, weights, fisher):
        torch.testing.assert_close(s, 0.5 * w.detach().square() * f, rtol=1e-4, atol=1e-9)


def hand_mask(scores, ratio):
    n = scores.numel()
    keep = torch.topk(scores.abs().flatten(), n - round(ratio * n)).indices
    mask = torch.zeros(n)
    mask[keep] = 1.0
    return mask.view_as(scores)


@pytest.mark.parametrize("edge_popup", [False, True])
def test_biprop_layers_match_hand_computation(edge_popup):
    torch.manual_seed(0)
    conv = BipropConv2d(3, 4, 3, padding=1, ratio=0.6, edge_popup=edge_popup)
    linear = BipropLinear(10, 7, ratio=0.3, edge_popup=edge_popup)
    for layer in (conv, linear):
        w, m = layer.weight.detach(), hand_mask(layer.scores.detach(), layer.ratio)
        if edge_popup:
            expected = w * m
        else:
            expected = (w.abs() * m).sum() / m.sum() * torch.sign(w) * m
        torch.testing.assert_close(layer.effective_weight().detach(), expected)
        assert not layer.weight.requires_grad and layer.scores.requires_grad
    x = torch.randn(2, 3, 5, 5)
    torch.testing.assert_close(conv(x), F.conv2d(x, conv.effective_weight(), conv.bias, padding=1))
    w_hand = hand_mask(linear.scores.detach(), 0.3) * linear.weight.detach()
    if not edge_popup:
        alpha = w_hand.abs().sum() / hand_mask(linear.scores.detach(), 0.3).sum()
        w_hand = alpha * torch.sign(w_hand)
    xl = torch.randn(3, 10)
    torch.testing.assert_close(linear(xl), F.linear(xl, w_hand, linear.bias))


@pytest.mark.parametrize("edge_popup", [False, True])
def test_biprop_score_gradient_is_straight_through_times_w(edge_popup):
    torch.manual_seed(1)
    layer = BipropLinear(6, 4, ratio=0.5, edge_popup=edge_popup)
    x = torch.randn(5, 6)
    target = torch.randn(5, 4)
    ((layer(x) - target) ** 2).sum().backward()
    w_eff = layer.effective_weight().detach().requires_grad_(True)
    grad_w_eff, = torch.autograd.grad(((F.linear(x, w_eff, layer.bias) - target) ** 2).sum(),
                                      w_eff)
    expected = grad_w_eff * layer.weight.detach() * torch.sign(layer.scores.detach())
    torch.testing.assert_close(layer.scores.grad, expected)
    assert layer.weight.grad is None


@pytest.mark.parametrize("train_bn", [False, True])
def test_train_biprop_changes_scores_never_weights(train_bn):
    x, y = data()
    model = to_biprop(tiny(), 0.5, seed=0)
    frozen = {k: v.clone() for k, v in model.state_dict().items() if not k.endswith("scores")}
    scores = {k: v.clone() for k, v in model.state_dict().items() if k.endswith("scores")}
    losses = train_biprop(model, x, y, epochs=2, batch_size=16, train_bn=train_bn)
    assert len(losses) == 8
    state = model.state_dict()
    for k, v in frozen.items():
        if "running" in k or "num_batches" in k:
            continue
        bn_affine = k.startswith("features.3.")
        assert torch.equal(state[k], v) != (train_bn and bn_affine), k
    assert all(not torch.equal(state[k], v) for k, v in scores.items())


def test_to_biprop_is_seeded_and_keeps_structure():
    a, b, c = to_biprop(tiny(0), 0.5, seed=7), to_biprop(tiny(1), 0.5, seed=7), to_biprop(
        tiny(0), 0.5, seed=8)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)  # the dense weights play no part
    assert not torch.equal(sa["fc.weight"], sc["fc.weight"])
    assert isinstance(a.features[2], BipropConv2d) and isinstance(a.head, BipropLinear)
    assert (sa["fc.bias"] == 0).all()
    fan_in = 96
    assert sa["fc.weight"].std().item() == pytest.approx((2 / fan_in) ** 0.5, rel=0.1)


def test_global_biprop_ranks_across_layers_and_follows_score_updates():
    model = to_biprop(tiny(), 0.8, seed=0, scope="global")
    layers = [m for m, _ in prunable_parameters(model)]
    all_scores = torch.cat([m.scores.detach().abs().flatten() for m in layers])
    expected = hand_mask(all_scores, 0.8).bool()
    got = torch.cat([m.mask().flatten() for m in layers])
    assert torch.equal(got, expected)
    with torch.no_grad():
        model.head.scores.fill_(1e3)  # in place: the shared top-k must notice
    assert model.head.mask().all()
    assert sum(int(m.mask().sum()) for m in layers) == all_scores.numel() - round(
        0.8 * all_scores.numel())


def test_head_parameters_and_export_use_the_effective_weight():
    x, y = data()
    model = to_biprop(tiny(), 0.6, seed=0)
    train_biprop(model, x, y, epochs=1, batch_size=32)
    weight, bias = head_parameters(model)
    torch.testing.assert_close(weight, model.head.effective_weight().detach())
    assert torch.unique(weight.abs()).numel() == 2  # α and 0: binarised
    plain = export_biprop(model)
    model.eval()
    torch.testing.assert_close(plain(x), model(x))
    assert plain.state_dict().keys() == TinyNet().state_dict().keys()
    assert stored_sparsity(plain) == pytest.approx(sparsity(model)[0])
    torch.testing.assert_close(head_parameters(plain)[0], weight)


def test_make_pruned_model_leaves_dense_untouched_and_retrains():
    x, y = data()
    dense = tiny()
    before = {k: v.clone() for k, v in dense.state_dict().items()}
    plain = make_pruned_model(dense, "magnitude", 0.5)
    tuned = make_pruned_model(dense, "magnitude", 0.5, x=x, y=y, retrain_epochs=1, lr=0.1)
    assert all(torch.equal(before[k], v) for k, v in dense.state_dict().items())
    assert not torch.equal(plain.fc.weight, tuned.fc.weight)
    assert torch.equal(plain.fc.weight == 0, tuned.fc.weight == 0)  # same mask, retrained values


@pytest.mark.parametrize("bad", [1.0, -0.1, 1.5, True, "0.5"])
def test_ratio_validation(bad):
    with pytest.raises(ValueError, match=r"`ratio` must be in \[0, 1\)\. Got .* instead\."):
        prune(tiny(), "magnitude", bad)


def test_other_validation_messages():
    x, y = data()
    with pytest.raises(ValueError, match="'magnitude'.*'taylor2'. Got 'l1' instead"):
        prune(tiny(), "l1", 0.5)
    assert set(PRUNERS) == {"random", "magnitude", "snip", "fisher", "taylor2"}
    with pytest.raises(ValueError, match="`scope` must be one of 'global', 'layer'"):
        prune(tiny(), "magnitude", 0.5, scope="net")
    with pytest.raises(ValueError, match="required for method 'snip'"):
        prune(tiny(), "snip", 0.5)
    with pytest.raises(ValueError, match="call prune"):
        retrain(tiny(), x, y, epochs=1)
    with pytest.raises(ValueError, match="`retrain_epochs` must be 0 for method 'mpt'"):
        make_pruned_model(tiny(), "mpt", 0.5, x=x, y=y, retrain_epochs=1)
    with pytest.raises(ValueError, match="no biprop layer"):
        train_biprop(tiny(), x, y)


@pytest.mark.parametrize("scope", ["global", "layer"])
def test_masks_with_many_ties_match_a_stable_sort(scope):
    gen = torch.Generator().manual_seed(0)
    scores = [torch.randint(0, 4, shape, generator=gen).float() for shape in [(5, 7), (40,)]]
    for ratio in (0.0, 0.2, 0.45, 0.9):
        groups = [torch.cat([s.flatten() for s in scores])] if scope == "global" else [
            s.flatten() for s in scores]
        expected = []
        for flat in groups:
            order = torch.argsort(flat, descending=True, stable=True)
            keep = torch.zeros(flat.numel(), dtype=torch.bool)
            keep[order[:flat.numel() - round(ratio * flat.numel())]] = True
            expected.append(keep)
        got = masks_from_scores(scores, ratio, scope=scope)
        got = [torch.cat([m.flatten() for m in got])] if scope == "global" else [
            m.flatten() for m in got]
        assert all(torch.equal(g, e) for g, e in zip(got, expected))


# --------------------------------------------------------------------------- second order

def mlp(seed=0):
    """Linear 5→3 + tanh + Linear 3→2: 21 prunable weights (biases are not)."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 3), nn.Tanh(), nn.Linear(3, 2))


def mlp_data(n=32, seed=3):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, 5, generator=gen), torch.randint(0, 2, (n,), generator=gen)


def exact_gradient_and_hessian_diagonal(model, loss_of_model):
    """Exact g and diag H of the loss w.r.t. the concatenated prunable weights, from the dense
    Hessian of torch.autograd.functional.hessian."""
    names = [f"{i}.weight" for i in (0, 2)]
    shapes = [model.get_parameter(n).shape for n in names]
    flat = torch.cat([model.get_parameter(n).detach().flatten() for n in names])

    def loss(w):
        parts = [p.view(s) for p, s in zip(w.split([s.numel() for s in shapes]), shapes)]
        return loss_of_model(lambda inp: torch.func.functional_call(
            model, dict(zip(names, parts)), (inp,)))

    grad = torch.autograd.functional.jacobian(loss, flat)
    diag = torch.autograd.functional.hessian(loss, flat).diagonal()
    return flat, grad, diag


def test_hutchinson_diagonal_matches_exact_hessian_diagonal():
    x, y = mlp_data()
    model = mlp()
    _, _, exact = exact_gradient_and_hessian_diagonal(model, lambda f: F.cross_entropy(f(x), y))
    est = hessian_diagonal(model, lambda m: F.cross_entropy(m(x), y), probes=2000, seed=0)
    assert list(est) == ["0.weight", "2.weight"]
    assert est["0.weight"].shape == (3, 5) and est["2.weight"].shape == (2, 3)
    flat = torch.cat([e.flatten() for e in est.values()])
    # Aggregate relative error: mean over the 21 weights of |est − exact|, over mean |exact|.
    assert ((flat - exact).abs().mean() / exact.abs().mean()).item() < 0.10
    # A handful of probes is far off: the test above measures convergence, not luck.
    few = hessian_diagonal(model, lambda m: F.cross_entropy(m(x), y), probes=1, seed=0)
    flat_few = torch.cat([e.flatten() for e in few.values()])
    assert ((flat_few - exact).abs().mean() / exact.abs().mean()).item() > 0.10


class Quadratic(nn.Module):
    """Two bias-free Linear layers whose weights w (10 entries) define L(w) = ½ wᵀAw + bᵀw."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(3, 2, bias=False)
        self.b = nn.Linear(2, 2, bias=False)

    def flat(self):
        return torch.cat([self.a.weight.flatten(), self.b.weight.flatten()])


def quadratic_loss(curvature, linear):
    def loss(w):
        return 0.5 * (w * curvature * w).sum(-1) + (w * linear).sum(-1)
    return loss


def test_taylor2_saliency_is_the_exact_loss_change_for_a_diagonal_quadratic():
    gen = torch.Generator().manual_seed(0)
    curvature = torch.randn(10, generator=gen)  # A = diag(curvature), indefinite
    linear = torch.randn(10, generator=gen)
    loss = quadratic_loss(curvature, linear)
    model = Quadratic()
    # For diagonal A, z ⊙ (A z) = diag(A) for every ±1 probe: Hutchinson is exact.
    diag = hessian_diagonal(model, lambda m: loss(m.flat()), probes=3, seed=1)
    torch.testing.assert_close(torch.cat([d.flatten() for d in diag.values()]), curvature)
    scores = taylor2_saliency(model, lambda m: loss(m.flat()), probes=1)
    w = model.flat().detach()
    removed = w - torch.diag(w)  # row m: w with entry m set to zero
    brute_force = (loss(removed) - loss(w)).abs()  # the second-order expansion is exact here
    torch.testing.assert_close(torch.cat([s.flatten() for s in scores]), brute_force)


def test_taylor2_scores_match_exact_gradient_and_hessian_over_the_scoring_batches():
    x, y = mlp_data(n=32)
    model = mlp()
    # Two batches of 16 partition the 32 samples: the scoring loss is the mean over all of them.
    scores = taylor2_scores(model, x=x, y=y, n_batches=2, batch_size=16, probes=2000, seed=4)
    w, g, h = exact_gradient_and_hessian_diagonal(model, lambda f: F.cross_entropy(f(x), y))
    exact = (-g * w + 0.5 * w.square() * h).abs()
    got = torch.cat([s.flatten() for s in scores])
    # 0.02 here; dropping the ½w²H term, doubling it or flipping g's sign gives 0.28–0.49.
    assert ((got - exact).abs().mean() / exact.abs().mean()).item() < 0.05
    # and not the empirical-Fisher criterion, which it replaced
    fisher = torch.cat([s.flatten() for s in fisher_scores(model, x=x, y=y, n_batches=2,
                                                           batch_size=16, seed=4)])
    assert ((fisher - exact).abs().mean() / exact.abs().mean()).item() > 0.5


def test_taylor2_scores_use_one_forward_pass_for_gradient_and_hessian():
    x, y = mlp_data(n=24)
    model = mlp()
    one_batch = taylor2_scores(model, x=x, y=y, n_batches=1, batch_size=24, probes=5, seed=2)
    direct = taylor2_saliency(model, lambda m: F.cross_entropy(m(x), y), probes=5, seed=2)
    for a, b in zip(one_batch, direct):
        torch.testing.assert_close(a, b)


def test_taylor2_is_seeded_and_leaves_the_model_as_it_was():
    x, y = data(n=32)
    model = tiny().train()
    a = taylor2_scores(model, x=x, y=y, n_batches=2, batch_size=8, probes=3, seed=1)
    b = taylor2_scores(model, x=x, y=y, n_batches=2, batch_size=8, probes=3, seed=1)
    c = taylor2_scores(model, x=x, y=y, n_batches=2, batch_size=8, probes=3, seed=2)
    assert all(torch.equal(s, t) for s, t in zip(a, b))
    assert any(not torch.equal(s, t) for s, t in zip(a, c))
    assert model.training and all(p.grad is None for p in model.parameters())
    assert [s.shape for s in a] == [m.weight.shape for m, _ in prunable_parameters(model)]
    assert TAYLOR2_PROBES >= 1


def test_taylor2_scores_of_already_pruned_weights_are_zero():
    x, y = data(n=32)
    model = tiny()
    masks = prune(model, "magnitude", 0.5)
    scores = taylor2_scores(model, x=x, y=y, n_batches=2, batch_size=16, probes=2)
    for s, mask in zip(scores, masks.values()):
        assert (s[~mask] == 0).all() and (s[mask] > 0).any()


@pytest.mark.parametrize("bad", [0, -2, 2.5, True, "8"])
def test_probes_validation(bad):
    x, y = mlp_data()
    message = r"`probes` must be a positive integer\. Got .* instead\."
    with pytest.raises(ValueError, match=message):
        hessian_diagonal(mlp(), lambda m: F.cross_entropy(m(x), y), probes=bad)
    with pytest.raises(ValueError, match=message):
        prune(mlp(), "taylor2", 0.5, x=x, y=y, probes=bad)


def test_loss_fn_must_return_a_differentiable_scalar():
    x, y = mlp_data()
    with pytest.raises(ValueError, match=r"scalar \(0-dim\) tensor\. Got shape \(32,\) instead"):
        hessian_diagonal(mlp(), lambda m: F.cross_entropy(m(x), y, reduction="none"), probes=2)
    with pytest.raises(ValueError, match="scalar .* Got <class 'float'> instead"):
        hessian_diagonal(mlp(), lambda m: 1.0, probes=2)
    with pytest.raises(ValueError, match="must depend on the model's prunable weights"):
        hessian_diagonal(mlp(), lambda m: torch.tensor(1.0), probes=2)


@pytest.mark.parametrize("method", sorted(PRUNERS))
def test_scores_computed_once_prune_every_ratio_as_computing_them_each_time(method):
    """The build scores a dense parent once per method and prunes all its ratios (with and
    without retraining) from those scores: the models equal those pruned from scratch."""
    from core.pruning import pruning_scores

    dense = tiny().eval()
    x, y = data()
    shared = pruning_scores(dense, method, x=x, y=y, n_batches=2, batch_size=16, seed=3)
    for ratio, epochs in ((0.3, 0.0), (0.6, 0.5)):
        kwargs = dict(x=x, y=y, n_batches=2, batch_size=16, seed=3, retrain_epochs=epochs)
        fresh = make_pruned_model(dense, method, ratio, **kwargs)
        reused = make_pruned_model(dense, method, ratio, scores=shared, **kwargs)
        for (name, a), b in zip(fresh.state_dict().items(), reused.state_dict().values()):
            assert torch.equal(a, b), f"{method} {ratio} {name}"
    with pytest.raises(ValueError, match="one tensor per prunable weight"):
        prune(tiny(), method, 0.5, x=x, y=y, scores=shared[:-1])


def test_a_build_task_reuses_its_parents_scores_for_other_ratios(monkeypatch):
    """Within one worker, the second ratio of a (parent, method) computes no scores."""
    import numpy as np

    import core.pruning.dense as dense_module
    from core.models import arch_config
    from core.pipeline.experiment import ArchSpec
    from core.pipeline.plan import ModelJob
    from core.pipeline.tasks import state_to_bytes, train_model_task

    config = arch_config("lenet5", in_channels=1, num_classes=10, width=1.0, input_size=28)
    from core.models import model_from_config

    torch.manual_seed(0)
    parent = state_to_bytes(model_from_config(config))
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (64, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 64)
    calls = []
    real = dense_module.pruning_scores
    monkeypatch.setattr(dense_module, "pruning_scores",
                        lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    import core.pruning as pruning
    monkeypatch.setattr(pruning, "pruning_scores", dense_module.pruning_scores)
    spec = ArchSpec(arch="lenet5")
    for ratio in (0.2, 0.5, 0.8):
        job = ModelJob(f"m{ratio}", spec, 1.0, "taylor2", ratio, False, config, 0, 0.0, 0.01,
                       1.0, 0.1, taylor2_probes=1)
        train_model_task(job, images, labels, parent)
    assert calls == ["taylor2"]
