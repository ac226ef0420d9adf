"""Spec for d2l_bn.resnet: d2l's Residual block and its variants, small ResNets, zero-init gamma, deep MLPs."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from d2l_bn.diagnostics import gradient_norm_profile, hidden_weights
from d2l_bn.resnet import Residual, deep_mlp, residual_blocks, resnet, zero_init_residual


class BookResidual(nn.Module):
    """d2l-en v1.0's block, verbatim (section 8.6)."""

    def __init__(self, num_channels, use_1x1conv=False, strides=1):
        super().__init__()
        self.conv1 = nn.LazyConv2d(num_channels, kernel_size=3, padding=1, stride=strides)
        self.conv2 = nn.LazyConv2d(num_channels, kernel_size=3, padding=1)
        self.conv3 = nn.LazyConv2d(num_channels, kernel_size=1, stride=strides) if use_1x1conv else None
        self.bn1 = nn.LazyBatchNorm2d()
        self.bn2 = nn.LazyBatchNorm2d()

    def forward(self, X):
        Y = F.relu(self.bn1(self.conv1(X)))
        Y = self.bn2(self.conv2(Y))
        if self.conv3:
            X = self.conv3(X)
        Y += X
        return F.relu(Y)


def copied_from_book(args: tuple, X: torch.Tensor) -> tuple[nn.Module, nn.Module]:
    """The book's block and ours with the book's weights (ours has no conv bias before BN: the book's is set to 0)."""
    torch.manual_seed(0)
    book, ours = BookResidual(*args), Residual(*args)
    book.eval(), ours.eval()
    with torch.no_grad():
        book(X), ours(X)                                # lazy layers materialise; eval: statistics untouched
        book.conv1.bias.zero_(), book.conv2.bias.zero_()
        for name, p in ours.named_parameters():
            p.copy_(book.get_parameter(name))
    return book.train(), ours.train()


@pytest.mark.parametrize("args,shape", [((6,), (3, 6, 8, 8)), ((12, True, 2), (3, 12, 4, 4))])
def test_residual_computes_d2ls_block_in_training_and_in_eval(args, shape):
    X = torch.randn(3, 6, 8, 8)
    book, ours = copied_from_book(args, X)
    torch.testing.assert_close(ours(X), book(X))       # training mode, which also updates the statistics
    assert ours(X).shape == shape
    book(X)
    book.eval(), ours.eval()
    torch.testing.assert_close(ours(X), book(X))


def test_each_order_computes_the_sequence_it_names():
    X = torch.randn(4, 5, 6, 6)
    for order in ("post", "relu_bn", "preact"):
        block = Residual(5, order=order)
        block(X)
        c1, c2, b1, b2 = block.conv1, block.conv2, block.bn1, block.bn2
        expected = {"post": F.relu(b2(c2(F.relu(b1(c1(X))))) + X),
                    "relu_bn": b2(F.relu(c2(b1(F.relu(c1(X)))))) + X,
                    "preact": c2(F.relu(b2(c1(F.relu(b1(X)))))) + X}[order]
        torch.testing.assert_close(block(X), expected)


def test_without_skip_or_bn_the_block_is_what_remains():
    X = torch.randn(2, 4, 5, 5)
    plain = Residual(4, skip=False)
    torch.testing.assert_close(plain(X), F.relu(plain.branch(X)))
    no_bn = Residual(4, batch_norm=False)
    no_bn(X)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in no_bn.modules())
    assert no_bn.conv1.bias is not None and Residual(4).conv1.bias is None   # BN's beta replaces the bias


def test_residual_refuses_unknown_orders_and_orders_that_need_bn():
    with pytest.raises(ValueError, match="order must be one of"):
        Residual(4, order="pre")
    with pytest.raises(ValueError, match="places BN layers"):
        Residual(4, order="preact", batch_norm=False)


@pytest.mark.parametrize("blocks", [0, 1, 5])
def test_resnet_has_two_weight_layers_per_block_plus_two_and_untouched_bn_statistics(blocks):
    net = resnet(blocks, num_channels=4)
    assert len(hidden_weights(net)) == 2 * blocks + 2 and len(residual_blocks(net)) == blocks
    assert not any(isinstance(p, nn.parameter.UninitializedParameter) for p in net.parameters())
    for bn in (m for m in net.modules() if isinstance(m, nn.BatchNorm2d)):
        assert int(bn.num_batches_tracked) == 0 and torch.equal(bn.running_mean, torch.zeros_like(bn.running_mean))
    assert net.training and net(torch.rand(3, 1, 28, 28)).shape == (3, 10)


