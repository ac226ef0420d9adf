"""Argument checks of d2l_bn.layers' batch norm, kept out of the lesson code.

Each batch-norm function of `d2l_bn.layers` calls one of these first, so that a wrong argument fails at once
with a ValueError that names the argument and the fix, instead of a NaN output (eps=nan), a value silently
truncated (an integer buffer) or a traceback from deep inside PyTorch.
"""
from __future__ import annotations

import math
import numbers

import numpy as np
from torch import Tensor


def _describe(value: object) -> str:
    return f"{value!r} ({type(value).__name__})"


def _is_real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _is_bool(value: object) -> bool:
    return isinstance(value, (bool, np.bool_))


def _check_eps_and_momentum(eps: object, momentum: object) -> None:
    if not (_is_real(eps) and math.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be a finite number > 0 (it keeps the division by "
                         f"sqrt(var + eps) finite), got {_describe(eps)}; the usual value is 1e-5")
    if momentum is not None and not (_is_real(momentum) and 0.0 <= momentum <= 1.0):
        raise ValueError(f"momentum must be a number in [0, 1] (the weight of the new batch) or "
                         f"None (cumulative average), got {_describe(momentum)}; PyTorch's default is 0.1")


def _check_batch(X: object, name: str = "X") -> None:
    """X is a floating-point tensor of shape (N, C), (N, C, L) or (N, C, H, W)."""
    if not isinstance(X, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(X).__name__}; "
                         f"use torch.as_tensor({name}, dtype=torch.float32)")
    if X.dim() not in (2, 3, 4):
        raise ValueError(
            f"batch norm expects a 2-D (N, C), 3-D (N, C, L) or 4-D (N, C, H, W) {name}, "
            f"got shape {tuple(X.shape)}; reshape the input or use a different layer")
    if X.shape[1] == 0:
        raise ValueError(f"batch norm needs at least one channel (dim 1 of {name}), got shape "
                         f"{tuple(X.shape)}")
    if not X.dtype.is_floating_point:
        raise ValueError(f"batch norm needs floating point input (it divides by a standard "
                         f"deviation), got {name} of dtype {X.dtype}; convert with {name}.float()")


def _check_per_channel(name: str, value: object, num_channels: int, required: bool = False) -> None:
    """value is None (unless required) or a floating-point tensor of num_channels numbers."""
    if value is None and not required:
        return
    if not (isinstance(value, Tensor) and value.dtype.is_floating_point
            and value.numel() == num_channels):
        got = (f"a {value.dtype} tensor of shape {tuple(value.shape)}" if isinstance(value, Tensor)
               else _describe(value))
        raise ValueError(f"{name} must be {'' if required else 'None or '}a floating-point tensor "
                         f"with one value per channel ({num_channels} channels in dim 1 of the "
                         f"input), got {got}; shape it (C,) or (1, C, 1, 1)")


def _check_batch_norm_args(X: object, gamma: object, beta: object, moving_mean: object,
                           moving_var: object, eps: object, momentum: object, training: object,
                           num_batches_tracked: object) -> None:
    """Every argument of `batch_norm`, checked before any arithmetic."""
    _check_batch(X)
    num_channels = X.shape[1]
    for name, value in [("gamma", gamma), ("beta", beta), ("moving_mean", moving_mean),
                        ("moving_var", moving_var)]:
        _check_per_channel(name, value, num_channels)
    _check_eps_and_momentum(eps, momentum)
    if not _is_bool(training):
        raise ValueError(f"training must be True (batch statistics) or False (moving statistics), "
                         f"got {_describe(training)}")
    if not (isinstance(num_batches_tracked, Tensor)
            or (isinstance(num_batches_tracked, numbers.Integral) and not _is_bool(num_batches_tracked)
                and num_batches_tracked >= 1)):
        raise ValueError(f"num_batches_tracked must be the number of batches seen including this one "
                         f"(an int >= 1 or a tensor), got {_describe(num_batches_tracked)}")
    if not training and (moving_mean is None or moving_var is None):
        raise ValueError("eval-mode batch norm needs moving_mean and moving_var; "
                         "pass training=True to normalise with batch statistics")
    if training and X.numel() // num_channels < 2:
        raise ValueError(
            f"Expected more than 1 value per channel when training, got input shape "
            f"{tuple(X.shape)}: batch norm needs at least two values per channel; "
            f"use eval() or a larger batch (a last batch of one example: pass drop_last=True "
            f"to the data loader)")


def _check_batch_norm_backward_args(dY: object, X_hat: object, gamma: object, var: object,
                                    eps: object) -> None:
    """Every argument of `batch_norm_backward`, checked before any arithmetic."""
    _check_batch(X_hat, "X_hat")
    _check_batch(dY, "dY")
    if dY.shape != X_hat.shape:
        raise ValueError(f"dY must have the shape of the forward output X_hat {tuple(X_hat.shape)}, "
                         f"got {tuple(dY.shape)}; pass the gradient of the loss with respect to Y")
    _check_per_channel("gamma", gamma, X_hat.shape[1])
    _check_per_channel("var", var, X_hat.shape[1], required=True)
    _check_eps_and_momentum(eps, None)


def _check_batch_norm_layer_args(num_features: object, num_dims: object, eps: object,
                                 momentum: object, affine: object, track_running_stats: object) -> None:
    """Every argument of `BatchNorm(...)`, checked before any buffer is made."""
    if not (isinstance(num_features, numbers.Integral) and not _is_bool(num_features)
            and num_features >= 1):
        raise ValueError(f"num_features must be the channel count, an int >= 1, got "
                         f"{_describe(num_features)}; pass the previous layer's output size "
                         f"(out_channels of a Conv2d, out_features of a Linear)")
    if not isinstance(num_dims, numbers.Integral) or _is_bool(num_dims) or num_dims not in (2, 3, 4):
        raise ValueError(f"num_dims must be 2 (N, C), 3 (N, C, L) or 4 (N, C, H, W), "
                         f"got {_describe(num_dims)}: use 2 after nn.Linear, 4 after nn.Conv2d")
    _check_eps_and_momentum(eps, momentum)
    for name, value in [("affine", affine), ("track_running_stats", track_running_stats)]:
        if not _is_bool(value):
            raise ValueError(f"{name} must be True or False, got {_describe(value)}")


def _check_layer_input(X: object, num_features: int, num_dims: int) -> None:
    """X fits a BatchNorm(num_features, num_dims): a tensor of that rank and channel count."""
    if isinstance(X, Tensor) and X.dim() != num_dims:
        fix = (f"build the layer with num_dims={X.dim()} or reshape" if X.dim() in (2, 3, 4)
               else "reshape it to (N, C), (N, C, L) or (N, C, H, W)")
        raise ValueError(f"BatchNorm(num_dims={num_dims}) expects a {num_dims}-D input, got "
                         f"shape {tuple(X.shape)}; {fix}")
    if isinstance(X, Tensor) and X.shape[1] != num_features:
        raise ValueError(
            f"BatchNorm({num_features}) expects {num_features} channels in dim 1, "
            f"got shape {tuple(X.shape)}; set num_features to the previous layer's output size")
    _check_batch(X)
