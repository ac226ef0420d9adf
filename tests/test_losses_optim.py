"""Spec for d2l_bn.losses and d2l_bn.optim: stable softmax/cross-entropy, d2l's sgd."""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.testing import assert_close

from d2l_bn.losses import _check_cross_entropy_args, _check_logits, cross_entropy, log_softmax, softmax
from d2l_bn.optim import check_sgd_arguments, sgd

EXTREME_LOGITS = torch.tensor([[1000.0, -1000.0, 0.0],
                               [-1000.0, -1000.0, -1000.0],
                               [1000.0, 1000.0, -1000.0],
                               [-1000.0, 999.0, 1000.0]])


def test_softmax_equals_torch_softmax_and_rows_sum_to_one():
    torch.manual_seed(0)
    X = torch.randn(8, 10) * 3
    P = softmax(X)
    assert_close(P, torch.softmax(X, dim=1))
    assert_close(P.sum(dim=1), torch.ones(8))


def test_softmax_is_stable_at_logits_of_plus_minus_1000():
    naive = torch.exp(EXTREME_LOGITS) / torch.exp(EXTREME_LOGITS).sum(1, keepdim=True)
    assert torch.isnan(naive).any()   # the textbook formula overflows: inf / inf
    P = softmax(EXTREME_LOGITS)
    assert torch.isfinite(P).all()
    assert_close(P, torch.softmax(EXTREME_LOGITS, dim=1))
    assert_close(P[1], torch.full((3,), 1 / 3))   # equal logits, however large


def test_softmax_is_invariant_to_adding_a_constant_per_row():
    # float64: in float32, x + 1e4 itself rounds x to ~1e-3, which the test would see.
    torch.manual_seed(4)
    X = torch.randn(4, 5, dtype=torch.float64)
    shift = torch.tensor([[0.0], [100.0], [-100.0], [1e4]], dtype=torch.float64)
    assert_close(softmax(X + shift), softmax(X))


def test_softmax_and_log_softmax_work_along_the_last_dimension_of_any_rank():
    X = torch.randn(2, 3, 4)
    assert_close(softmax(X), torch.softmax(X, dim=-1))
    assert_close(log_softmax(X[0, 0]), torch.log_softmax(X[0, 0], dim=-1))
    with pytest.raises(ValueError, match="scalar"):
        softmax(torch.tensor(1.0))


def test_log_softmax_equals_torch_including_extreme_logits():
    assert_close(log_softmax(EXTREME_LOGITS), torch.log_softmax(EXTREME_LOGITS, dim=1))
    assert torch.isfinite(log_softmax(EXTREME_LOGITS)).all()


def test_cross_entropy_equals_pytorch_per_example_loss():
    torch.manual_seed(1)
    logits, y = torch.randn(16, 10) * 4, torch.randint(0, 10, (16,))
    loss = cross_entropy(logits, y)
    assert loss.shape == (16,)
    assert_close(loss, F.cross_entropy(logits, y, reduction="none"))


def test_cross_entropy_from_extreme_logits_is_finite_and_equals_pytorch():
    y = torch.tensor([1, 0, 2, 2])   # row 0: confidently wrong by 2000 nats
    logits = EXTREME_LOGITS.clone().requires_grad_(True)
    loss = cross_entropy(logits, y)
    assert torch.isfinite(loss).all()
    assert_close(loss[0], torch.tensor(2000.0))
    logits_ref = EXTREME_LOGITS.clone().requires_grad_(True)
    loss_ref = F.cross_entropy(logits_ref, y, reduction="none")
    assert_close(loss, loss_ref)
    loss.sum().backward(), loss_ref.sum().backward()
    assert_close(logits.grad, logits_ref.grad)
    # d2l's version, -log(softmax(logits)[y]), underflows to -log(0) = inf here.
    probs = softmax(EXTREME_LOGITS)
    assert torch.isinf(-torch.log(probs[range(4), y])).any()


