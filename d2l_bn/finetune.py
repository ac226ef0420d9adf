"""Fine-tuning a pretrained network that contains batch norm: three ways to treat its BN layers.

(a) leave them alone: in training mode they normalise with each fine-tuning batch and update their running
    statistics towards the new data (noisy when the batches are small);
(b) freeze their statistics: keep them in eval mode while the rest trains (gamma and beta still learn). A
    training loop calls ``net.train()`` every epoch, which would switch them back on; `FrozenBNStatistics`
    re-applies eval after every ``train()``, the pattern of chapter 06's frozen sub-network;
(c) freeze them entirely: `convert_to_frozen_batchnorm` swaps each BatchNorm2d for torchvision's
    ``FrozenBatchNorm2d`` (what torchvision's detection models use), whose statistics *and* gamma, beta are
    buffers: nothing in it can change.

The fourth, (d) AdaBN (Li et al., "Revisiting Batch Normalization For Practical Domain Adaptation"), trains
nothing: it recomputes the statistics on the new domain's images, ``d2l_bn.precise_bn.recompute_bn_statistics``.
"""
from __future__ import annotations

from torch import nn

from d2l_bn.precise_bn import bn_layers


def freeze_bn_statistics(module: nn.Module) -> nn.Module:
    """Put every BN layer of `module` in eval mode: it keeps its statistics."""
    for m in bn_layers(module):
        m.eval()
    return module


class FrozenBNStatistics(nn.Module):
    """`net` whose ``train()`` leaves its BN layers in eval mode."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def train(self, mode: bool = True):
        super().train(mode)
        freeze_bn_statistics(self.net)
        return self

    def forward(self, X):
        return self.net(X)


def convert_to_frozen_batchnorm(net: nn.Module) -> nn.Module:
    """Replace every nn.BatchNorm2d in `net` (in place) by a torchvision FrozenBatchNorm2d with its values.

    Refuses a BN without running statistics (there is nothing to freeze). Returns `net`.
    """
    from torchvision.ops import FrozenBatchNorm2d   # here: `import d2l_bn` does not import torchvision
    for name, child in net.named_children():
        if isinstance(child, nn.BatchNorm2d):
            if child.running_mean is None:
                raise ValueError(f"BN layer {name!r} keeps no running statistics: nothing to freeze")
            frozen = FrozenBatchNorm2d(child.num_features, eps=child.eps).to(child.running_mean.device)
            frozen.running_mean.copy_(child.running_mean)
            frozen.running_var.copy_(child.running_var)
            if child.affine:
                frozen.weight.copy_(child.weight.detach())
                frozen.bias.copy_(child.bias.detach())
            setattr(net, name, frozen)
        else:
            convert_to_frozen_batchnorm(child)
    return net
