"""d2l's `Residual` block with batch norm, its variants for chapter 08's experiments, and small ResNets.

`Residual(num_channels, use_1x1conv=False, strides=1)` is d2l-en v1.0's block (§8.6, "Residual Networks"):
lazy layers that learn their input channels on the first call, conv-BN-ReLU, conv-BN, the skip added, a ReLU.
The keyword-only switches below change one thing each, so that an experiment compares like with like:

* ``batch_norm=False``: no BN layers. (With BN the two convolutions have no bias: BN's beta replaces it. d2l's
  keep one, which BN subtracts again with the mean, so the two blocks compute the same functions.)
* ``skip=False``: the same two convolutions without the shortcut (a "plain" network of the same depth);
* ``order``: where BN and the ReLU sit. ``"post"`` is d2l's and the original ResNet's (He et al., 2016a);
  ``"relu_bn"`` puts each BN after its ReLU (conv-ReLU-BN twice, then the sum, no ReLU after it);
  ``"preact"`` is the pre-activation order of He et al. (2016b, "Identity Mappings in Deep Residual Networks"):
  BN-ReLU-conv twice, then the sum, nothing after it, so the shortcut is a pure identity from block to block.

`resnet(...)` stacks such blocks behind a small stem for 28x28 Fashion-MNIST images; `zero_init_residual`
sets the last BN's gamma of every residual branch to 0 (Goyal et al., 2017), so that each block starts as the
identity. `deep_mlp(...)` builds the deep MLPs of chapter 08's diagnostics and depth explorer from `MLPBlock`s
(Linear, [BN], activation, optionally with a skip).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from d2l_bn.models import init_he

ORDERS = ("post", "relu_bn", "preact")


class Residual(nn.Module):
    """The Residual block of ResNet models (d2l), with this chapter's switches (keyword-only, see module doc)."""

    def __init__(self, num_channels, use_1x1conv=False, strides=1, *, batch_norm=True, skip=True,
                 order="post"):
        super().__init__()
        if order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
        if order != "post" and not batch_norm:
            raise ValueError(f"order={order!r} places BN layers; without BN use order='post'")
        self.order, self.skip = order, skip
        self.conv1 = nn.LazyConv2d(num_channels, kernel_size=3, padding=1, stride=strides, bias=not batch_norm)
        self.conv2 = nn.LazyConv2d(num_channels, kernel_size=3, padding=1, bias=not batch_norm)
        self.conv3 = nn.LazyConv2d(num_channels, kernel_size=1, stride=strides) if use_1x1conv else None
        self.bn1 = nn.LazyBatchNorm2d() if batch_norm else nn.Identity()
        self.bn2 = nn.LazyBatchNorm2d() if batch_norm else nn.Identity()

    def branch(self, X):
        """The residual branch F(X): the two convolutions with their BN layers and ReLUs."""
        if self.order == "post":
            return self.bn2(self.conv2(F.relu(self.bn1(self.conv1(X)))))
        if self.order == "relu_bn":
            return self.bn2(F.relu(self.conv2(self.bn1(F.relu(self.conv1(X))))))
        return self.conv2(F.relu(self.bn2(self.conv1(F.relu(self.bn1(X))))))   # preact

    def forward(self, X):
        Y = self.branch(X)
        if self.skip:
            Y = Y + (self.conv3(X) if self.conv3 is not None else X)
        return F.relu(Y) if self.order == "post" else Y


def resnet(num_blocks: int, num_channels: int = 8, *, batch_norm: bool = True, skip: bool = True,
           order: str = "post", stem_pool: int = 4, num_classes: int = 10, seed: int | None = 0) -> nn.Sequential:
    """A small ResNet for (B, 1, 28, 28) images: stem, `num_blocks` Residual blocks, global pooling, linear.

    Stem: conv 3x3 (1 -> num_channels), [BN], ReLU, max-pool `stem_pool` (4: 28 -> 7 pixels, small enough
    for a CPU to train 100 layers in seconds). Every block keeps `num_channels` channels and the pixels, so
    its shortcut is the identity. Depth in weight layers:
    2 * num_blocks + 2. With the pre-activation order the last block's output gets a final BN and ReLU (as
    in He et al., 2016b). Weights: He (Kaiming) normal init for every conv and linear layer (the ReLU's init),
    drawn from `seed` (None: from torch's global generator); the lazy layers are materialised here by one
    forward pass in eval mode, which leaves the BN statistics untouched.
    """
    if isinstance(num_blocks, bool) or not isinstance(num_blocks, int) or num_blocks < 0:
        raise ValueError(f"num_blocks must be a whole number >= 0, got {num_blocks!r}")
    if seed is not None:
        torch.manual_seed(seed)
    stem = [nn.Conv2d(1, num_channels, kernel_size=3, padding=1, bias=not batch_norm)]
    stem += [nn.BatchNorm2d(num_channels)] if batch_norm else []
    stem += [nn.ReLU(), nn.MaxPool2d(stem_pool)]
    blocks = [Residual(num_channels, batch_norm=batch_norm, skip=skip, order=order) for _ in range(num_blocks)]
    tail = [nn.BatchNorm2d(num_channels), nn.ReLU()] if order == "preact" else []
    net = nn.Sequential(*stem, *blocks, *tail, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(num_channels, num_classes))
    net.eval()
    with torch.no_grad():
        net(torch.zeros(2, 1, 28, 28))     # lazy layers learn their input channels
    net.train()
    net.apply(init_he)
    return net


