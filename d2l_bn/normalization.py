"""One function, five normalizations (chapter 07), and the small networks the course builds with them.

Batch norm, layer norm, instance norm, group norm and RMS norm all compute
``(x - mean) / sqrt(var + eps)`` (RMS norm: ``x / sqrt(mean(x^2) + eps)``, no mean subtracted), then an affine
map; they differ only in WHICH values share one mean and variance. :func:`normalize` takes those axes as an
argument, and :func:`five_normalizations` is the whole family as five calls of it on an (N, C, H, W) tensor.

The builders (:func:`norm_layer`, :func:`mlp`, :func:`small_cnn`) put PyTorch's layers into networks: the
experiments use PyTorch's layers, which chapter 07 checks against :func:`normalize`. "ln" on images is
``nn.GroupNorm(1, C)``: LayerNorm over (C, H, W) with one gamma and beta per channel instead of per value,
which is how Wu & He (2018) compare them.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import Tensor, nn

__all__ = ["FAMILY", "KINDS", "differences_from_pytorch", "five_normalizations", "mlp", "norm_layer", "normalize",
           "pytorch_equivalent", "small_cnn", "with_affine"]

KINDS = ("bn", "gn", "ln", None)   # batch norm, group norm, layer norm, none
FAMILY = ("BatchNorm", "LayerNorm", "InstanceNorm", "GroupNorm", "RMSNorm")


def normalize(X: Tensor, dims: Sequence[int], eps: float = 1e-5,
              subtract_mean: bool = True) -> Tensor:
    """X standardised over the axes `dims`: one mean and one (biased)
    variance per slice along the other axes. With subtract_mean=False, X
    is divided by its root mean square instead (RMSNorm)."""
    if subtract_mean:
        X = X - X.mean(dim=dims, keepdim=True)
    return X / torch.sqrt(X.square().mean(dim=dims, keepdim=True) + eps)


def five_normalizations(X: Tensor, groups: int,
                        eps: float = 1e-5) -> dict[str, Tensor]:
    """Each member's normalised X (before gamma, beta); X is (N, C, H, W)."""
    N, C, H, W = X.shape
    return {
        "BatchNorm": normalize(X, (0, 2, 3), eps),      # per channel
        "LayerNorm": normalize(X, (1, 2, 3), eps),      # per example
        "InstanceNorm": normalize(X, (2, 3), eps),      # per example, channel
        "GroupNorm": normalize(X.reshape(N, groups, -1), (2,),
                               eps).reshape(N, C, H, W),  # per example, group
        "RMSNorm": normalize(X, (1, 2, 3), eps, subtract_mean=False),
    }


def pytorch_equivalent(name: str, shape: Sequence[int], groups: int, eps: float = 1e-5,
                       affine: bool = True) -> nn.Module:
    """PyTorch's layer for the member `name` of FAMILY, for inputs of `shape` (N, C, H, W).

    LayerNorm's and RMSNorm's gamma (and LayerNorm's beta) hold one value per (c, h, w), the others' one per
    channel. (nn.RMSNorm needs PyTorch 2.4 or later.)
    """
    _, c, h, w = shape
    make = {"BatchNorm": lambda: nn.BatchNorm2d(c, eps=eps, affine=affine),
            "LayerNorm": lambda: nn.LayerNorm((c, h, w), eps=eps, elementwise_affine=affine),
            "InstanceNorm": lambda: nn.InstanceNorm2d(c, eps=eps, affine=affine),
            "GroupNorm": lambda: nn.GroupNorm(groups, c, eps=eps, affine=affine),
            "RMSNorm": lambda: nn.RMSNorm((c, h, w), eps=eps, elementwise_affine=affine)}
    if name not in make:
        raise ValueError(f"unknown normalization {name!r}; choose one of {FAMILY}")
    return make[name]()


def with_affine(layer: nn.Module, X_hat: Tensor) -> Tensor:
    """gamma * X_hat + beta with `layer`'s parameters, as `layer` applies them (X_hat itself without)."""
    gamma, beta = getattr(layer, "weight", None), getattr(layer, "bias", None)
    per_value = isinstance(layer, nn.LayerNorm) or type(layer).__name__ == "RMSNorm"
    if gamma is not None:
        X_hat = X_hat * (gamma if per_value else gamma.view(1, -1, 1, 1))
    if beta is not None:                       # RMSNorm has no beta
        X_hat = X_hat + (beta if per_value else beta.view(1, -1, 1, 1))
    return X_hat


