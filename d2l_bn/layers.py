"""Batch normalization and dropout from scratch, held to PyTorch's semantics.

The functions here are the lesson: `batch_norm` spells out the forward pass step by
step, `batch_norm_backward` derives its gradient by hand, and `BatchNorm` wraps them
in a module whose state_dict is interchangeable with `nn.BatchNorm2d`. Tests compare
every number against `nn.BatchNorm1d/2d`.

Where we deliberately differ from d2l's `BatchNorm` (d2l-en v1.0, ch. 8.5):

* momentum is the weight of the NEW batch, as in PyTorch and in d2l-en v1.0's PyTorch
  code (d2l-zh, and d2l-en before v1.0, pass 0.9 as the weight of the old value: the
  same average); unlike d2l, `None` means a cumulative average;
* the running variance is the unbiased batch variance (n/(n-1)), while the
  normalisation itself uses the biased one -- exactly what PyTorch stores;
* the mode comes from `train()`/`eval()`, not from `torch.is_grad_enabled()`: d2l
  treats "no grad" as "inference", so a forward under `torch.no_grad()` in training
  mode silently uses the running statistics. PyTorch (and we) still use the batch
  statistics there and still update the running averages.
"""
from __future__ import annotations

import numbers
from typing import Optional, Union

import torch
from torch import Tensor, nn

# Argument checks are not the lesson: each function below calls one of them first.
from d2l_bn._layer_checks import (_check_batch, _check_batch_norm_args,
                                  _check_batch_norm_backward_args, _check_batch_norm_layer_args,
                                  _check_layer_input)

Momentum = Optional[float]


def _channel_shape(X: Tensor) -> tuple[int, ...]:
    """Shape that broadcasts a per-channel vector over X: (1, C), (1, C, 1) or (1, C, 1, 1)."""
    return (1, X.shape[1]) + (1,) * (X.dim() - 2)


def _reduce_dims(X: Tensor) -> tuple[int, ...]:
    """Axes averaged over: the batch, plus every spatial axis (a channel shares one mean)."""
    return (0,) + tuple(range(2, X.dim()))


def _at_least_float32(X: Tensor) -> Tensor:
    """X in float32 if its dtype has fewer bits (float16, bfloat16), else X unchanged.

    float16's largest value is 65504, so deviations of a few hundred from the mean
    already square to inf, and bfloat16 keeps only about 3 significant digits. Like
    PyTorch's own BN, we compute in float32 and hand back the input's dtype.
    """
    return X.float() if torch.finfo(X.dtype).bits < 32 else X


def batch_mean_and_var(X: Tensor) -> tuple[Tensor, Tensor]:
    """Per-channel mean and BIASED variance of a batch, each of shape (C,).

    Biased (divide by n) because that is what normalises the batch: it makes the
    normalised values have variance exactly 1 (up to eps). Half-precision input
    gives float32 statistics (see `_at_least_float32`).
    """
    _check_batch(X)
    X = _at_least_float32(X)
    dims = _reduce_dims(X)
    mean = X.mean(dim=dims)
    var = ((X - mean.reshape(_channel_shape(X))) ** 2).mean(dim=dims)
    return mean, var


