"""Batch normalization and dropout from scratch, held to PyTorch's semantics.

The functions here are the lesson: `batch_norm` spells out the forward pass step by
step, `batch_norm_backward` derives its gradient by hand, and `BatchNorm` wraps them
in a module whose state_dict is interchangeable with `nn.BatchNorm2d`. Tests compare
every number against `nn.BatchNorm1d/2d`.

Where we deliberately differ from d2l's `BatchNorm` (ch. 8.5):

* momentum is the weight of the NEW batch, as in PyTorch (d2l's 0.9 is the weight of
  the old value; PyTorch's default 0.1 means the same thing), and `None` means a
  cumulative average;
* the running variance is the unbiased batch variance (n/(n-1)), while the
  normalisation itself uses the biased one -- exactly what PyTorch stores;
* the mode comes from `train()`/`eval()`, not from `torch.is_grad_enabled()`: d2l
  treats "no grad" as "inference", so a forward under `torch.no_grad()` in training
  mode silently uses the running statistics. PyTorch (and we) still use the batch
  statistics there and still update the running averages.
"""
from __future__ import annotations

from typing import Optional, Union

import torch
from torch import Tensor, nn

Momentum = Optional[float]


def _channel_shape(X: Tensor) -> tuple[int, ...]:
    """Shape that broadcasts a per-channel vector over X: (1, C), (1, C, 1) or (1, C, 1, 1)."""
    return (1, X.shape[1]) + (1,) * (X.dim() - 2)


def _reduce_dims(X: Tensor) -> tuple[int, ...]:
    """Axes averaged over: the batch, plus every spatial axis (a channel shares one mean)."""
    return (0,) + tuple(range(2, X.dim()))


def _check_ndim(X: Tensor) -> None:
    if X.dim() not in (2, 3, 4):
        raise ValueError(
            f"batch norm expects a 2-D (N, C), 3-D (N, C, L) or 4-D (N, C, H, W) input, "
            f"got shape {tuple(X.shape)}; reshape the input or use a different layer")


def batch_mean_and_var(X: Tensor) -> tuple[Tensor, Tensor]:
    """Per-channel mean and BIASED variance of a batch, each of shape (C,).

    Biased (divide by n) because that is what normalises the batch: it makes the
    normalised values have variance exactly 1 (up to eps).
    """
    _check_ndim(X)
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
    The moving statistics are returned as new tensors; the caller stores them.
    """
    _check_ndim(X)
    if eps <= 0:
        raise ValueError(f"eps must be > 0 (it keeps the division finite), got {eps}")
    if momentum is not None and not 0.0 <= momentum <= 1.0:
        raise ValueError(f"momentum must be in [0, 1] or None (cumulative average), got {momentum}")
    shape = _channel_shape(X)

    if not training:
        # Inference: normalise with the statistics gathered during training, so one
        # example's output no longer depends on the rest of its batch.
        if moving_mean is None or moving_var is None:
            raise ValueError("eval-mode batch norm needs moving_mean and moving_var; "
                             "pass training=True to normalise with batch statistics")
        X_hat = (X - moving_mean.reshape(shape)) / torch.sqrt(moving_var.reshape(shape) + eps)
    else:
        # Each channel is normalised with statistics over n values. With n == 1 the
        # variance is 0 and every output is beta: training signal is lost, and the
        # unbiased estimate n/(n-1) below would divide by zero.
        n = X.numel() // X.shape[1]
        if n < 2:
            raise ValueError(
                f"Expected more than 1 value per channel when training, got input shape "
                f"{tuple(X.shape)}: batch norm needs at least two values per channel; "
                f"use eval() or a larger batch")
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
                moving_mean = (1.0 - factor) * moving_mean + factor * mean.reshape(moving_mean.shape)
                moving_var = (1.0 - factor) * moving_var + factor * unbiased_var.reshape(moving_var.shape)
    # step 4: scale and shift, so the layer can undo the normalisation if that helps.
    Y = X_hat if gamma is None else gamma.reshape(shape) * X_hat
    Y = Y if beta is None else Y + beta.reshape(shape)
    return Y, moving_mean, moving_var


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
    """
    _check_ndim(X_hat)
    shape, dims = _channel_shape(X_hat), _reduce_dims(X_hat)
    dbeta = dY.sum(dim=dims)
    dgamma = (dY * X_hat).sum(dim=dims)
    dX_hat = dY if gamma is None else dY * gamma.reshape(shape)
    sigma = torch.sqrt(var.reshape(shape) + eps)
    dX = (dX_hat - dX_hat.mean(dim=dims, keepdim=True)
          - X_hat * (dX_hat * X_hat).mean(dim=dims, keepdim=True)) / sigma
    return dX, dgamma, dbeta


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
        if num_dims not in (2, 3, 4):
            raise ValueError(f"num_dims must be 2 (N, C), 3 (N, C, L) or 4 (N, C, H, W), "
                             f"got {num_dims}: use 2 after nn.Linear, 4 after nn.Conv2d")
        if num_features < 1:
            raise ValueError(f"num_features must be the channel count (>= 1), got {num_features}")
        if eps <= 0:
            raise ValueError(f"eps must be > 0 (it keeps the division finite), got {eps}")
        if momentum is not None and not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1] or None (cumulative average), got {momentum}")
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

    def _check_input(self, X: Tensor) -> None:
        if X.dim() != self.num_dims:
            raise ValueError(
                f"BatchNorm(num_dims={self.num_dims}) expects a {self.num_dims}-D input, got "
                f"shape {tuple(X.shape)}; build the layer with num_dims={X.dim()} or reshape")
        if X.shape[1] != self.num_features:
            raise ValueError(
                f"BatchNorm({self.num_features}) expects {self.num_features} channels in dim 1, "
                f"got shape {tuple(X.shape)}; set num_features to the previous layer's output size")

    def forward(self, X: Tensor) -> Tensor:
        self._check_input(X)
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


def dropout_layer(X: Tensor, dropout: float) -> Tensor:
    """Inverted dropout: zero each element with probability `dropout`, scale survivors.

    Dividing the survivors by (1 - dropout) keeps every element's expectation equal
    to its input, so nothing needs rescaling at test time (d2l's formulation).
    """
    if not 0.0 <= dropout <= 1.0:
        raise ValueError(f"dropout must be a probability in [0, 1], got {dropout}")
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
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability p must be in [0, 1], got {p}")
        self.p = p

    def forward(self, X: Tensor) -> Tensor:
        return dropout_layer(X, self.p) if self.training else X

    def extra_repr(self) -> str:
        return f"p={self.p}"
