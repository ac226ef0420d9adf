"""Spec for d2l_bn.finetune: BN statistics frozen for good, and torchvision's FrozenBatchNorm2d swapped in."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torchvision.ops import FrozenBatchNorm2d

from d2l_bn.finetune import FrozenBNStatistics, convert_to_frozen_batchnorm, freeze_bn_statistics
from d2l_bn.resnet import resnet


def trained_resnet() -> nn.Module:
    net = resnet(2, seed=0)
    with torch.no_grad():
        net[1].weight.uniform_(0.5, 2)
        for _ in range(2):
            net(torch.rand(16, 1, 28, 28))
    return net


def test_frozen_statistics_survive_train_and_a_training_step():
    net = FrozenBNStatistics(trained_resnet())
    before = {k: v.clone() for k, v in net.state_dict().items() if "running" in k}
    net.train()                                   # what every training loop does first
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(not m.training for m in bns) and net.net[0].training
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    nn.functional.cross_entropy(net(torch.rand(8, 1, 28, 28)), torch.arange(8)).backward()
    optimizer.step()
    after = net.state_dict()
    assert all(torch.equal(after[k], v) for k, v in before.items())
    assert bns[0].weight.grad is not None          # gamma and beta still learn
    net.eval()
    assert not any(m.training for m in net.modules())


def test_freeze_bn_statistics_puts_only_the_bn_layers_in_eval():
    net = freeze_bn_statistics(trained_resnet().train())
    assert all(m.training != isinstance(m, nn.BatchNorm2d) for m in net.modules())


def test_frozen_batchnorm_computes_the_eval_mode_bn_and_has_nothing_to_train():
    net = trained_resnet().eval()
    X = torch.rand(8, 1, 28, 28)
    with torch.no_grad():
        expected = net(X)
    frozen = convert_to_frozen_batchnorm(net)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in frozen.modules())
    assert sum(isinstance(m, FrozenBatchNorm2d) for m in frozen.modules()) == 5      # stem + 2 per block
    frozen.train()                                 # train mode changes nothing in a frozen BN
    with torch.no_grad():
        torch.testing.assert_close(frozen(X), expected, rtol=1e-5, atol=1e-5)
    frozen_layers = [m for m in frozen.modules() if isinstance(m, FrozenBatchNorm2d)]
    assert all(not list(m.parameters()) for m in frozen_layers)       # gamma, beta and statistics: buffers


def test_a_bn_without_statistics_cannot_be_frozen():
    with pytest.raises(ValueError, match="no running statistics"):
        convert_to_frozen_batchnorm(nn.Sequential(nn.BatchNorm2d(3, track_running_stats=False)))