def batch_norm(X: Tensor, gamma: Optional[Tensor], beta: Optional[Tensor],
               moving_mean: Optional[Tensor], moving_var: Optional[Tensor],
               eps: float, momentum: Momentum, training: bool,
               num_batches_tracked: Union[int, Tensor] = 1,
               ) -> tuple[Tensor, Optional[Tensor], Optional[Tensor]]:
    """Batch-normalise X; return (Y, new_moving_mean, new_moving_var).

    X is (N, C), (N, C, L) or (N, C, H, W); gamma, beta and the moving statistics
    hold one number per channel, shaped (C,) or d2l's broadcastable (1, C, 1, 1).
    gamma/beta None mean 1/0 (no affine step); moving_* None mean "not tracked"
    (then None is returned for them). `num_batches_tracked` counts batches INCLUDING
    this one and is used only when momentum is None (cumulative average).
    The moving statistics are returned as new tensors of their own dtype; the caller
    stores them. Y has X's dtype; half-precision X is normalised in float32.
    """
    _check_batch_norm_args(X, gamma, beta, moving_mean, moving_var, eps, momentum, training,
                           num_batches_tracked)
    shape = _channel_shape(X)
    # float16 squares overflow: compute in float32, return Y in the input's dtype.
    in_dtype, X = X.dtype, _at_least_float32(X)

    if not training:
        # Inference: normalise with the statistics gathered during training, so one
        # example's output no longer depends on the rest of its batch.
        X_hat = (X - moving_mean.reshape(shape)) / torch.sqrt(moving_var.reshape(shape) + eps)
    else:
        # Each channel is normalised with statistics over n values; n >= 2 (checked
        # above): with n == 1 the variance is 0, every output would be beta, and the
        # unbiased estimate n/(n-1) below would divide by zero.
        n = X.numel() // X.shape[1]
        # step 1: per-channel batch statistics (biased variance: divide by n).
        dims = _reduce_dims(X)
        mean = X.mean(dim=dims)
        X_centered = X - mean.reshape(shape)        # computed once, used twice
        var = (X_centered ** 2).mean(dim=dims)
        # step 2: normalise to mean 0, variance 1 per channel; eps guards var == 0.
        X_hat = X_centered / torch.sqrt(var.reshape(shape) + eps)
        if moving_mean is not None and moving_var is not None:
            # step 3: update the running averages. They are bookkeeping, not part of
            # the model's function, so autograd must not track them (no_grad), else
            # every step's graph would stay alive through the buffers.
            with torch.no_grad():
                factor = 1.0 / num_batches_tracked if momentum is None else momentum
                unbiased_var = var * (n / (n - 1))
                new_mean = (1.0 - factor) * moving_mean + factor * mean.reshape(moving_mean.shape)
                new_var = (1.0 - factor) * moving_var + factor * unbiased_var.reshape(moving_var.shape)
                moving_mean, moving_var = new_mean.to(moving_mean.dtype), new_var.to(moving_var.dtype)
    # step 4: scale and shift, so the layer can undo the normalisation if that helps.
    Y = X_hat if gamma is None else gamma.reshape(shape) * X_hat
    Y = Y if beta is None else Y + beta.reshape(shape)
    return Y.to(in_dtype), moving_mean, moving_var


def batch_norm_backward(dY: Tensor, X_hat: Tensor, gamma: Optional[Tensor], var: Tensor,
                        eps: float) -> tuple[Tensor, Tensor, Tensor]:
    """Hand-derived gradients (dX, dgamma, dbeta) of training-mode batch norm.

    X_hat is the normalised input and var the BIASED batch variance (C,) of the
    forward pass. Derivation, per channel, with n values, sigma = sqrt(var + eps):
      Y = gamma * X_hat + beta              => dbeta = sum(dY),  dgamma = sum(dY * X_hat)
      dX_hat = dY * gamma
      X_hat = (X - mu) / sigma, and mu, var depend on every X_i, so three paths lead
      from X_i to the loss: directly, through mu, and through var:
        dvar = sum(dX_hat * (X - mu)) * -1/2 * sigma^-3
        dmu  = -sum(dX_hat) / sigma          (the var path's term is sum(X - mu) = 0)
        dX   = dX_hat / sigma + dvar * 2 (X - mu) / n + dmu / n
      substituting X - mu = X_hat * sigma collapses this to
        dX = (dX_hat - mean(dX_hat) - X_hat * mean(dX_hat * X_hat)) / sigma.
    The gradient is centred and orthogonal to X_hat: BN's output ignores shifts and
    scalings of its input, so the gradient has no component along those directions.
    As in the forward pass, half-precision inputs are reduced in float32: dX comes
    back in dY's dtype, dgamma and dbeta in float32 (their sums overflow float16).
    """
    _check_batch_norm_backward_args(dY, X_hat, gamma, var, eps)
    in_dtype, dY, X_hat = dY.dtype, _at_least_float32(dY), _at_least_float32(X_hat)
    shape, dims = _channel_shape(X_hat), _reduce_dims(X_hat)
    dbeta = dY.sum(dim=dims)
    dgamma = (dY * X_hat).sum(dim=dims)
    dX_hat = dY if gamma is None else dY * gamma.reshape(shape)
    sigma = torch.sqrt(var.reshape(shape) + eps)
    dX = (dX_hat - dX_hat.mean(dim=dims, keepdim=True)
          - X_hat * (dX_hat * X_hat).mean(dim=dims, keepdim=True)) / sigma
    return dX.to(in_dtype), dgamma, dbeta