def test_cross_entropy_gradient_is_softmax_minus_one_hot():
    torch.manual_seed(2)
    logits = torch.randn(5, 4, requires_grad=True)
    y = torch.tensor([0, 3, 1, 1, 2])
    cross_entropy(logits, y).sum().backward()
    assert_close(logits.grad, softmax(logits.detach()) - F.one_hot(y, 4).float())


def test_cross_entropy_accepts_int32_labels():
    logits, y = torch.randn(3, 4), torch.tensor([0, 1, 3], dtype=torch.int32)
    assert_close(cross_entropy(logits, y), F.cross_entropy(logits, y.long(), reduction="none"))


@pytest.mark.parametrize("logits,y,match", [
    (torch.randn(10), torch.tensor([1]), "logits must be 2-D"),
    (torch.randn(2, 3, 4), torch.tensor([0, 1]), "logits must be 2-D"),
    (torch.randn(2, 3), torch.tensor([[0], [1]]), "y must be 1-D"),
    (torch.randn(2, 3), torch.tensor([0, 1, 2]), "one label per row"),
    (torch.randn(2, 3), torch.tensor([0.0, 1.0]), "integer class indices"),
])
def test_cross_entropy_rejects_bad_shapes_with_a_message_naming_the_fix(logits, y, match):
    with pytest.raises(ValueError, match=match):
        cross_entropy(logits, y)


# ------------------------------------------------------------------------------ sgd

def test_sgd_on_summed_loss_equals_torch_sgd_on_mean_loss():
    # d2l sums the batch's losses and divides the step by batch_size inside sgd;
    # torch.optim.SGD steps on the gradient it gets, so it wants the mean loss.
    torch.manual_seed(3)
    net = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 3))
    net_ref = copy.deepcopy(net)
    X, y = torch.randn(32, 5), torch.randint(0, 3, (32,))
    opt = torch.optim.SGD(net_ref.parameters(), lr=0.3)
    for _ in range(3):
        cross_entropy(net(X), y).sum().backward()
        sgd(net.parameters(), lr=0.3, batch_size=32)
        opt.zero_grad()
        F.cross_entropy(net_ref(X), y).backward()
        opt.step()
    for p, p_ref in zip(net.parameters(), net_ref.parameters()):
        assert_close(p, p_ref)
        assert torch.equal(p.grad, torch.zeros_like(p))   # sgd zeroes the gradients


def test_sgd_skips_parameters_without_gradient():
    used, unused = torch.ones(3, requires_grad=True), torch.ones(3, requires_grad=True)
    (2 * used).sum().backward()
    sgd([used, unused], lr=0.5, batch_size=1)
    assert_close(used.detach(), torch.zeros(3))
    assert torch.equal(unused.detach(), torch.ones(3)) and unused.grad is None


@pytest.mark.parametrize("lr,batch_size,match", [
    (0.0, 4, "lr must be > 0"), (-0.1, 4, "lr must be > 0"),
    (0.1, 0, "batch_size must be >= 1"), (0.1, -3, "batch_size must be >= 1"),
])
def test_sgd_rejects_nonpositive_lr_or_batch_size(lr, batch_size, match):
    p = torch.ones(2, requires_grad=True)
    p.sum().backward()
    with pytest.raises(ValueError, match=match):
        sgd([p], lr, batch_size)
    assert torch.equal(p.detach(), torch.ones(2))   # nothing was updated


def test_the_input_checkers_accept_every_valid_input():
    # The lessons' functions call these checkers first; they must never reject what the functions can compute.
    _check_logits(torch.randn(5))
    _check_cross_entropy_args(torch.randn(2, 3), torch.tensor([0, 2], dtype=torch.int32))
    _check_cross_entropy_args(torch.randn(0, 3), torch.zeros(0, dtype=torch.long))   # an empty batch
    check_sgd_arguments(1e-8, 1)
