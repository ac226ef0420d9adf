"""Spec for d2l_bn.folding: an eval-mode BN folded into the convolution before it computes the same thing."""
from __future__ import annotations

import copy

import pytest
import torch
import torch.fx.experimental.optimization as fx_optimization
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from d2l_bn.folding import count_batch_norms, fold_batch_norms, fold_conv_bn
from d2l_bn.resnet import resnet

TOLERANCE = dict(rtol=1e-5, atol=1e-5)   # float32: outputs of order 1-10 from sums of tens of products


def trained_bn(num_features: int, seed: int = 0, affine: bool = True) -> nn.BatchNorm2d:
    torch.manual_seed(seed)
    bn = nn.BatchNorm2d(num_features, affine=affine, eps=1e-3)
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1), bn.running_var.uniform_(0.1, 3)
        if affine:
            bn.weight.uniform_(-2, 2), bn.bias.uniform_(-1, 1)       # negative gammas too
    return bn.eval()


@pytest.mark.parametrize("groups", [1, 2, 6])                       # dense, grouped, depthwise
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_folded_conv_equals_conv_then_eval_bn_for_any_groups(groups, bias, affine):
    torch.manual_seed(groups)
    conv = nn.Conv2d(6, 6, 3, padding=1, stride=2, dilation=1, groups=groups, bias=bias)
    bn = trained_bn(6, seed=groups, affine=affine)
    X = torch.randn(4, 6, 9, 9)
    folded = fold_conv_bn(conv, bn)
    with torch.no_grad():
        torch.testing.assert_close(folded(X), bn(conv(X)), **TOLERANCE)
    assert folded.groups == groups and folded.bias is not None and folded.weight.shape == conv.weight.shape


def test_folding_leaves_the_original_layers_alone_and_agrees_with_pytorch():
    conv, bn = nn.Conv2d(3, 5, 3).eval(), trained_bn(5)          # PyTorch asserts eval on both
    weight = conv.weight.detach().clone()
    ours, theirs = fold_conv_bn(conv, bn), fuse_conv_bn_eval(conv, bn)
    assert torch.equal(conv.weight, weight)
    torch.testing.assert_close(ours.weight, theirs.weight, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(ours.bias, theirs.bias, rtol=1e-6, atol=1e-7)


def test_a_bn_in_training_mode_is_refused_with_the_fix():
    bn = trained_bn(4).train()
    with pytest.raises(RuntimeError, match=r"training mode.*net\.eval\(\)"):
        fold_conv_bn(nn.Conv2d(2, 4, 3), bn)


@pytest.mark.parametrize("conv,bn,fragment", [
    (nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4, track_running_stats=False).eval(), "no running statistics"),
    (nn.Conv2d(2, 4, 3), trained_bn(3), "4 output channels but the BN layer normalises 3"),
    (nn.ConvTranspose2d(2, 4, 3), trained_bn(4), "ConvTranspose2d"),
    (nn.Conv2d(2, 4, 3), nn.LayerNorm(4), "can only fold an nn.BatchNorm2d"),
])
def test_pairs_that_one_convolution_cannot_reproduce_are_refused(conv, bn, fragment):
    with pytest.raises(ValueError, match=fragment):
        fold_conv_bn(conv, bn)


def with_statistics(net: nn.Module, seed: int = 0) -> nn.Module:
    """A few training-mode passes so that every BN holds non-trivial running statistics; then eval."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for _ in range(3):
            net(torch.rand(16, 1, 28, 28) * 2)
    return net.eval()


@pytest.mark.parametrize("order,left", [("post", 0), ("relu_bn", 8), ("preact", 5)])  # 4 blocks
def test_a_whole_resnet_folds_where_a_bn_follows_a_conv_and_computes_the_same(order, left):
    net = with_statistics(resnet(4, order=order))
    before = count_batch_norms(net)
    folded = fold_batch_norms(net)
    X = torch.rand(32, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(folded(X), net(X), **TOLERANCE)
        torch.testing.assert_close(folded(X), fx_optimization.fuse(net)(X), **TOLERANCE)
    assert count_batch_norms(net) == before                 # the original is untouched
    assert count_batch_norms(folded) == left == count_batch_norms(fx_optimization.fuse(net))
    assert not folded.training


def test_a_network_in_training_mode_is_refused():
    with pytest.raises(RuntimeError, match="training mode"):
        fold_batch_norms(resnet(1))


class Branching(nn.Module):
    """A conv whose output feeds a BN and something else: folding would change the other use."""

    def __init__(self):
        super().__init__()
        self.conv, self.bn = nn.Conv2d(1, 3, 3, padding=1), trained_bn(3)

    def forward(self, X):
        Y = self.conv(X)
        return self.bn(Y) + Y


def test_a_bn_whose_convolution_is_used_elsewhere_is_left_alone():
    net = Branching().eval()
    folded = fold_batch_norms(net)
    X = torch.randn(2, 1, 6, 6)
    assert count_batch_norms(folded) == 1
    with torch.no_grad():
        torch.testing.assert_close(folded(X), net(X))


def test_folding_a_sequential_removes_its_bn_and_keeps_the_rest():
    net = nn.Sequential(nn.Conv2d(1, 4, 3), trained_bn(4), nn.ReLU(), nn.Conv2d(4, 2, 3), trained_bn(2, 1)).eval()
    folded = fold_batch_norms(copy.deepcopy(net))
    X = torch.randn(3, 1, 8, 8)
    assert count_batch_norms(folded) == 0 and sum(isinstance(m, nn.Conv2d) for m in folded.modules()) == 2
    with torch.no_grad():
        torch.testing.assert_close(folded(X), net(X), **TOLERANCE)