def residual_blocks(net: nn.Module) -> list[Residual]:
    """Every `Residual` block in `net`, in order."""
    return [m for m in net.modules() if isinstance(m, Residual)]


@torch.no_grad()
def zero_init_residual(net: nn.Module) -> nn.Module:
    """Set gamma of the last BN in every residual branch to 0 (Goyal et al., 2017): each block starts as F(X) = 0.

    A post-activation block then outputs ReLU(X) = X for the non-negative X the previous ReLU gave it: the
    identity. Refused for blocks whose branch does not end in a BN (the pre-activation order ends in a conv),
    or that have no BN or no skip (there is no identity to fall back on). Returns `net`, changed in place.
    """
    blocks = residual_blocks(net)
    if not blocks:
        raise ValueError("the network has no Residual block: nothing to zero-initialise")
    for block in blocks:
        if block.order == "preact" or isinstance(block.bn2, nn.Identity) or not block.skip:
            raise ValueError(f"zero_init_residual needs blocks whose branch ends in a BN layer and that have a "
                             f"skip; got order={block.order!r}, skip={block.skip}, BN={block.bn2}")
        if isinstance(block.bn2.weight, nn.parameter.UninitializedParameter):
            raise ValueError("the block's layers are still lazy: run one batch through the network first "
                             "(resnet(...) does this for you)")
        block.bn2.weight.zero_()
    return net


ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}


class MLPBlock(nn.Module):
    """Linear -> [BN] -> activation, with an optional skip: x + block(x). The deep MLPs' building block."""

    def __init__(self, num_inputs: int, width: int, *, batch_norm: bool, skip: bool, activation: str):
        super().__init__()
        if skip and num_inputs != width:
            raise ValueError(f"a skip needs as many inputs as outputs, got {num_inputs} -> {width}")
        self.linear = nn.Linear(num_inputs, width, bias=not batch_norm)   # BN's beta replaces the bias
        self.bn = nn.BatchNorm1d(width) if batch_norm else nn.Identity()
        self.act = ACTIVATIONS[activation]()
        self.skip = skip

    def forward(self, X):
        Y = self.act(self.bn(self.linear(X)))
        return X + Y if self.skip else Y


def deep_mlp(depth: int, width: int = 64, *, batch_norm: bool = False, skip: bool = False,
             activation: str = "relu", gain: float | None = None, num_inputs: int = 784, num_outputs: int = 10,
             seed: int | None = 0) -> nn.Sequential:
    """`depth` hidden MLPBlocks (the first from the flattened input, without skip), then a linear output layer.

    Weights: N(0, gain^2 / fan_in), biases 0. gain=None takes the activation's own (torch's calculate_gain:
    sqrt(2) for ReLU, 5/3 for tanh), which keeps the scale of the activations through depth without BN;
    PyTorch's default init of nn.Linear corresponds to gain 1/sqrt(3) = 0.58. Drawn from `seed` (None: from
    torch's global generator).
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise ValueError(f"depth must be a whole number >= 1, got {depth!r}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    if seed is not None:
        torch.manual_seed(seed)
    gain = nn.init.calculate_gain(activation) if gain is None else gain
    blocks = [MLPBlock(num_inputs if k == 0 else width, width, batch_norm=batch_norm, skip=skip and k > 0,
                       activation=activation) for k in range(depth)]
    net = nn.Sequential(nn.Flatten(), *blocks, nn.Linear(width, num_outputs))
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Linear):
                m.weight.normal_(0.0, gain / m.in_features ** 0.5)
                if m.bias is not None:
                    m.bias.zero_()
    return net