def differences_from_pytorch(name: str, X: Tensor, upstream: Tensor, groups: int, affine: bool,
                             eps: float = 1e-5) -> dict[str, float]:
    """Largest |ours - PyTorch's| of the output Y and of the gradients of L = sum(Y * upstream) w.r.t. X and
    each parameter, for family member `name` (its parameters set to random values, not 1 and 0)."""
    layer = pytorch_equivalent(name, X.shape, groups, eps, affine)
    with torch.no_grad():
        for p in layer.parameters():
            p.uniform_(-2.0, 2.0)
    outputs, grads = [], []
    for compute in (layer, lambda X_: with_affine(layer, five_normalizations(X_, groups, eps)[name])):
        X_ = X.detach().clone().requires_grad_()
        layer.zero_grad()
        Y = compute(X_)
        (Y * upstream).sum().backward()
        outputs.append(Y.detach())
        grads.append({"dX": X_.grad, **{f"d{n}": p.grad.clone() for n, p in layer.named_parameters()}})
    gaps = {"Y": (outputs[0] - outputs[1]).abs().max().item()}
    return gaps | {key: (grads[0][key] - grads[1][key]).abs().max().item() for key in grads[0]}


def norm_layer(kind: Optional[str], num_channels: int, *, images: bool = False, groups: int = 8) -> nn.Module:
    """PyTorch's layer for `kind` in KINDS, for features (N, C) or, with images=True, feature maps (N, C, H, W)."""
    if kind is None:
        return nn.Identity()
    if kind == "bn":
        return nn.BatchNorm2d(num_channels) if images else nn.BatchNorm1d(num_channels)
    if kind == "gn":
        if num_channels % groups:
            raise ValueError(f"GroupNorm needs a number of channels divisible by groups, got {num_channels} "
                             f"channels and {groups} groups; choose groups among the divisors of {num_channels}")
        return nn.GroupNorm(groups, num_channels)
    if kind == "ln":
        return nn.GroupNorm(1, num_channels) if images else nn.LayerNorm(num_channels)
    raise ValueError(f"unknown normalisation {kind!r}; choose one of {KINDS}")


def mlp(norm: Optional[str] = None, hidden: Sequence[int] = (128, 64), init_scale: float = 1.0, seed: int = 0,
        device: Optional[torch.device | str] = None) -> nn.Sequential:
    """Linear -> [norm] -> ReLU per hidden layer, then Linear to 10 logits, for flattened 28x28 images.

    norm in KINDS ('gn': 8 groups); the weights of every Linear are multiplied by init_scale (chapter 06
    trains with poor initialisations); seeded, so the same arguments give the same network.
    """
    torch.manual_seed(seed)
    layers, num_inputs = [], 784
    for h in hidden:
        layers += [nn.Linear(num_inputs, h), norm_layer(norm, h), nn.ReLU()]
        num_inputs = h
    net = nn.Sequential(*[layer for layer in layers if not isinstance(layer, nn.Identity)],
                        nn.Linear(num_inputs, 10))
    with torch.no_grad():
        for layer in net:
            if isinstance(layer, nn.Linear):
                layer.weight.mul_(init_scale)
    return net if device is None else net.to(device)


def small_cnn(norm: Optional[str] = None, seed: int = 0, channels: tuple[int, int] = (8, 16), hidden: int = 64,
              groups: int = 4) -> nn.Sequential:
    """A small conv net for 28x28 images, a normalisation after each of its three hidden layers.

    conv 5x5 stride 2 (-> 14x14) -> norm -> ReLU -> conv 3x3 stride 2 (-> 7x7) -> norm -> ReLU -> Linear to
    `hidden` -> norm -> ReLU -> Linear to 10. Strides instead of pooling keep it cheap on a CPU. The last norm
    sees one value per example and feature: there BN's statistics come from the batch size alone.
    """
    torch.manual_seed(seed)
    c1, c2 = channels
    layers = [nn.Conv2d(1, c1, 5, stride=2, padding=2), norm_layer(norm, c1, images=True, groups=groups),
              nn.ReLU(), nn.Conv2d(c1, c2, 3, stride=2, padding=1), norm_layer(norm, c2, images=True, groups=groups),
              nn.ReLU(), nn.Flatten(), nn.Linear(c2 * 7 * 7, hidden), norm_layer(norm, hidden, groups=groups),
              nn.ReLU(), nn.Linear(hidden, 10)]
    return nn.Sequential(*[layer for layer in layers if not isinstance(layer, nn.Identity)])