class BatchNorm(nn.Module):
    """Batch normalization layer, a drop-in for nn.BatchNorm1d/2d built on `batch_norm`.

    num_dims fixes the input layout: 2 -> (N, C) after a linear layer, 3 -> (N, C, L),
    4 -> (N, C, H, W) after a convolution. Parameters are called `weight` (gamma) and
    `bias` (beta) so state_dicts load both ways with nn.BatchNorm2d; `gamma`/`beta`
    are read-only aliases in the book's notation (None when affine=False, which
    means gamma = 1, beta = 0). track_running_stats=False keeps no buffers and uses
    batch statistics in eval mode too, as PyTorch does.
    """

    def __init__(self, num_features: int, num_dims: int, eps: float = 1e-5,
                 momentum: Momentum = 0.1, affine: bool = True,
                 track_running_stats: bool = True) -> None:
        super().__init__()
        _check_batch_norm_layer_args(num_features, num_dims, eps, momentum, affine,
                                     track_running_stats)
        self.num_features, self.num_dims = num_features, num_dims
        self.eps, self.momentum = eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = nn.Parameter(torch.ones(num_features))
            self.bias = nn.Parameter(torch.zeros(num_features))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            # Start at the statistics of an already-normalised input: mean 0, var 1.
            self.register_buffer("running_mean", torch.zeros(num_features))
            self.register_buffer("running_var", torch.ones(num_features))
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    @property
    def gamma(self) -> Optional[Tensor]:
        """The scale gamma (the parameter `weight`); None when affine=False."""
        return self.weight

    @property
    def beta(self) -> Optional[Tensor]:
        """The shift beta (the parameter `bias`); None when affine=False."""
        return self.bias

    def reset_running_stats(self) -> None:
        """Forget what the running averages have seen (mean 0, var 1, count 0)."""
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1.0)
            self.num_batches_tracked.zero_()

    def forward(self, X: Tensor) -> Tensor:
        _check_layer_input(X, self.num_features, self.num_dims)
        update_stats = self.training and self.track_running_stats
        # Batch statistics in training, and in eval when there is nothing tracked.
        use_batch_stats = self.training or not self.track_running_stats
        Y, new_mean, new_var = batch_norm(
            X, self.weight, self.bias, self.running_mean, self.running_var, self.eps,
            self.momentum, training=use_batch_stats,
            # the count includes this batch; a 0-dim tensor, not an int, so there is
            # no host sync when the buffers live on a GPU
            num_batches_tracked=self.num_batches_tracked + 1 if update_stats else 1)
        if update_stats:
            # Only after batch_norm succeeded, so a rejected batch leaves no trace.
            # In place, so the buffers keep their identity, device and dtype.
            self.num_batches_tracked.add_(1)
            self.running_mean.copy_(new_mean)
            self.running_var.copy_(new_var)
        return Y

    def extra_repr(self) -> str:
        return (f"{self.num_features}, num_dims={self.num_dims}, eps={self.eps}, "
                f"momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


def _check_dropout_probability(p: object, name: str) -> None:
    """Refuse anything but a probability in [0, 1] (a real number; not a bool, not NaN), naming the fix."""
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1] (the chance that a unit is zeroed), "
                         f"got {p!r}; e.g. {name}=0.5")


def dropout_layer(X: Tensor, dropout: float) -> Tensor:
    """Inverted dropout: zero each element with probability `dropout`, scale survivors.

    Every element gets its own coin flip, so every example of a batch gets its own
    mask. Dividing the survivors by (1 - dropout) keeps every element's expectation
    equal to its input, so nothing needs rescaling at test time (d2l's formulation).
    """
    _check_dropout_probability(dropout, "dropout")
    if dropout == 1.0:
        return torch.zeros_like(X)   # everything dropped; avoids dividing by zero
    if dropout == 0.0:
        return X
    mask = (torch.rand(X.shape, device=X.device) > dropout).to(X.dtype)
    return mask * X / (1.0 - dropout)


class Dropout(nn.Module):
    """Module form of `dropout_layer`: drops only in training mode, identity in eval()."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        _check_dropout_probability(p, "p")
        self.p = p

    def forward(self, X: Tensor) -> Tensor:
        return dropout_layer(X, self.p) if self.training else X

    def extra_repr(self) -> str:
        return f"p={self.p}"
