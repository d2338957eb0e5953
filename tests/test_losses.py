"""core.losses: hand-worked values, the centre loss's gradient, the cosine loss's scale
invariance, and the loss option of fit."""

import math

import pytest
import torch
from torch import nn

from core.losses import (LOSSES, CenterLoss, CosineMarginLoss, LabelSmoothing, center_loss,
                         cosine_logits, make_loss)
from core.train import fit


def test_cosine_logits_by_hand():
    features = torch.tensor([[3.0, 4.0]])
    weight = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    assert torch.allclose(cosine_logits(features, weight), torch.tensor([[0.6, 0.8]]))


def test_cosine_margin_loss_by_hand():
    head = nn.Linear(2, 2)
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    loss = CosineMarginLoss(head, scale=2.0, margin=0.1)
    # cos = (0.6, 0.8); true class 0: logits 2·(0.5, 0.8) = (1.0, 1.6).
    value = loss(torch.tensor([[3.0, 4.0]]), None, torch.tensor([0]))
    expected = -1.0 + math.log(math.exp(1.0) + math.exp(1.6))
    assert value.item() == pytest.approx(expected, rel=1e-6)


def test_cosine_loss_is_invariant_to_feature_scale():
    torch.manual_seed(0)
    head = nn.Linear(5, 3)
    loss = CosineMarginLoss(head)
    x, y = torch.randn(8, 5), torch.randint(0, 3, (8,))
    assert loss(x, None, y).item() == pytest.approx(loss(37.5 * x, None, y).item(), rel=1e-5)
    # ... unlike cross-entropy on the head's logits.
    assert not math.isclose(nn.functional.cross_entropy(head(x), y).item(),
                            nn.functional.cross_entropy(head(37.5 * x), y).item())


def test_cosine_fold_into_head_predicts_by_angle():
    torch.manual_seed(1)
    head = nn.Linear(2, 4)
    loss = CosineMarginLoss(head)
    x = torch.randn(50, 2)
    by_angle = cosine_logits(x, head.weight).argmax(1)
    loss.fold_into_head()
    assert torch.equal(head(x).argmax(1), by_angle)
    assert torch.allclose(head.weight.norm(dim=1), torch.ones(4))


def test_label_smoothing_by_hand():
    logits = torch.tensor([[2.0, 0.0]])
    log_p = torch.log_softmax(logits, dim=1)[0]
    # targets (1 − 0.2 + 0.1, 0.1) for smoothing 0.2 over 2 classes.
    expected = -(0.9 * log_p[0] + 0.1 * log_p[1])
    value = LabelSmoothing(smoothing=0.2)(None, logits, torch.tensor([0]))
    assert value.item() == pytest.approx(expected.item(), rel=1e-6)


def test_center_loss_value_and_gradient():
    centers = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    x = torch.tensor([[3.0, 4.0], [1.0, 2.0]], requires_grad=True)
    labels = torch.tensor([0, 1])
    value = center_loss(x, centers, labels)
    assert value.item() == pytest.approx(0.5 * (25 + 1) / 2)
    value.backward()
    # d/dX_i = (X_i − c_{y_i}) / N
    assert torch.allclose(x.grad, torch.tensor([[1.5, 2.0], [0.0, 0.5]]))


def test_center_loss_module_adds_weighted_term_and_learns_centres():
    loss = CenterLoss(2, 2, weight=0.5)
    x, logits, y = torch.tensor([[2.0, 0.0]]), torch.tensor([[1.0, 0.0]]), torch.tensor([0])
    ce = nn.functional.cross_entropy(logits, y).item()
    assert loss(x, logits, y).item() == pytest.approx(ce + 0.5 * 0.5 * 4.0)
    assert [p.shape for p in loss.parameters()] == [torch.Size([2, 2])]


def test_make_loss_rejects_unknown_names():
    with pytest.raises(ValueError, match="`loss` must be one of"):
        make_loss("hinge", nn.Linear(2, 2))
    assert set(LOSSES) == {"ce", "label_smoothing", "cosine", "center"}


@pytest.mark.parametrize("loss", ["label_smoothing", "cosine", "center"])
def test_fit_trains_with_each_loss(loss):
    from core.models import LeNet5

    torch.manual_seed(0)
    model = LeNet5(feature_dim=2, linear_features=True)
    x = torch.rand(64, 1, 28, 28)
    y = (x.mean(dim=(1, 2, 3)) > x.mean()).long()     # a learnable rule
    losses = fit(model, x, y, epochs=8, lr=0.01, optimizer="adam", weight_decay=0.0,
                 batch_size=32, progress=False, loss=loss)
    assert losses[-1] < losses[0]
    if loss == "cosine":
        assert torch.allclose(model.classifier.weight.norm(dim=1), torch.ones(10))
