"""Spec for d2l_bn.models: d2l's architectures, and scratch BN = PyTorch BN inside LeNet."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from d2l_bn.layers import BatchNorm, Dropout
from d2l_bn.models import init_he, init_xavier, lenet, lenet_bn, mlp_dropout, softmax_regression


def num_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize("make", [lenet, lambda: lenet_bn(False), lambda: lenet_bn(True)])
@pytest.mark.parametrize("batch_size", [2, 5])
def test_lenets_map_fashion_mnist_images_to_ten_logits(make, batch_size):
    net = make()
    assert net(torch.rand(batch_size, 1, 28, 28)).shape == (batch_size, 10)
    net.eval()   # a single image only works once BN uses its running statistics
    assert net(torch.rand(1, 1, 28, 28)).shape == (1, 10)


def test_lenet_has_d2ls_61706_parameters():
    # conv 156 + conv 2,416 + linear 48,120 + 10,164 + 850
    assert num_params(lenet()) == 61_706


def test_lenet_bn_follows_d2l_without_padding_and_with_bn_before_each_sigmoid():
    net = lenet_bn()
    assert net[0](torch.zeros(1, 1, 28, 28)).shape == (1, 6, 24, 24)
    kinds = [type(layer) for layer in net]
    for i, kind in enumerate(kinds):
        if kind in (nn.Conv2d, nn.Linear) and i < len(kinds) - 1:
            assert kinds[i + 1] in (nn.BatchNorm2d, nn.BatchNorm1d)
            assert kinds[i + 2] is nn.Sigmoid
    assert sum(k in (nn.BatchNorm2d, nn.BatchNorm1d) for k in kinds) == 4
    # LeNet's parameters without the first conv's padding (256 not 400 inputs to fc1),
    # plus gamma and beta for 6 + 16 + 120 + 84 channels.
    assert num_params(net) == 61_706 - 144 * 120 + 2 * (6 + 16 + 120 + 84)


def test_lenet_bn_scratch_uses_our_layer_with_matching_num_dims():
    bns = [m for m in lenet_bn(scratch=True) if isinstance(m, BatchNorm)]
    assert [(m.num_features, m.num_dims) for m in bns] == [(6, 4), (16, 4), (120, 2), (84, 2)]


def test_lenet_bn_scratch_and_torch_have_identical_parameters_for_the_same_seed():
    torch.manual_seed(0)
    ours = lenet_bn(scratch=True)
    torch.manual_seed(0)
    theirs = lenet_bn(scratch=False)
    ours_sd, theirs_sd = ours.state_dict(), theirs.state_dict()
    assert list(ours_sd) == list(theirs_sd)
    for key in ours_sd:
        assert torch.equal(ours_sd[key], theirs_sd[key]), key


def test_lenet_bn_scratch_matches_torch_in_train_and_eval_for_the_same_seed():
    torch.manual_seed(1)
    ours = lenet_bn(scratch=True)
    ours.apply(init_xavier)
    torch.manual_seed(1)
    theirs = lenet_bn(scratch=False)
    theirs.apply(init_xavier)
    opts = [torch.optim.SGD(net.parameters(), lr=0.5) for net in (ours, theirs)]
    for _ in range(3):   # a few real training steps: outputs, gradients and stats stay equal
        X, y = torch.rand(16, 1, 28, 28), torch.randint(0, 10, (16,))
        outputs = []
        for net, opt in zip((ours, theirs), opts):
            opt.zero_grad()
            out = net(X)
            nn.functional.cross_entropy(out, y).backward()
            opt.step()
            outputs.append(out.detach())
        assert_close(outputs[0], outputs[1], rtol=1e-4, atol=1e-5)
    for (key, a), b in zip(ours.state_dict().items(), theirs.state_dict().values()):
        assert_close(a, b, rtol=1e-4, atol=1e-5, msg=key)
    ours.eval(), theirs.eval()
    X = torch.rand(8, 1, 28, 28)
    assert_close(ours(X), theirs(X), rtol=1e-4, atol=1e-5)


def test_init_xavier_draws_conv_and_linear_weights_within_the_xavier_bound():
    torch.manual_seed(2)
    net = lenet_bn()
    biases_before = [m.bias.detach().clone() for m in net if isinstance(m, (nn.Conv2d, nn.Linear))]
    weights_before = [m.weight.detach().clone() for m in net if isinstance(m, (nn.Conv2d, nn.Linear))]
    net.apply(init_xavier)
    layers = [m for m in net if isinstance(m, (nn.Conv2d, nn.Linear))]
    for m, w0, b0 in zip(layers, weights_before, biases_before):
        fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(m.weight)
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        assert m.weight.abs().max() <= bound
        assert m.weight.abs().max() > 0.9 * bound   # it really is a fresh uniform draw
        assert not torch.equal(m.weight.detach(), w0)
        assert torch.equal(m.bias.detach(), b0)      # biases are left alone, as in d2l
    for m in net:
        if isinstance(m, nn.BatchNorm2d):
            assert torch.equal(m.weight.detach(), torch.ones_like(m.weight))



def test_init_he_draws_weights_with_variance_two_over_fan_in_and_leaves_biases():
    torch.manual_seed(4)
    net = nn.Sequential(nn.Conv2d(3, 64, kernel_size=5), nn.Flatten(), nn.Linear(784, 512), nn.ReLU())
    biases_before = [m.bias.detach().clone() for m in (net[0], net[2])]
    net.apply(init_he)
    for m, b0 in zip((net[0], net[2]), biases_before):
        fan_in, _ = nn.init._calculate_fan_in_and_fan_out(m.weight)
        # 4,800 and 401,408 normal draws: the sample variance is within 8% and 1% (> 4 standard errors)
        tolerance = 0.08 if isinstance(m, nn.Conv2d) else 0.01
        assert abs(m.weight.var().item() * fan_in / 2 - 1) < tolerance
        assert abs(m.weight.mean().item()) < 4 * math.sqrt(2 / fan_in / m.weight.numel())
        assert torch.equal(m.bias.detach(), b0)


def test_init_he_keeps_relu_preactivations_steady_where_xavier_halves_them():
    def factor_per_layer(init, depth=12, width=256):
        torch.manual_seed(5)
        layers = [nn.Linear(width, width, bias=False) for _ in range(depth)]
        for layer in layers:
            init(layer)
        H, squares = torch.randn(1000, width), []
        with torch.no_grad():
            for layer in layers:
                Z = layer(H)
                squares.append(Z.pow(2).mean().item())
                H = torch.relu(Z)
        return (squares[-1] / squares[0]) ** (1 / (depth - 1))
    assert abs(factor_per_layer(init_he) - 1.0) < 0.1
    assert abs(factor_per_layer(init_xavier) - 0.5) < 0.05


@pytest.mark.parametrize("scratch", [False, True])
def test_mlp_dropout_drops_in_training_and_is_deterministic_in_eval(scratch):
    torch.manual_seed(3)
    net = mlp_dropout(scratch=scratch)
    drops = [m for m in net if isinstance(m, (Dropout, nn.Dropout))]
    assert [type(m) for m in drops] == [Dropout if scratch else nn.Dropout] * 2
    assert [m.p for m in drops] == [0.2, 0.5]
    X = torch.rand(4, 1, 28, 28)
    assert net(X).shape == (4, 10)
    assert not torch.equal(net(X), net(X))   # a fresh mask every forward
    net.eval()
    assert torch.equal(net(X), net(X))


def test_mlp_dropout_sizes_are_configurable_and_validated():
    net = mlp_dropout(0.1, 0.3, num_hiddens=(32, 16), num_inputs=20, num_outputs=3)
    assert net(torch.rand(5, 20)).shape == (5, 3)
    assert num_params(net) == 20 * 32 + 32 + 32 * 16 + 16 + 16 * 3 + 3
    with pytest.raises(ValueError, match="two hidden layers"):
        mlp_dropout(num_hiddens=(256,))


def test_softmax_regression_is_one_linear_layer_on_flattened_images():
    net = softmax_regression()
    assert net(torch.rand(3, 1, 28, 28)).shape == (3, 10)
    assert num_params(net) == 784 * 10 + 10