def test_resnet_is_reproducible_from_its_seed_and_refuses_negative_depth():
    a, b, c = resnet(2, seed=3), resnet(2, seed=3), resnet(2, seed=4)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a[0].weight, c[0].weight)
    for bad in (-1, 2.0, True):
        with pytest.raises(ValueError, match="num_blocks must be"):
            resnet(bad)


def test_zero_init_residual_makes_every_block_the_identity():
    net = zero_init_residual(resnet(6, seed=0)).eval()
    X = torch.rand(8, 1, 28, 28)
    stem_and_head = nn.Sequential(*[m for m in net if not isinstance(m, Residual)])
    with torch.no_grad():
        assert torch.equal(net(X), stem_and_head(X))
    assert all(torch.equal(b.bn2.weight, torch.zeros(8)) for b in residual_blocks(net))


def test_in_a_zero_initialised_block_only_the_last_bn_gets_a_gradient():
    net = zero_init_residual(resnet(2, seed=0))
    F.cross_entropy(net(torch.rand(8, 1, 28, 28)), torch.arange(8)).backward()
    for block in residual_blocks(net):
        moving = [name for name, p in block.named_parameters() if p.grad.abs().max() > 0]
        assert moving == ["bn2.weight", "bn2.bias"]


@pytest.mark.parametrize("kwargs,fragment", [(dict(order="preact"), "branch ends in a BN"),
                                             (dict(skip=False), "branch ends in a BN"),
                                             (dict(batch_norm=False), "branch ends in a BN")])
def test_zero_init_residual_refuses_blocks_without_a_last_bn_or_a_skip(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        zero_init_residual(resnet(2, **kwargs))
    with pytest.raises(ValueError, match="no Residual block"):
        zero_init_residual(resnet(0))
    lazy = nn.Sequential(Residual(4))
    with pytest.raises(ValueError, match="still lazy"):
        zero_init_residual(lazy)


def test_deep_mlp_draws_weights_with_the_gain_asked_for():
    net = deep_mlp(3, 200, gain=2.0, seed=0)
    for w in hidden_weights(net):
        assert w.std().item() == pytest.approx(2.0 / w.shape[1] ** 0.5, rel=0.05)
    relu, tanh = deep_mlp(2, 300, seed=0), deep_mlp(2, 300, activation="tanh", seed=0)
    assert hidden_weights(relu)[1].std().item() == pytest.approx(2 ** 0.5 / 300 ** 0.5, rel=0.05)
    assert hidden_weights(tanh)[1].std().item() == pytest.approx(5 / 3 / 300 ** 0.5, rel=0.05)
    assert all(b.linear.bias is None for b in list(deep_mlp(3, 8, batch_norm=True))[1:-1])


def test_deep_mlp_skips_every_hidden_layer_but_the_first():
    net = deep_mlp(3, 8, skip=True, seed=0)
    blocks = list(net)[1:-1]
    assert [b.skip for b in blocks] == [False, True, True]
    h = torch.randn(5, 8)
    torch.testing.assert_close(blocks[1](h), h + F.relu(blocks[1].linear(h)))


@pytest.mark.parametrize("kwargs,fragment", [(dict(depth=0), "depth must be"), (dict(depth=2.5), "depth must be"),
                                             (dict(depth=2, activation="gelu"), "activation must be one of")])
def test_deep_mlp_refuses_bad_settings(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        deep_mlp(**kwargs)


def test_bn_without_skips_makes_gradients_grow_towards_the_input_faster_the_deeper():
    """Yang et al. (2019) at initialisation: the ratio layer 2 / last layer grows with depth; skips tame it."""
    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(128, 784, generator=g), torch.randint(0, 10, (128,), generator=g)

    def ratio(depth, skip):
        net = deep_mlp(depth, 64, batch_norm=True, skip=skip, seed=0)
        norms = gradient_norm_profile(net, X, y, [b.linear.weight for b in list(net)[2:-1]])
        return (norms[0] / norms[-1]).item()

    assert ratio(8, False) > 1.5 and ratio(24, False) > 10 * ratio(8, False)
    assert ratio(24, True) < ratio(24, False) / 5
