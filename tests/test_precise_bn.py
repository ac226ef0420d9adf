"""recompute_bn_statistics: the course's one precise-BN implementation, held to PyTorch's update_bn."""
import copy

import pytest
import torch
from torch import nn

from d2l_bn.layers import BatchNorm
from d2l_bn.models import lenet_bn
from d2l_bn.precise_bn import bn_layers, recompute_bn_statistics


def _trained_net(scratch: bool) -> nn.Module:
    torch.manual_seed(0)
    net = lenet_bn(scratch=scratch)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.5)
    for _ in range(5):
        X, y = torch.rand(32, 1, 28, 28), torch.randint(0, 10, (32,))
        optimizer.zero_grad()
        nn.functional.cross_entropy(net(X), y).backward()
        optimizer.step()
    return net


@pytest.mark.parametrize("scratch", [True, False])
def test_recomputed_statistics_equal_pytorch_update_bn(scratch):
    net = _trained_net(scratch)
    batches = [torch.rand(50, 1, 28, 28) for _ in range(4)]
    reference = lenet_bn(scratch=False)             # update_bn knows only PyTorch's layers:
    reference.load_state_dict(net.state_dict())     # our layer's state_dict loads into them
    torch.optim.swa_utils.update_bn(batches, reference)
    recompute_bn_statistics(net, [(X, torch.zeros(len(X))) for X in batches])
    for ours, theirs in zip(bn_layers(net), bn_layers(reference)):
        torch.testing.assert_close(ours.running_mean, theirs.running_mean)
        torch.testing.assert_close(ours.running_var, theirs.running_var)


def test_statistics_are_the_equal_weight_average_of_batch_statistics():
    bn = BatchNorm(3, num_dims=2, momentum=0.1)
    batches = [torch.randn(10, 3) * (i + 1) + i for i in range(3)]
    recompute_bn_statistics(nn.Sequential(bn), batches)
    torch.testing.assert_close(bn.running_mean, torch.stack([X.mean(0) for X in batches]).mean(0))
    torch.testing.assert_close(bn.running_var, torch.stack([X.var(0) for X in batches]).mean(0))


def test_weights_momentum_and_modes_are_restored():
    net = _trained_net(scratch=True)
    net.eval()
    net[1].train()                                   # a mixed-mode net: each module keeps its own mode
    weights = copy.deepcopy(net.state_dict())
    recompute_bn_statistics(net, [torch.rand(20, 1, 28, 28)])
    assert [m.momentum for m in bn_layers(net)] == [0.1] * 4
    assert net[1].training and not net.training and not net[5].training
    for name, value in net.state_dict().items():
        if 'running' not in name and 'num_batches' not in name:
            torch.testing.assert_close(value, weights[name], rtol=0, atol=0)


def test_num_batches_stops_early():
    bn = nn.BatchNorm1d(2)
    batches = [torch.zeros(4, 2), torch.ones(4, 2) * 10]
    recompute_bn_statistics(nn.Sequential(bn), batches, num_batches=1)
    torch.testing.assert_close(bn.running_mean, torch.zeros(2))


@pytest.mark.parametrize("net,batches,match", [
    (nn.Sequential(nn.Linear(2, 2)), [torch.zeros(4, 2)], "no batch-norm layer"),
    (nn.Sequential(nn.BatchNorm1d(2)), [], "yielded nothing"),
])
def test_refuses_what_it_cannot_do(net, batches, match):
    with pytest.raises(ValueError, match=match):
        recompute_bn_statistics(net, batches)


def test_bad_num_batches_is_refused():
    with pytest.raises(ValueError, match="num_batches"):
        recompute_bn_statistics(nn.Sequential(nn.BatchNorm1d(2)), [torch.zeros(4, 2)], num_batches=0)
